"""RFC 5005 archive pages: a feed's older entries, in pages of `feeds.entries` articles in the
order they were added (feeds/<slug>/archive-<n>.atom, 1 the oldest). Every page but the
newest is full, and a full page never changes unless one of its own articles is edited."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from feeds import urls
from feeds.config import Config
from feeds.publish.atom import AtomBuilder
from feeds.publish.catalog import FeedSpec
from feeds.publish.listings import Listings
from feeds.publish.output import PublicFolder, PublishReport
from feeds.publish.sharing import ArchivePages
from feeds.publish.tombstones import Takedowns
from feeds.store import Store
from feeds.urls import ALL

ARCHIVE_READ_PAGES = 20  # archive pages read with one query (memory: 20 x feeds.entries items)


class Archives:
    def __init__(self, config: Config, store: Store, listings: Listings, atom: AtomBuilder,
                 public: PublicFolder, takedowns: Takedowns) -> None:
        self.base = config.site.base_url
        self.size = config.feeds.entries
        self.store = store
        self.listings = listings
        self.atom = atom
        self.public = public
        self.takedowns = takedowns

    def full_pages(self, spec: FeedSpec) -> int:
        """The feed's archive pages: every full page of entries but the newest."""
        total = self.store.count_items(None if spec.slug == ALL else spec.slug)
        return total // self.size if total > self.size else 0

    def newest_url(self, spec: FeedSpec, full_pages: int) -> str | None:
        """The archive page the current feed links to as prev-archive (None: no pages)."""
        return urls.archive_url(self.base, spec.slug, full_pages) if full_pages else None

    def pages_to_write(self, spec: FeedSpec, full_pages: int,
                       changed: set[str] | None) -> list[ArchivePages]:
        """The pages a publish writes (all of them when `changed` is None), as runs of
        consecutive pages: a full page changes only when it is new or one of its articles
        was edited."""
        pages = set(range(1, full_pages + 1))
        if changed is not None:
            folder = self.public.root / urls.archive_path(spec.slug, 1).parent
            try:  # one directory listing, not a stat per page
                present = set(os.listdir(folder))
            except FileNotFoundError:
                present = set()
            missing = {p for p in pages if urls.archive_path(spec.slug, p).name not in present}
            pages = missing | self._pages_holding(spec, changed, full_pages)
        return [ArchivePages(spec.slug, first, count)
                for first, count in consecutive_runs(sorted(pages), ARCHIVE_READ_PAGES)]

    def write_run(self, spec: FeedSpec, first: int, count: int, report: PublishReport) -> None:
        """Archive pages first .. first + count - 1 of a feed. Consecutive pages are read
        together: one OFFSET query per run, not per page, so a first publish of a big store
        is not quadratic in its size."""
        size = self.size
        run = self.listings.items(topic=None if spec.slug == ALL else spec.slug,
                                  limit=size * count, offset=(first - 1) * size,
                                  order="created", oldest_first=True)
        for page in range(first, first + count):
            page_items = run[(page - first) * size:(page - first + 1) * size]
            page_items.reverse()
            prev = urls.archive_url(self.base, spec.slug, page - 1) if page > 1 else None
            self.public.write(urls.archive_path(spec.slug, page), self.atom.build(
                spec, page_items, archive_page=page, prev_archive=prev,
                tombstones=self.takedowns.in_archive(spec.slug, page)), report)

    def _pages_holding(self, spec: FeedSpec, changed: set[str], full_pages: int) -> set[int]:
        topic = None if spec.slug == ALL else spec.slug
        positions = self.store.positions(changed, topic=topic)
        return {pos // self.size + 1 for pos in positions.values()
                if pos // self.size + 1 <= full_pages}


def consecutive_runs(pages: Sequence[int], longest: int) -> Iterator[tuple[int, int]]:
    """Sorted page numbers as (first, count) runs of consecutive pages, at most `longest`."""
    index = 0
    while index < len(pages):
        count = 1
        while (index + count < len(pages) and count < longest
               and pages[index + count] == pages[index] + count):
            count += 1
        yield pages[index], count
        index += count
