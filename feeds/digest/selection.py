"""What a digest holds: each subscriber's new items, in sections by topic, one entry per story."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feeds import urls
from feeds.config import Config
from feeds.models import Item, Subscriber
from feeds.store import Store

# Subscribers with the same topics and items share one result; a long run sees few distinct
# ones, and the bound keeps a daemon that runs for months from holding every one it saw.
SECTIONS_HELD = 1024


@dataclass(frozen=True, slots=True)
class DigestEntry:
    title: str
    url: str
    summary: str
    published: datetime
    sources: tuple[str, ...]  # who published the story's reports, oldest report first
    authors: tuple[str, ...] = ()  # the bylines of those reports that name a source too
    language: str | None = None  # the lead report's, when it differs from the site's


@dataclass(frozen=True, slots=True)
class DigestSection:
    slug: str
    title: str
    entries: tuple[DigestEntry, ...]


def entry_count(sections: Sequence[DigestSection]) -> int:
    return sum(len(s.entries) for s in sections)


class Selection:
    """Sections for subscribers, read from the store and shared by subscribers alike."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self._held: dict[tuple[Any, ...], list[DigestSection]] = {}

    def sections(self, subscriber: Subscriber, item_ids: Sequence[str]) -> list[DigestSection]:
        """Newest first, grouped by the subscriber's topics; an article in two of them shows
        once; the articles of one story are one entry listing all their sources. Subscribers
        with the same topics and items share one result."""
        key = (subscriber.topics, tuple(item_ids))
        held = self._held.get(key)
        if held is None:
            if len(self._held) > SECTIONS_HELD:
                self._held.clear()
            held = self._held[key] = self.build_sections(subscriber.topics, item_ids)
        return held

    def build_sections(self, topics: Sequence[str],
                       item_ids: Sequence[str]) -> list[DigestSection]:
        items = {i.id: i for i in self.store.items(ids=item_ids)}
        stories: dict[str, list[Item]] = {}
        for item in items.values():
            stories.setdefault(item.story_id or item.id, []).append(item)
        placed: set[str] = set()
        sections = []
        for slug in topics:
            topic = self.config.topics.get(slug)
            if topic is None:
                continue
            entries = []
            for members in stories.values():
                lead = max(members, key=lambda i: (i.published, i.updated, i.id))
                if lead.id in placed or not any(slug in m.topic_slugs for m in members):
                    continue
                placed.add(lead.id)
                entries.append(self._entry(lead, members))
            entries.sort(key=lambda e: e.published, reverse=True)
            if entries:
                sections.append(DigestSection(slug, topic.title, tuple(entries)))
        return sections

    def _entry(self, lead: Item, members: Sequence[Item]) -> DigestEntry:
        """The story as one entry: the newest report's title and summary, every report's
        source (an author stands in for a missing one) and the bylines beside them."""
        reports = sorted(members, key=lambda i: (i.published, i.id))
        sources = tuple(dict.fromkeys(name for m in reports if (name := m.source or m.author)))
        authors = tuple(dict.fromkeys(m.author for m in reports if m.author and m.source))
        site = self.config.site
        language = lead.language if lead.language != site.language else None
        return DigestEntry(lead.title, urls.article_url(site.base_url, lead.id), lead.summary,
                           lead.published, sources, authors, language)
