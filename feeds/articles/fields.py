"""Field names that front matter and JSON articles use for the same thing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

from feeds.articles import clean
from feeds.articles.text import Meta

ALIASES = {
    "title": ("title", "headline", "name"),
    "author": ("author", "byline", "authors", "by"),
    "source": ("source", "publisher", "outlet", "site", "site_name"),
    "dateline": ("dateline", "location"),
    "published": ("published", "date", "published_at", "pubdate", "datePublished", "time",
                  "created"),
    "url": ("url", "link", "canonical", "permalink"),
    "topics": ("topics", "tags", "categories", "topic"),
    "captions": ("captions", "caption"),
    "retracted": ("retracted", "retraction", "takedown"),
}
BODY_KEYS = ("body", "content", "text", "article", "articleBody", "paragraphs", "story")


def _get(data: Mapping[str, Any], field: str) -> Any:
    for name in ALIASES[field]:
        if name in data and data[name] not in (None, "", []):
            return data[name]
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        parts = [_text(v) for v in value]
        return ", ".join(p for p in parts if p) or None
    if isinstance(value, Mapping):
        return _text(value.get("name"))
    text = clean.normalize(str(value)).replace("\n", " ").strip()
    return text or None


def _list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list):
        items = [_text(v) or "" for v in value]
    else:
        items = [_text(value) or ""]
    return tuple(i for i in items if i)


def _date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return clean.parse_date(value)
    if isinstance(value, date):
        return clean.parse_date(datetime.combine(value, time()))
    if isinstance(value, int | float) and 0 < value < 4_102_444_800:
        return clean.parse_date(datetime.fromtimestamp(value).astimezone())
    return clean.parse_date(_text(value))


def _retracted(value: Any) -> str | None:
    """`retracted: true` (or yes), or the reason itself; false, no or absent: not retracted."""
    if value is None or value is False:
        return None
    if value is True:
        return ""
    text = _text(value) or ""
    if text.lower() in ("false", "no", "0"):
        return None
    return "" if text.lower() in ("true", "yes", "1") else text


def meta_from_mapping(data: Mapping[str, Any]) -> Meta:
    return Meta(
        title=_text(_get(data, "title")),
        author=_text(_get(data, "author")),
        source=_text(_get(data, "source")),
        dateline=_text(_get(data, "dateline")),
        published=_date(_get(data, "published")),
        url=_text(_get(data, "url")),
        topics=tuple(t.lower() for t in _list(_get(data, "topics"))),
        captions=list(_list(_get(data, "captions"))),
        retracted=_retracted(_get(data, "retracted")),
    )
