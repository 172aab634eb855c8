"""After a full publish, the files it no longer writes leave public/: pages of articles no
longer stored (a story dropped from its file), feeds and pages of topics no longer configured,
archive pages past the current count."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from feeds import urls


def published_files(public: Path) -> list[Path]:
    """The files in public/ that publish writes and may remove: pages, feeds and archive
    pages under articles/, feeds/ and topics/ (not temporary files, not anything else)."""
    found = []
    for folder in urls.OUTPUT_FOLDERS:
        for parent, _dirs, names in os.walk(public / folder):
            found += [Path(parent, name).relative_to(public) for name in names
                      if name.endswith(urls.OUTPUT_SUFFIXES) and not name.startswith(".")]
    return found


def files_to_keep(article_ids: Iterable[str], feeds: Iterable[tuple[str, int]],
                  pages: Iterable[Path] = ()) -> set[Path]:
    """What a full publish writes: the pages of these articles, for each (slug, full archive
    pages) feed its Atom and JSON documents, archive pages and topic page, and these `pages`
    (the page of articles in no topic)."""
    keep = {urls.article_page_path(i) for i in article_ids} | set(pages)
    for slug, full_pages in feeds:
        keep |= {urls.feed_path(slug), urls.json_feed_path(slug)}
        keep |= {urls.archive_path(slug, page) for page in range(1, full_pages + 1)}
        if slug != urls.ALL:
            keep.add(urls.topic_page_path(slug))
    return keep


def prune(public: Path, present: Sequence[Path], keep: set[Path]) -> int:
    """Remove the files `present` (listed before the store was read, so a file written for
    an article committed meanwhile is not in it) that are not to `keep`; how many went."""
    removed = 0
    for relative in present:
        if relative not in keep:
            with contextlib.suppress(FileNotFoundError):
                (public / relative).unlink()
                removed += 1
            with contextlib.suppress(OSError):  # a topic's archive folder, once empty
                if relative.parent.parent == Path("feeds"):
                    (public / relative.parent).rmdir()
    return removed
