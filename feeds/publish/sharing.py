"""Sharing a big publish (a backfill, a full rebuild) with worker processes: its article and
archive pages are cut into jobs, which this process and the helpers do at once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from datetime import datetime

from feeds.config import Config
from feeds.errors import PublishError
from feeds.publish.output import PublishReport
from feeds.store import Store
from feeds.workers import worker_pool

log = logging.getLogger(__name__)

# A helper spends about a second of CPU starting (spawned, it imports the publisher and the
# store): a publish of 1,000 article pages, about a second and a half alone, took 2.7 s
# shared on 2 CPUs; 10,000 took 15 s alone and 9-13 s shared.
SHARED_ARTICLES_MIN = 3000  # article pages a publish shares with its helpers, at least
ARTICLES_PER_JOB = 250
SHARED_ARCHIVE_MIN = 120  # archive pages a publish shares with its helpers, at least

Versions = list[tuple[str, datetime]]  # (article id, updated) of article pages written


@dataclass(frozen=True, slots=True)
class ArticlePages:
    """A job of a publish: these articles' pages."""
    ids: tuple[str, ...]

    @property
    def pages(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class ArchivePages:
    """A job of a publish: a feed's archive pages `first` to `first + pages - 1`."""
    slug: str
    first: int
    pages: int


Job = ArticlePages | ArchivePages


def article_jobs(ids: Sequence[str]) -> list[ArticlePages]:
    return [ArticlePages(tuple(ids[n:n + ARTICLES_PER_JOB]))
            for n in range(0, len(ids), ARTICLES_PER_JOB)]


class JobSharing:
    """Does a publish's jobs here, or shares them with `helpers` worker processes (started
    for the first big publish; only for the `feeds` command, see feeds.workers)."""

    def __init__(self, config: Config, helpers: int) -> None:
        self.config = config
        self.helpers = helpers
        self._pool: ProcessPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def run(self, jobs: Sequence[Job], report: PublishReport, share_from: int,
            do_here: Callable[[Job, PublishReport], None], commit: Callable[[], None],
            versions: Versions) -> None:
        """The jobs, done here by `do_here`, or shared with the helper processes when there
        are helpers and the jobs hold `share_from` pages or more; the article versions the
        helpers wrote go in `versions`."""
        if self.helpers and sum(job.pages for job in jobs) >= share_from:
            self._share(jobs, report, do_here, commit, versions)
            return
        for job in jobs:
            do_here(job, report)

    def _share(self, jobs: Sequence[Job], report: PublishReport,
               do_here: Callable[[Job, PublishReport], None], commit: Callable[[], None],
               versions: Versions) -> None:
        """Jobs done here and in the helper processes at once: they take jobs from the end,
        this process from the start, and they meet between. Each commits its own files
        (durable, renamed in place) before this returns, so what follows (the feeds after the
        article pages) still comes after. A job a helper could not do (it died) is done here;
        a PublishError there (a full disk) is one here."""
        if self._pool is None:
            self._pool = worker_pool(self.helpers)
        tasks = [self._pool.submit(do_job_in_helper, self.config, job)
                 for job in reversed(jobs)][::-1]
        try:
            for job, task in zip(jobs, tasks, strict=True):
                if task.cancel():  # no helper has taken it yet
                    do_here(job, report)
            commit()
            for job, task in zip(jobs, tasks, strict=True):
                if task.cancelled():
                    continue
                try:
                    written, unchanged, helper_versions = task.result()
                except PublishError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the job is done here instead
                    log.warning("a publish helper failed, doing its job here error=%r", exc)
                    do_here(job, report)
                    continue
                report.written += written
                report.unchanged += unchanged
                versions += helper_versions
            log.debug("publish jobs shared jobs=%d by_helpers=%d",
                      len(jobs), sum(not t.cancelled() for t in tasks))
        finally:  # nothing is left writing once the publish is over
            for task in tasks:
                task.cancel()
            futures_wait(tasks)


def do_job_in_helper(config: Config, job: Job) -> tuple[int, int, Versions]:
    """In a helper process: one job of a big publish, its files durable and in place when
    it returns; how many were written and unchanged, and the article versions written."""
    # The helper runs a whole publisher of its own; this module is part of its package.
    from feeds.publish import Publisher

    store = Store.open(config.database_url, migrate=False,
                       busy_timeout=config.store.busy_timeout_seconds)
    try:
        publisher = Publisher(config, store)
        try:
            report = PublishReport()
            with publisher.public.committed():
                publisher.do_job(job, report)
            return report.written, report.unchanged, publisher.pages.take_versions()
        finally:
            publisher.close()
    finally:
        store.close()
