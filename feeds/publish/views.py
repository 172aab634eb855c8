"""What the HTML pages show of articles and topics: plain dicts for the templates, and the
bylines and link texts the feeds share with them."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from feeds import urls
from feeds.models import Byline, Item
from feeds.publish.catalog import FeedSpec

_SPACE = re.compile(r"\s+")


def byline(item: Item | Byline) -> str:
    """Who reported it: "author, source", or whichever of the two it has."""
    if item.author and item.source:
        return f"{item.author}, {item.source}"
    return item.author or item.source or ""


def link_text(other: Item | Byline) -> str:
    """How a link to another report of the story reads: who wrote it, else its title."""
    return byline(other) or other.title


def entry_language(item: Item, site_language: str) -> str | None:
    """The language to mark on an article's entry or page: its own, when known and not the
    site's (which the document as a whole declares)."""
    if item.language is None or item.language == site_language.split("-")[0].lower():
        return None
    return item.language


def is_http(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("http://", "https://"))


def _newest(item: Item) -> tuple[datetime, datetime, str]:
    return item.published, item.updated, item.id


def stories(items: Sequence[Item]) -> list[list[Item]]:
    """The items (newest first) as stories, newest first: the reports of one story together,
    its lead (the newest; of two as new, the one stored last: as in a digest) first, the
    others oldest first."""
    grouped: dict[str, list[Item]] = {}
    for item in items:
        grouped.setdefault(item.story_id or item.id, []).append(item)
    out = []
    for members in grouped.values():
        lead = max(members, key=_newest)
        out.append([lead, *sorted((m for m in members if m is not lead),
                                  key=_newest)])
    out.sort(key=lambda story: _newest(story[0]), reverse=True)
    return out


def story_view(base: str, reports: Sequence[Item], others: Mapping[str, Byline],
               site_language: str) -> dict[str, Any]:
    """A story as a topic page or the front page lists it: its lead report, with links to the
    story's other reports (those listed beside it, then the lead's nearest others)."""
    lead = reports[0]
    shown: list[Item | Byline] = [*reports[1:], *(
        others[o] for o in lead.related if o in others and all(o != m.id for m in reports))]
    texts = [link_text(other) for other in shown]
    # a source that sent several reports would read "Wire, Wire": those links add the title
    seen = Counter([byline(lead), *texts])
    linked = [(other.id, f"{text}: {other.title}" if seen[text] > 1 and text != other.title
               else text) for other, text in zip(shown, texts, strict=True)]
    return {"url": urls.article_url(base, lead.id), "title": lead.title,
            "summary": lead.summary, "published": lead.published, "by": byline(lead),
            "language": entry_language(lead, site_language),
            "others": [{"url": urls.article_url(base, o), "text": text} for o, text in linked]}


def topic_view(base: str, spec: FeedSpec, items: Sequence[Item],
               others: Mapping[str, Byline], site_language: str = "",
               limit: int | None = None) -> dict[str, Any]:
    """A topic and its newest stories (`limit` of them, or all)."""
    return {"slug": spec.slug, "title": spec.title.split(": ", 1)[-1],
            "description": spec.description, "page_url": spec.page_url,
            "atom_url": spec.atom_url, "json_url": spec.json_url,
            "entries": [story_view(base, story, others, site_language)
                        for story in stories(items)[:limit]]}


def summary_opens_body(summary: str, body: Sequence[str]) -> bool:
    """The summary is the body's own opening (an extractive summary of the lead sentences),
    so a page that prints the body need not print it first as well."""
    head = _SPACE.sub(" ", summary).strip().rstrip("…").rstrip(".").rstrip()
    if not head:
        return False
    opening = ""
    for paragraph in body:  # only as much of the body as the summary is long
        opening = _SPACE.sub(" ", f"{opening} {paragraph}").strip()
        if len(opening) >= len(head):
            break
    return opening.startswith(head)


def article_view(base: str, item: Item, related: Mapping[str, Byline],
                 spec_of: Mapping[str, FeedSpec], site_language: str) -> dict[str, Any]:
    """An article's own page: the whole text, its topics, the other reports of its story."""
    return {
        "url": urls.article_url(base, item.id), "title": item.title,
        "standfirst": item.standfirst, "published": item.published, "by": byline(item),
        "dateline": item.dateline, "captions": item.captions, "body": item.body,
        "summary": None if summary_opens_body(item.summary, item.body) else item.summary,
        "language": entry_language(item, site_language),
        "original_url": item.url if is_http(item.url) else None,
        "topics": [topic_view(base, spec_of[m.slug], [], {}) for m in item.topics
                   if m.slug in spec_of],
        "related": [{"url": urls.article_url(base, o), "title": related[o].title,
                     "by": byline(related[o])} for o in item.related if o in related],
    }
