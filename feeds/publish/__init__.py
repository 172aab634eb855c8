"""Store -> public/: Atom feeds (feedgen), JSON Feed 1.1, OPML and HTML pages (Jinja2).

The only writer of public/. Every file is written atomically (temp file, fsync, rename) and only
when its bytes change, so publishing twice with no change leaves every file (and its mtime)
as it was. Nothing depends on the build time: a feed's <updated> is its newest entry's.

Each feed document holds the `feeds.entries` most recently added articles, newest first. Older
ones stay reachable through RFC 5005 archive documents (see feeds.publish.archives).

This module holds the order of a publish; each step lives in its own module: article pages
and topic pages (pages), feeds (atom, jsonfeed), archive pages (archives), the files no longer
written (prune), and the jobs a big publish shares with helper processes (sharing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

from feeds import urls
from feeds.config import Config
from feeds.models import Byline, Item
from feeds.publish.archives import Archives
from feeds.publish.atom import AtomBuilder
from feeds.publish.catalog import FeedSpec, feed_specs
from feeds.publish.content import ArticleHtml
from feeds.publish.jsonfeed import JsonFeeds
from feeds.publish.listings import Listings
from feeds.publish.output import PublicFolder, PublishReport, Served
from feeds.publish.pages import MAX_PAGE_DELAY, Pages, PutOffPages
from feeds.publish.prune import files_to_keep, prune, published_files
from feeds.publish.sharing import (
    SHARED_ARCHIVE_MIN,
    SHARED_ARTICLES_MIN,
    ArticlePages,
    Job,
    JobSharing,
    article_jobs,
)
from feeds.publish.tombstones import Takedowns
from feeds.store import Store
from feeds.urls import ALL
from feeds.websub import HubNotifier

__all__ = ["ALL", "MAX_PAGE_DELAY", "FeedSpec", "HubNotifier", "PublishReport", "Publisher"]

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, config: Config, store: Store, *, helpers: int = 0,
                 served: Served | None = None) -> None:
        """`helpers`: worker processes that render article pages beside this one when a
        publish has many (a backfill, a full rebuild); only for the `feeds` command (see
        feeds.workers). `served`: told of the new versions of files the server holds as
        each is put in place (`feeds run`)."""
        self.config = config
        self.store = store
        self.specs = feed_specs(config)
        self.spec_of = {spec.slug: spec for spec in self.specs}
        self.hub = HubNotifier(config.websub.hub) if config.websub.hub else None
        self.content = ArticleHtml()
        self.topic_titles = {slug: t.title for slug, t in config.topics.items()}
        # files are written staged, made durable and put in place together (see feeds.files)
        self.public = PublicFolder(config.paths.public, served)
        self.listings = Listings(config, store)
        self.atom_builder = AtomBuilder(config, self.content)
        self.json_feeds = JsonFeeds(config.site, self.content, self.topic_titles)
        self.pages = Pages(config, self.specs, self.listings, self.public)
        self.takedowns = Takedowns(config, store, self.pages, self.public)
        self.archives = Archives(config, store, self.listings, self.atom_builder, self.public,
                                 self.takedowns)
        self.sharing = JobSharing(config, helpers)
        self._put_off: PutOffPages | None = None  # pages a paused publish left

    def close(self) -> None:
        """Wait for outstanding hub pings (they retry for a few seconds at most)."""
        if self.hub is not None:
            self.hub.close()
        self.public.close()
        self.sharing.close()

    def atom(self, spec: FeedSpec, items: Sequence[Item], *,
             related: Mapping[str, Byline] | None = None) -> bytes:
        """A current feed's Atom document of `items` (newest first)."""
        if related is None:
            related = self.listings.related(items)
        return self.atom_builder.build(spec, items, related=related)

    def json_feed(self, spec: FeedSpec, items: Sequence[Item]) -> bytes:
        return self.json_feeds.build(spec, items)

    def publish(self, changed: Iterable[str] | None = None,
                topics: Iterable[str] | None = None, *,
                pause: Callable[[], bool] | None = None) -> PublishReport:
        """Everything (changed=None), or what the changed article ids touch. `topics`, when
        known, limits the feeds rebuilt to those topics and "all" (new articles: the topics
        they are in; an edit may have left a topic, so edits pass None). Daemons sharing a
        database and public/ publish one at a time; each writes what the store holds, so
        the files are the same whoever writes them.

        `pause`: asked between the pages that come after the feeds (story siblings' pages,
        topic pages, the front page); when it says yes, they are left `pending` for the next
        publish or `finish()`, so a file that arrives meanwhile is not kept waiting for them.
        Article pages and feeds are always written in full."""
        self.pages.templates.reload_edited()
        with self.store.exclusive("publish"), self.public.committed():
            return self._publish(changed, topics, pause)

    def forget(self) -> None:
        """Drop what earlier publishes built (entries, content, decoded items)."""
        self.content.clear()
        self.atom_builder.forget()
        self.json_feeds.forget()
        self.listings.forget()

    @property
    def pending(self) -> bool:
        """Pages a paused publish left to write."""
        return self._put_off is not None

    def finish(self, pause: Callable[[], bool] | None = None) -> PublishReport:
        """Write the pages a paused publish left; `pause` as in `publish`: a file that
        arrives meanwhile is not kept waiting for them either (they stay `pending`)."""
        report = PublishReport()
        with self.store.exclusive("publish"), self.public.committed():
            pages, self._put_off = self._put_off, None
            if pages is not None:
                self._put_off = self.pages.write_listings(pages, {}, {}, report, pause)
                log.info("publish of put-off pages finished written=%d unchanged=%d%s",
                         report.written, report.unchanged,
                         " (pages pending)" if self.pending else "")
        return report

    def do_job(self, job: Job, report: PublishReport) -> None:
        """One job of a big publish (see feeds.publish.sharing), here."""
        if isinstance(job, ArticlePages):
            self.pages.write_articles(self.listings.items(ids=set(job.ids)), report)
        else:
            self.archives.write_run(self.spec_of[job.slug], job.first, job.pages, report)

    def _publish(self, changed: Iterable[str] | None, topics: Iterable[str] | None,
                 pause: Callable[[], bool] | None) -> PublishReport:
        started, clock = datetime.now(UTC), time.perf_counter()
        report = PublishReport()
        changed_ids = None if changed is None else set(changed)
        wanted = None if topics is None or changed_ids is None else {ALL, *topics}
        owed, self._put_off = self._put_off, None
        if changed_ids is None:
            owed = None  # everything is written below
        if (changed_ids is not None and not changed_ids and owed is None
                and self.public.exists(urls.INDEX)):
            return report
        # listed before the store is read, so a file another daemon writes meanwhile is kept
        present = published_files(self.public.root) if changed_ids is None else None
        with self.store.reads_together():  # one read transaction, not one per read
            current, titles, siblings = self._write_feeds(changed_ids, wanted, report)
        self.atom_builder.drop_unused_entries(2 * len(self.specs) * self.config.feeds.entries)
        # Then the pages that list articles: they may wait for a file that is arriving.
        pages = PutOffPages(siblings, None if wanted is None else set(wanted))
        if owed is not None:
            pages = pages.merge(owed)
        self._put_off = self.pages.write_listings(pages, current, titles, report, pause)
        self.public.commit()
        # after the feeds: recording which versions the pages show never delays them
        self.store.pages_written(self.pages.take_versions())
        if present is not None:
            keep = files_to_keep(self.store.article_ids(), [
                (spec.slug, self.archives.full_pages(spec)) for spec in self.specs],
                [self.pages.other_path])
            keep |= self.takedowns.notice_paths()
            report.removed += prune(self.public.root, present, keep)
        if self.hub is not None:
            self.hub.notify(report.changed_feeds)
        report.seconds = time.perf_counter() - clock
        self.store.record_run("publish", started, datetime.now(UTC), True,
                              {"written": report.written, "unchanged": report.unchanged,
                               "seconds": round(report.seconds, 3)})
        log.info("publish finished written=%d unchanged=%d%s seconds=%.3f%s", report.written,
                 report.unchanged, f" removed={report.removed}" if report.removed else "",
                 report.seconds, " (pages pending)" if self.pending else "")
        return report

    def _write_feeds(self, changed_ids: set[str] | None, wanted: set[str] | None,
                     report: PublishReport
                     ) -> tuple[dict[str, list[Item]], dict[str, Byline], set[str]]:
        """The notices of what was taken down, the changed articles' pages, then the feeds
        (a feed never links to a page not written yet) and their archive pages. Returns each
        feed's items, the titles of their stories' other reports, and the other reports
        whose pages list the changed articles."""
        self.takedowns.write_notices(changed_ids, report)
        self._write_articles(changed_ids, report)
        current: dict[str, list[Item]] = {}
        titles: dict[str, Byline] = {}
        archive_jobs: list[Job] = []
        for spec in self.specs:  # each feed goes out as soon as it is read ("all" first)
            if self.public.needs_rebuild(spec.slug, wanted, urls.feed_path(spec.slug)):
                current[spec.slug] = self.listings.feed_items(spec, titles)
                archive_jobs += self._write_feed(spec, current[spec.slug], report,
                                                 changed_ids, titles)
        self._run_jobs(archive_jobs, report, SHARED_ARCHIVE_MIN)  # then the archive pages
        # the other reports whose pages list the changed articles (see Store.neighbours):
        # looked up after the feeds, which do not need them
        siblings = set() if changed_ids is None else self.store.neighbours(changed_ids)
        return current, titles, siblings

    def _write_articles(self, changed: set[str] | None, report: PublishReport) -> None:
        """The pages of the changed articles (all of them when None)."""
        ids = sorted(self.store.article_ids() if changed is None else changed)
        self._run_jobs(article_jobs(ids), report, SHARED_ARTICLES_MIN)

    def _write_feed(self, spec: FeedSpec, items: list[Item], report: PublishReport,
                    changed: set[str] | None, related: dict[str, Byline]) -> list[Job]:
        """The feed (Atom and JSON), in place when this returns; the archive pages to write
        after it."""
        full_pages = self.archives.full_pages(spec)
        document = self.atom_builder.build(spec, items, related=related,
                                    prev_archive=self.archives.newest_url(spec, full_pages),
                                    tombstones=self.takedowns.in_feed(spec.slug))
        if self.public.write(urls.feed_path(spec.slug), document, report):
            report.changed_feeds.append(spec.atom_url)
        self.public.commit()  # the feed goes out now; its JSON twin and archive pages follow
        self.public.write(urls.json_feed_path(spec.slug), self.json_feed(spec, items), report)
        return list(self.archives.pages_to_write(spec, full_pages, changed))

    def _run_jobs(self, jobs: Sequence[Job], report: PublishReport, share_from: int) -> None:
        self.sharing.run(jobs, report, share_from, self.do_job, self.public.commit,
                         self.pages.versions)
