"""What was taken down: RFC 6721 tombstones in the feed documents that listed a retracted
article, and the notices its page address (and a removed topic's addresses) answer with.

A retracted article keeps its place in the stored order (see feeds.store.retractions), so a
feed document covers the same stretch of articles with or without it, and its tombstone
stays in exactly the documents whose stretch holds it: in a current feed until as many newer
articles have pushed it out as the feed holds, in its archive page for good. Nothing here
depends on the build time, so a publish with no change still writes the same bytes.

The notices live under public/gone/, where the web server looks for one when an address
has no file, and answers with it and 410 Gone (feeds.web.static).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from lxml import etree

from feeds import urls
from feeds.config import Config
from feeds.publish.output import PublicFolder, PublishReport
from feeds.publish.pages import Pages
from feeds.store import Store
from feeds.store.retractions import Retraction
from feeds.urls import ALL

TOMBSTONES_NS = "http://purl.org/atompub/tombstones/1.0"


def add_deleted_entries(feed: Any, tombstones: Sequence[Retraction], base: str) -> None:
    """<at:deleted-entry> elements in a feed element, before its entries (RFC 4287's schema
    puts extension elements before atom:entry)."""
    for gone in tombstones:
        element = etree.SubElement(feed, f"{{{TOMBSTONES_NS}}}deleted-entry",
                                   ref=gone.entry_id, when=gone.retracted.isoformat())
        etree.SubElement(element, "link", rel="alternate", type="text/html",
                         href=urls.article_url(base, gone.article_id))
        if gone.reason:
            etree.SubElement(element, f"{{{TOMBSTONES_NS}}}comment").text = gone.reason


def newest_change(updated: datetime, tombstones: Sequence[Retraction]) -> datetime:
    """A feed's <updated> with its tombstones: a retraction is news to its readers."""
    return max([updated, *(t.retracted for t in tombstones)])


class Takedowns:
    """Per publish: the notices of retracted articles and removed topics written, the pages
    and feeds they replace removed, and the tombstones each feed document carries."""

    def __init__(self, config: Config, store: Store, pages: Pages,
                 public: PublicFolder) -> None:
        self.store = store
        self.pages = pages
        self.public = public
        self.entries = config.feeds.entries
        self.topic_titles = {slug: t.title for slug, t in config.topics.items()}
        self._retracted: dict[str, Retraction] | None = None  # None: not read yet
        self.removed_topics: dict[str, str] = {}  # slug -> the title it last had

    @property
    def retracted(self) -> dict[str, Retraction]:
        """What is taken down, as the last `write_notices` (or archive page) read it."""
        return self._retracted or {}

    def write_notices(self, changed: set[str] | None, report: PublishReport) -> None:
        """Before the article pages: read what is taken down, write its notices (all of
        them on a full publish, else the missing ones and the changed articles'), and
        remove what they replace and the notices of what came back."""
        with self.store.read() as tx:
            known = tx.known_topics()
            self._retracted = {r.article_id: r for r in tx.retractions()}
        if any(known.get(slug) != title for slug, title in self.topic_titles.items()):
            with self.store.write(durable=False) as wtx:  # a crash loses only this record,
                known = wtx.remember_topics(self.topic_titles)  # made again next time
        self.removed_topics = {s: t for s, t in known.items() if s not in self.topic_titles}
        root = self.public.root
        for item_id, gone in self.retracted.items():
            path = urls.gone_article_path(item_id)
            if changed is None or item_id in changed or not self.public.exists(path):
                self.public.write(path, self._render("article", gone.title, gone.retracted,
                                                     gone.reason), report)
        for slug, title in self.removed_topics.items():
            path = urls.gone_topic_path(slug)
            if changed is None or not self.public.exists(path):
                self.public.write(path, self._render("topic", title, None, ""), report)
        self.public.commit()  # the notices first: an address never answers 404 meanwhile
        for item_id in self.retracted:
            report.removed += _unlink(root / urls.article_page_path(item_id))
        for slug in self.removed_topics:
            for path in (urls.feed_path(slug), urls.json_feed_path(slug),
                         urls.topic_page_path(slug)):
                report.removed += _unlink(root / path)
            shutil.rmtree(root / urls.archive_path(slug, 1).parent, ignore_errors=True)
        for folder, current in ((urls.gone_article_path("x").parent, set(self.retracted)),
                                (urls.gone_topic_path("x").parent, set(self.removed_topics))):
            with contextlib.suppress(FileNotFoundError):
                for name in os.listdir(root / folder):
                    if name.endswith(".html") and name.removesuffix(".html") not in current:
                        report.removed += _unlink(root / folder / name)

    def notice_paths(self) -> set[Any]:
        """The notices a full publish keeps (for feeds.publish.prune)."""
        return ({urls.gone_article_path(i) for i in self.retracted}
                | {urls.gone_topic_path(s) for s in self.removed_topics})

    def in_feed(self, slug: str) -> list[Retraction]:
        """The tombstones of a current feed: the retracted among its newest stretch."""
        if not self.retracted:
            return []
        with self.store.read() as tx:
            return tx.retracted_in(None if slug == ALL else slug, self.entries,
                                   newest_first=True)

    def in_archive(self, slug: str, page: int) -> list[Retraction]:
        """The tombstones of an archive page (1 the oldest). Archive pages may be written in
        a helper process, which read nothing before: it asks once whether anything was
        retracted, and a page's own stretch only when something was."""
        with self.store.read() as tx:
            if self._retracted is None:
                self._retracted = {r.article_id: r for r in tx.retractions()}
            if not self._retracted:
                return []
            return tx.retracted_in(None if slug == ALL else slug, self.entries,
                                   (page - 1) * self.entries)

    def _render(self, kind: str, title: str, when: datetime | None, reason: str) -> bytes:
        return self.pages.render("gone.html", gone={"kind": kind, "title": title,
                                                    "when": when, "reason": reason})


def _unlink(path: os.PathLike[str]) -> int:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return 0
    return 1
