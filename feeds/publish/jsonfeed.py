"""JSON Feed 1.1 (jsonfeed.org), beside each Atom feed, with the same entries."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from feeds import urls
from feeds.config import SiteConfig
from feeds.models import Item
from feeds.publish.catalog import FeedSpec
from feeds.publish.content import ArticleHtml


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
        "items": [{
            "id": item.entry_id,
            "url": urls.article_url(site.base_url, item.id),
            "title": item.title,
            "summary": item.summary,
            "content_html": content.of(item),
            "date_published": item.published.isoformat(),
            "date_modified": item.updated.isoformat(),
            "authors": [{"name": item.author or item.source or site.author}],
            "tags": [topic_titles[m.slug] for m in item.topics if m.slug in topic_titles],
        } for item in items],
    }
    return (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
