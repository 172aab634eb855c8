"""Files to articles: `parse_file(path, data, received)` picks a reader by extension.

Every reader is a pure function from text (and the file's arrival time) to `Article`s; every
failure becomes a ParseError with a reason a person can act on. Nothing here touches the disk,
the store or the topics.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePath
from typing import Protocol

from feeds.articles.decode import DecodeError, decode
from feeds.articles.html import HTMLError, parse_html
from feeds.articles.json import JSONArticleError, parse_json
from feeds.articles.markdown import FrontMatterError, parse_markdown
from feeds.articles.text import parse_text
from feeds.errors import ParseError
from feeds.models import Article

__all__ = ["EXTENSIONS", "is_candidate", "parse_file"]


class Reader(Protocol):
    def __call__(self, text: str, *, received: datetime | None = None) -> list[Article]: ...


READERS: dict[str, Reader] = {
    ".txt": parse_text,
    ".text": parse_text,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".json": parse_json,
    ".html": parse_html,
    ".htm": parse_html,
}
EXTENSIONS = frozenset(READERS)
_TEMPORARY_SUFFIXES = ("~", ".tmp", ".part", ".swp", ".swx", ".crdownload", ".partial")


def is_candidate(name: str) -> bool:
    """Hidden and temporary names are never read: producers write those, then rename."""
    lower = name.lower()
    if name.startswith((".", "#", "~$")) or lower.endswith(_TEMPORARY_SUFFIXES):
        return False
    return PurePath(lower).suffix in EXTENSIONS


def parse_file(path: str, data: bytes, received: datetime | None = None) -> list[Article]:
    """Parse one file's bytes; `path` picks the reader and names the file in errors.
    `received` (the file's mtime) gives the year to a dateline's "March 3"; without it such a
    date is not read."""
    suffix = PurePath(path).suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        raise ParseError(path, f"unsupported file type {suffix or '(none)'}; "
                               f"expected one of {', '.join(sorted(EXTENSIONS))}")
    try:
        text, _encoding = decode(data)
        articles = reader(text, received=received)
    except (DecodeError, FrontMatterError, JSONArticleError, HTMLError) as exc:
        raise ParseError(path, str(exc)) from None
    except RecursionError:
        raise ParseError(path, "structure nested too deeply to read") from None
    if not articles:
        raise ParseError(path, "no usable text: nothing that reads as an article body")
    return articles
