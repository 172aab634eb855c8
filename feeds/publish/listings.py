"""What the feeds and pages list, read from the store: items, and the other reports of their
stories. Items read before and unchanged since are reused, not decoded again."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from feeds.config import Config
from feeds.models import Byline, Item
from feeds.publish.catalog import FeedSpec
from feeds.store import Store
from feeds.urls import ALL

REUSED_ITEMS = 2000  # items kept for reuse between reads, at most


class Listings:
    def __init__(self, config: Config, store: Store) -> None:
        self.store = store
        self.entries = config.feeds.entries
        self._seen: dict[str, Item] = {}  # the items of the last reads

    def forget(self) -> None:
        self._seen.clear()

    def items(self, **query: Any) -> list[Item]:
        """Store.items, reusing the text of items read before that have not changed."""
        found = self.store.items(reuse=self._seen, **query)
        if len(self._seen) > REUSED_ITEMS:
            self._seen.clear()
        self._seen.update((item.id, item) for item in found)
        return found

    def related(self, items: Iterable[Item],
                known: Mapping[str, Byline] | None = None) -> dict[str, Byline]:
        """The other reports of these items' stories (those not `known` already)."""
        wanted = {other for item in items for other in item.related} - set(known or ())
        return self.store.bylines(wanted)

    def feed_items(self, spec: FeedSpec, titles: dict[str, Byline]) -> list[Item]:
        """A feed's newest entries, newest first; their stories' other reports go in
        `titles`."""
        items = self.items(topic=None if spec.slug == ALL else spec.slug,
                           limit=self.entries, order="created")
        return self._listed(items, titles)

    def other_items(self, topics: Iterable[str], titles: dict[str, Byline]) -> list[Item]:
        """The newest articles in none of `topics`, newest first, as `feed_items`."""
        items = self.store.items_outside(topics, limit=self.entries, reuse=self._seen)
        if len(self._seen) > REUSED_ITEMS:
            self._seen.clear()
        self._seen.update((item.id, item) for item in items)
        return self._listed(items, titles)

    def _listed(self, items: list[Item], titles: dict[str, Byline]) -> list[Item]:
        items.sort(key=lambda i: (i.published, i.updated, i.id), reverse=True)
        titles.update(self.related(items, known=titles))
        return items
