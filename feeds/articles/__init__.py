"""Files to articles: `parse_file(path, data, received)` picks a reader by extension.

Every reader is a pure function from text (and the file's arrival time) to `Article`s; every
failure becomes a ParseError with a reason a person can act on. Nothing here touches the disk,
the store or the topics.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import Protocol

from feeds.articles.decode import DecodeError, decode
from feeds.articles.html import HTMLError, parse_html
from feeds.articles.json import JSONArticleError, parse_json
from feeds.articles.languages import detect_language
from feeds.articles.markdown import FrontMatterError, parse_markdown
from feeds.articles.text import parse_text
from feeds.errors import ParseError
from feeds.models import Article

__all__ = ["CLOCK_SKEW", "EXTENSIONS", "is_candidate", "parse_file", "skip_reason"]


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
# How far a timestamp may run ahead of the file's arrival before it is a mistake worth a note:
# the producer's clock and ours differ by seconds to minutes.
CLOCK_SKEW = timedelta(minutes=10)
# A day without a time of day is midnight UTC, which the day's first time zone (UTC+14)
# reaches 14 hours early: copy filed there on its 3 December arrives on our 2 December.
_DAY_SKEW = timedelta(hours=14)
_RETRACTED = re.compile(r"\A\s*RETRACTED(?:[ \t]*:[ \t]*([^\n]*))?[ \t]*(?:\n|\Z)")


def _is_ignored(name: str) -> bool:
    """Hidden and temporary names are never read: producers write those, then rename."""
    return name.startswith((".", "#", "~$")) or name.lower().endswith(_TEMPORARY_SUFFIXES)


def is_candidate(name: str) -> bool:
    return not _is_ignored(name) and PurePath(name.lower()).suffix in EXTENSIONS


def skip_reason(name: str) -> str | None:
    """Why a file in the inbox is not read (an unsupported type), or None: for the files
    read, and for hidden and temporary names, which are ignored without a word."""
    if _is_ignored(name) or is_candidate(name):
        return None
    return _unsupported(PurePath(name.lower()).suffix)


def _unsupported(suffix: str) -> str:
    return (f"unsupported file type {suffix or '(none)'}; "
            f"expected one of {', '.join(sorted(EXTENSIONS))}")


def parse_file(path: str, data: bytes, received: datetime | None = None) -> list[Article]:
    """Parse one file's bytes; `path` picks the reader and names the file in errors.
    `received` (the file's mtime) gives the year to a dateline's "March 3"; without it such a
    date is not read."""
    suffix = PurePath(path).suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        raise ParseError(path, _unsupported(suffix))
    try:
        text, _encoding = decode(data)
        retracted, text = retraction_marker(text)
        articles = reader(text, received=received)
    except (DecodeError, FrontMatterError, JSONArticleError, HTMLError) as exc:
        raise ParseError(path, str(exc)) from None
    except RecursionError:
        raise ParseError(path, "structure nested too deeply to read") from None
    if not articles:
        hint = (" (a RETRACTED line keeps the article's text below it; `feeds retract PATH` "
                "takes down what a file held)" if retracted is not None else "")
        raise ParseError(path, "no usable text: nothing that reads as an article body" + hint)
    if retracted is not None:
        articles = [replace(article, retracted=retracted) for article in articles]
    return [_settle(article, received) for article in articles]


def retraction_marker(text: str) -> tuple[str | None, str]:
    """An editor's takedown: a first line `RETRACTED` or `RETRACTED: reason` (in capitals, in
    any format) retracts every article of the file. The reason ("" for none) and the text
    without that line; (None, text) when there is no such line."""
    found = _RETRACTED.match(text)
    if found is None:
        return None, text
    return (found.group(1) or "").strip(), text[found.end():]


def _settle(article: Article, received: datetime | None) -> Article:
    """What every reader leaves to the end: the language, and a date kept from passing the
    file's arrival. An article cannot have come out after its file arrived, and a published
    date later than the feed's updated breaks readers that sort or mark new by it; the date
    becomes the arrival time and the note says so (see docs/behaviour.md)."""
    published, notes = article.published, article.notes
    arrival = received.astimezone(UTC) if received is not None else None
    if published is not None and arrival is not None and published > arrival:
        bare_day = published.timetz() == datetime.min.time().replace(tzinfo=UTC)
        if published - arrival > (_DAY_SKEW if bare_day else CLOCK_SKEW):
            when = f"{published:%Y-%m-%d}" if bare_day else f"{published:%Y-%m-%d %H:%M} UTC"
            notes = (*notes, f"dated {when}, after the file arrived "
                             f"({arrival:%Y-%m-%d %H:%M} UTC): published as of its arrival "
                             f"instead")
        published = arrival
    return replace(article, published=published, notes=notes,
                   language=detect_language(article))
