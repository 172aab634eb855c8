"""JSON Feed 1.1 (jsonfeed.org), beside each Atom feed, with the same entries."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from feeds import urls
from feeds.config import SiteConfig
from feeds.models import Item
from feeds.publish.catalog import FeedSpec
from feeds.publish.content import CACHED_VERSIONS, ArticleHtml
from feeds.publish.views import byline, entry_language

# An item sits two levels deep in the document ({"items": [{...}]}), one space per level.
_ITEM_INDENT = "  "


class JsonFeeds:
    """JSON Feed documents, each item's text kept per article version: the indented encoder
    is Python's slow one, and the feeds of a publish (and the next publish) list mostly the
    same items. The bytes are exactly those of the whole document dumped at once."""

    def __init__(self, site: SiteConfig, content: ArticleHtml,
                 topic_titles: Mapping[str, str]) -> None:
        self.site = site
        self.content = content
        self.topic_titles = topic_titles
        self._items: dict[tuple[str, datetime, str | None, tuple[str, ...]], str] = {}

    def forget(self) -> None:
        self._items.clear()

    def build(self, spec: FeedSpec, items: Sequence[Item]) -> bytes:
        data = _feed_fields(self.site, spec)
        data["items"] = []
        head = _dump(data)  # ends with the empty list of items, the last key
        if not items:
            return (head + "\n").encode("utf-8")
        body = ",\n".join(self._item_text(item) for item in items)
        return (head.removesuffix("[]\n}") + "[\n" + body + "\n ]\n}\n").encode("utf-8")

    def _item_text(self, item: Item) -> str:
        key = (item.id, item.updated, item.language, tuple(m.slug for m in item.topics))
        text = self._items.get(key)
        if text is None:
            lines = _dump(json_item(self.site, item, self.content, self.topic_titles))
            # JSON strings hold no raw line break, so every line break is the encoder's
            text = _ITEM_INDENT + lines.replace("\n", "\n" + _ITEM_INDENT)
            if len(self._items) > CACHED_VERSIONS:
                self._items.clear()
            self._items[key] = text
        return text


def _feed_fields(site: SiteConfig, spec: FeedSpec) -> dict[str, Any]:
    return {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": spec.page_url,
        "feed_url": spec.json_url,
        "description": spec.description,
        "language": site.language,
        "authors": [{"name": site.author}],
    }


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1)


def json_item(site: SiteConfig, item: Item, content: ArticleHtml,
              topic_titles: Mapping[str, str]) -> dict[str, Any]:
    """One item; without a byline it has no `authors` (it has the feed's: JSON Feed 1.1), and
    a `language` only when not the feed's."""
    data: dict[str, Any] = {
        "id": item.entry_id,
        "url": urls.article_url(site.base_url, item.id),
        "title": item.title,
        "summary": item.summary,
        "content_html": content.of(item),
        "date_published": item.published.isoformat(),
        "date_modified": item.updated.isoformat(),
    }
    if by := byline(item):
        data["authors"] = [{"name": by}]
    if language := entry_language(item, site.language):
        data["language"] = language
    data["tags"] = [topic_titles[m.slug] for m in item.topics if m.slug in topic_titles]
    return data
