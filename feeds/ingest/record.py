"""Applying parsed files to the store, one batch per write transaction: new and changed
articles stored and grouped, duplicates and failures recorded with their reason."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feeds.config import StoriesConfig
from feeds.ingest.grouping import group_stories
from feeds.ingest.pipeline import ParsedFile
from feeds.ingest.scan import FileRead, received
from feeds.models import FileRecord
from feeds.store import WriteTransaction
from feeds.stories import SplitSignatures
from feeds.stories.judge import PairJudge

log = logging.getLogger("feeds.ingest")  # see feeds.ingest.pipeline


@dataclass(slots=True)
class IngestReport:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    files_read: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # new or changed this run
    forgotten: list[str] = field(default_factory=list)  # failures of files no longer there
    retracted: list[str] = field(default_factory=list)  # keys its files' editors took down
    changed: set[str] = field(default_factory=set)  # article ids new or updated
    # articles a file no longer holds (a story dropped, the file now a copy of another): they
    # leave the feeds and shift the archive pages after them, so a full publish follows
    removed: int = 0
    # The topics of the new articles; None once an article was edited (it may have left one).
    topics: set[str] | None = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {"new": self.new, "updated": self.updated, "unchanged": self.unchanged,
                "files_read": self.files_read, "failed": len(self.failed),
                "duplicates": len(self.duplicates), "deferred": len(self.deferred),
                "removed": self.removed, "skipped": len(self.skipped),
                "forgotten": len(self.forgotten), "retracted": len(self.retracted)}


def in_time_order(entry: ParsedFile | FileRead) -> tuple[int, int, str]:
    """A batch's files are stored, and their articles grouped into stories, in the order
    their stories came out: by the earliest date among a file's articles (its mtime when it
    gives none), then by mtime and name. Grouping is incremental and a story's first reports
    decide which later ones join it, so a backfill groups as a daemon running at the time would
    have, whatever the files are called."""
    read = entry.read if isinstance(entry, ParsedFile) else entry
    dates = ([d.published for d in entry.drafts if d.published is not None]
             if isinstance(entry, ParsedFile) else [])
    when = int(min(dates).timestamp() * 1e9) if dates else read.mtime_ns
    return when, read.mtime_ns, read.rel


class BatchRecorder:
    """Records one batch's files in one write transaction, adding to `report`."""

    def __init__(self, tx: WriteTransaction, stories: StoriesConfig, report: IngestReport,
                 now: datetime, splits: SplitSignatures, judge: PairJudge | None = None
                 ) -> None:
        self.tx = tx
        self.splits = splits
        self.stories = stories
        self.judge = judge
        self.report = report
        self.now = now
        # the store's article count (grouping's idf), counted once, then kept up to date
        self.stored = tx.article_count()
        self.known: dict[str, FileRecord] = {}  # the batch's file records (see record)

    def record(self, parsed: Sequence[ParsedFile | FileRead]) -> None:
        # the batch's files are claimed (no other daemon records them meanwhile): their
        # records are read in one query, not one each
        self.known = self.tx.file_records(
            [entry.read.rel for entry in parsed if isinstance(entry, ParsedFile)])
        for entry in sorted(parsed, key=in_time_order):
            if isinstance(entry, FileRead):
                self._unread(entry)
            else:
                self._parsed(entry)

    def _unread(self, read: FileRead) -> None:
        """A file that could not be read: a failure, unless it is still being written or
        went away (then nothing is recorded; it comes back if it changes)."""
        if read.reason in ("unsettled", "vanished"):
            if read.reason == "unsettled":
                self.report.deferred.append(read.rel)
                log.info("file still being written, later path=%s", read.rel)
            return
        if read.skipped:
            self.tx.record_file(path=read.rel, sha256="", size=read.size,
                                mtime_ns=read.mtime_ns, status="skipped", reason=read.reason,
                                duplicate_of=None, count=0, now=self.now)
            self.report.skipped.append((read.rel, read.reason or ""))
            log.info("file skipped path=%s reason=%s", read.rel, read.reason)
            return
        self.tx.record_file(path=read.rel, sha256="", size=read.size, mtime_ns=read.mtime_ns,
                            status="failed", reason=read.reason, duplicate_of=None, count=0,
                            now=self.now)
        self.report.failed.append((read.rel, read.reason or ""))
        log.warning("file failed path=%s reason=%s", read.rel, read.reason)

    def _parsed(self, entry: ParsedFile) -> None:
        tx, report, read, now = self.tx, self.report, entry.read, self.now
        report.files_read += 1
        record = self.known.get(read.rel)
        exists = record is not None
        if record is not None and record.sha256 == entry.sha256:
            tx.touch_file(read.rel, read.mtime_ns, now)
            report.unchanged += record.articles
            return
        original = tx.original_for(entry.sha256, read.rel)
        if original is not None:
            removed = len(tx.save_articles(read.rel, [], now, now))
            report.removed += removed
            self.stored -= removed
            tx.record_file(path=read.rel, sha256=entry.sha256, size=read.size,
                           mtime_ns=read.mtime_ns, status="duplicate",
                           reason=f"same bytes as {original}", duplicate_of=original, count=0,
                           now=now, exists=exists)
            report.duplicates.append((read.rel, original))
            log.info("duplicate file path=%s original=%s", read.rel, original)
            return
        if entry.reason is not None:
            # Keep the articles of the last good version: nothing is lost to a bad edit.
            tx.record_file(path=read.rel, sha256=entry.sha256, size=read.size,
                           mtime_ns=read.mtime_ns, status="failed", reason=entry.reason,
                           duplicate_of=None, count=0, now=now, exists=exists)
            report.failed.append((read.rel, entry.reason))
            log.warning("file failed path=%s reason=%s", read.rel, entry.reason)
            return
        self._store(entry, exists)

    def _store(self, entry: ParsedFile, exists: bool) -> None:
        """A good file: its articles stored, grouped into stories, and counted."""
        tx, report, read = self.tx, self.report, entry.read
        saved = tx.save_articles(read.rel, entry.drafts, self.now, received(read.mtime_ns),
                                 self.stored)
        kept = [item for item in saved if item.change != "removed"]
        report.removed += len(saved) - len(kept)
        self.stored += sum(item.change == "new" for item in kept) - (len(saved) - len(kept))
        tx.record_file(path=read.rel, sha256=entry.sha256, size=read.size,
                       mtime_ns=read.mtime_ns, status="ok", reason=entry.warning,
                       duplicate_of=None, count=len(entry.drafts), now=self.now,
                       exists=exists)
        group_stories(tx, self.stories, entry.drafts, kept, self.stored, self.splits,
                      self.judge)
        for draft, item in zip(entry.drafts, kept, strict=True):
            if item.change == "new":
                report.new += 1
                if report.topics is not None:
                    report.topics.update(t.slug for t in draft.topics)
            elif item.change == "updated":
                report.updated += 1
                report.topics = None
            else:
                report.unchanged += 1
            if item.change != "unchanged":
                report.changed.add(item.id)
        self._retract(entry)

    def _retract(self, entry: ParsedFile) -> None:
        """Articles whose file asks for a takedown: retracted as `feeds retract` would (once:
        the first retraction's date and reason stand; taking the marker out again does not
        bring one back, `feeds retract --undo` does)."""
        asked = {d.id: d.retracted for d in entry.drafts if d.retracted is not None}
        if not asked:
            return
        for article in self.tx.articles_named(ids=list(asked)):
            done = self.tx.retract(article, asked[article.id], self.now)
            if done is not None:
                self.report.retracted.append(done.key)
                self.report.changed.add(done.article_id)
                self.report.topics = None  # its tombstone goes into every feed that listed it
                log.info("article retracted by its file key=%s reason=%s", done.key,
                         done.reason or "-")
