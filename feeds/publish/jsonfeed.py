"""JSON Feed 1.1 (jsonfeed.org), beside each Atom feed, with the same entries."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from feeds import urls
from feeds.config import SiteConfig
from feeds.models import Item
from feeds.publish.catalog import FeedSpec
from feeds.publish.content import ArticleHtml
from feeds.publish.views import byline, entry_language


def json_feed(site: SiteConfig, spec: FeedSpec, items: Sequence[Item], content: ArticleHtml,
              topic_titles: Mapping[str, str]) -> bytes:
    data = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": spec.page_url,
        "feed_url": spec.json_url,
        "description": spec.description,
        "language": site.language,
        "authors": [{"name": site.author}],
        "items": [json_item(site, item, content, topic_titles) for item in items],
    }
    return (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


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
