"""An article's full text as HTML, for the `content` of Atom and JSON Feed entries."""

from __future__ import annotations

import html
from datetime import datetime

from feeds.models import Item

CACHED_VERSIONS = 5000  # article versions whose HTML is kept between publishes, at most


class ArticleHtml:
    """The article as HTML for feeds. Built only from escaped plain text (articles are stored
    as text; their HTML, if any, was discarded at parse time), so nothing in it can be markup
    the author did not write as text. Kept per article version: each feed that lists an
    article, and the next publish, reuse it."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, datetime], str] = {}

    def of(self, item: Item) -> str:
        key = (item.id, item.updated)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        parts = []
        if item.standfirst:
            parts.append(f"<p><em>{html.escape(item.standfirst, quote=False)}</em></p>")
        parts.extend(f"<figure><figcaption>{html.escape(c, quote=False)}</figcaption></figure>"
                     for c in item.captions)
        # Parsed text holds no NUL (articles.clean strips it), so NUL can stand for the
        # paragraph breaks while the whole body is escaped in one call, not one per paragraph.
        body = html.escape("\x00".join(item.body), quote=False)
        parts.append("<p>" + body.replace("\x00", "</p>\n<p>") + "</p>")
        content = "\n".join(parts)
        if len(self._cache) > CACHED_VERSIONS:
            self._cache.clear()
        self._cache[key] = content
        return content

    def clear(self) -> None:
        self._cache.clear()
