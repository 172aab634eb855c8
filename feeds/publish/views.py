"""What the HTML pages show of articles and topics: plain dicts for the templates, and the
bylines and link texts the feeds share with them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from feeds import urls
from feeds.models import Byline, Item
from feeds.publish.catalog import FeedSpec


def byline(item: Item | Byline) -> str:
    """Who reported it: "author, source", or whichever of the two it has."""
    if item.author and item.source:
        return f"{item.author}, {item.source}"
    return item.author or item.source or ""


def link_text(other: Byline) -> str:
    """How a link to another report of the story reads: who wrote it, else its title."""
    return byline(other) or other.title


def is_http(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("http://", "https://"))


def item_view(base: str, item: Item, others: Mapping[str, Byline]) -> dict[str, Any]:
    """An article as a topic page or the front page lists it."""
    return {"url": urls.article_url(base, item.id), "title": item.title,
            "summary": item.summary, "published": item.published, "by": byline(item),
            "others": [link_text(others[o]) for o in item.related if o in others]}


def topic_view(base: str, spec: FeedSpec, items: Sequence[Item],
               others: Mapping[str, Byline]) -> dict[str, Any]:
    return {"slug": spec.slug, "title": spec.title.split(": ", 1)[-1],
            "description": spec.description, "page_url": spec.page_url,
            "atom_url": spec.atom_url, "json_url": spec.json_url,
            "entries": [item_view(base, i, others) for i in items]}


def article_view(base: str, item: Item, related: Mapping[str, Byline],
                 spec_of: Mapping[str, FeedSpec]) -> dict[str, Any]:
    """An article's own page: the whole text, its topics, the other reports of its story."""
    return {
        "url": urls.article_url(base, item.id), "title": item.title,
        "standfirst": item.standfirst, "published": item.published, "by": byline(item),
        "dateline": item.dateline, "summary": item.summary, "captions": item.captions,
        "body": item.body, "original_url": item.url if is_http(item.url) else None,
        "topics": [topic_view(base, spec_of[m.slug], [], {}) for m in item.topics
                   if m.slug in spec_of],
        "related": [{"url": urls.article_url(base, o), "title": related[o].title,
                     "by": byline(related[o])} for o in item.related if o in related],
    }
