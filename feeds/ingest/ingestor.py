"""One ingest run: the inbox (or some paths) scanned, changed files read in batches, parsed
(here or in worker processes), and each batch recorded in one write transaction."""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feeds.config import Config
from feeds.ingest.parallel import BatchParsers
from feeds.ingest.pipeline import ParsedFile, Pipeline, as_parsed_article
from feeds.ingest.record import BatchRecorder, IngestReport
from feeds.ingest.scan import FileRead, read_file, relative_name, scan, settled, skipped_file
from feeds.models import FileRecord
from feeds.store import Claims, Store
from feeds.stories import SplitSignatures
from feeds.stories.judge import PairJudge
from feeds.workers import spare_cpus

log = logging.getLogger("feeds.ingest")  # see feeds.ingest.pipeline

Clock = Callable[[], datetime]
ParsedBatch = Callable[[], list[ParsedFile | FileRead]]
Candidate = tuple[Path, str, bool]  # a file, its name, whether it is of a type not read
# a run's record, as Store.record_run takes it: kind, started, finished, ok, detail
RunRecord = tuple[str, datetime, datetime, bool, dict[str, Any]]
FORGOTTEN_WHEN_GONE = ("failed", "skipped")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Ingestor:
    def __init__(self, config: Config, store: Store, pipeline: Pipeline, *,
                 clock: Clock = utcnow, workers_allowed: bool = False) -> None:
        """`workers_allowed`: a big run may parse in worker processes (ingest.processes);
        only for a caller whose main module can be imported again (the `feeds` command)."""
        self.config = config
        self.store = store
        self.pipeline = pipeline
        self.clock = clock
        self.workers_allowed = workers_allowed
        self.judge = PairJudge.for_config(config)  # kept for the answers it caches
        self.splits = SplitSignatures()  # kept for the stored reports it has split

    def run(self, paths: Iterable[Path] | None = None, *,
            progress: Callable[[int], None] | None = None,
            settle: float | None = None,
            stop: Callable[[], bool] | None = None,
            runs: list[RunRecord] | None = None) -> IngestReport:
        """Ingest the inbox (or just `paths`); returns what happened.

        `settle` overrides ingest.settle_seconds: the watcher passes 0 for files whose writer
        has closed them or renamed them into place, which are complete by definition.
        `stop` is asked between batches: once it says so, the batches not stored yet are
        left for a later run (their files are untouched and unrecorded).
        `runs`: where the run's record goes (`feeds status` shows it): None writes it now; a
        list collects it for the caller to write once what it waits for is done (the daemon
        writes it after the publish, which the record's transaction would delay).
        """
        settle = self.config.ingest.settle_seconds if settle is None else settle
        started = self.clock()
        report = IngestReport()
        batches = self._changed_files(paths, report, progress)
        parsers = BatchParsers(self.config, self.pipeline, self._workers(len(batches)))
        inbox, limits = self.config.paths.inbox, self.config.ingest
        # Another daemon sharing the inbox may be reading some of these already: a batch's
        # claims last until it is stored. With workers, the next batch is being parsed
        # while one is stored.
        ahead: deque[tuple[int, set[str], ParsedBatch]] = deque()
        try:
            with self.store.claims() as claims:
                for number, batch in enumerate(batches):
                    if stop is not None and stop():
                        log.info("ingest stopping; files left for the next run count=%d",
                                 sum(len(b) for b in batches[number:]))
                        break
                    mine = self.store.claim_files(claims, [rel for _, rel, _ in batch])
                    if len(mine) < len(batch):
                        log.debug("files another daemon is reading count=%d",
                                  len(batch) - len(mine))
                    reads = settled([skipped_file(path, rel) if skipped
                                     else read_file(path, rel, inbox, limits)
                                     for path, rel, skipped in batch if rel in mine], settle)
                    ahead.append((len(batch), mine, parsers.submit(reads)))
                    while len(ahead) > parsers.ahead:
                        self._store_batch(claims, *ahead.popleft(), report, progress)
                while ahead:
                    self._store_batch(claims, *ahead.popleft(), report, progress)
        finally:
            parsers.close()
        finished = self.clock()
        record: RunRecord = ("ingest", started, finished, not report.failed, report.as_dict())
        if runs is None:
            self.store.record_run(*record)
        else:
            runs.append(record)
        # a rescan that found nothing new is the usual case: once a minute at INFO is noise
        quiet = not (report.new or report.updated or report.failed or report.duplicates
                     or report.deferred or report.removed or report.skipped or report.forgotten)
        log.log(logging.DEBUG if quiet else logging.INFO,
                "ingest finished new=%d updated=%d unchanged=%d failed=%d duplicates=%d "
                "deferred=%d seconds=%.2f", report.new, report.updated, report.unchanged,
                 len(report.failed), len(report.duplicates), len(report.deferred),
                 (finished - started).total_seconds())
        return report

    def _changed_files(self, paths: Iterable[Path] | None, report: IngestReport,
                       progress: Callable[[int], None] | None) -> list[list[Candidate]]:
        """The files whose size or mtime changed since they were recorded, in batches of
        ingest.batch_size; the unchanged ones are counted in `report`. A whole-inbox scan
        also takes the files of types ingest does not read (recorded as skipped), and the
        failures of files no longer there are forgotten."""
        inbox = self.config.paths.inbox
        unsupported: list[Path] = []
        chosen = [(path, relative_name(path, inbox), False) for path in (
            scan(inbox, unsupported) if paths is None else map(Path, paths))]
        chosen += [(path, relative_name(path, inbox), True) for path in unsupported]
        # a few paths (the watcher's case) read only their own records, not the whole table
        known = self.store.file_records(
            None if paths is None or len(chosen) > 500 else [rel for _, rel, _ in chosen])
        todo: list[tuple[int, str, Path, bool]] = []
        gone: list[str] = []
        for path, rel, skipped in chosen:
            try:
                st = path.lstat() if path.is_symlink() else path.stat()
            except OSError:
                gone.append(rel)
                continue
            if not (path.is_file() or path.is_symlink()):
                continue
            record = known.get(rel)
            if record is not None and (record.size, record.mtime_ns) == (st.st_size,
                                                                         st.st_mtime_ns):
                report.unchanged += record.articles
                if progress:
                    progress(1)
                continue
            todo.append((st.st_mtime_ns, rel, path, skipped))
        if paths is None:
            seen = {rel for _, rel, _ in chosen}
            gone += [rel for rel in known if rel not in seen
                     and not os.path.lexists(inbox / rel)]
        self._forget(gone, known, report)
        # oldest first: a backfill meets its stories in about the order they came, as a
        # running daemon would have (grouping is incremental; see record.in_time_order)
        todo.sort()
        size = self.config.ingest.batch_size
        return [[(path, rel, skipped) for _mtime, rel, path, skipped in todo[start:start + size]]
                for start in range(0, len(todo), size)]

    def _forget(self, gone: list[str], known: dict[str, FileRecord],
                report: IngestReport) -> None:
        """A failed or skipped file that is gone is no longer a problem: its record goes, so
        `feeds status`, /healthz and /metrics stop counting it. (The records of files that
        were read stay: their articles stay published.)"""
        forget = sorted(rel for rel in set(gone)
                        if (record := known.get(rel)) is not None
                        and record.status in FORGOTTEN_WHEN_GONE)
        if not forget:
            return
        with self.store.write() as tx:
            tx.forget_files(forget, FORGOTTEN_WHEN_GONE)
        report.forgotten += forget
        log.info("forgot the failures of files no longer in the inbox count=%d paths=%s",
                 len(forget), ",".join(forget[:10]))

    def _workers(self, batches: int) -> int:
        """Worker processes for parsing: none for a single batch (starting them costs more
        than they save)."""
        wanted = spare_cpus(self.config.ingest.processes) if self.workers_allowed else 0
        return wanted if batches > 1 else 0

    def _store_batch(self, claims: Claims, files: int, mine: set[str], parsed: ParsedBatch,
                     report: IngestReport, progress: Callable[[int], None] | None) -> None:
        entries = parsed()
        now = self.clock()
        with self.store.write(waits_for="stories") as tx:
            BatchRecorder(tx, self.config.stories, report, now, self.splits,
                          self.judge).record(entries)
        self.store.release_files(claims, mine)
        if progress:
            progress(files)

    def reclassify(self) -> set[str]:
        """Apply the current topic rules to every stored article (after the rules changed).

        Topic membership is our metadata, not the article's: entries keep their `updated`.
        Returns the ids whose topics changed.
        """
        changed: set[str] = set()
        offset, batch = 0, 500
        while True:
            items = self.store.items(limit=batch, offset=offset, order="created")
            if not items:
                return changed
            updates = {}
            for item in items:
                topics = tuple(self.pipeline.classify(as_parsed_article(item)))
                if [(t.slug, t.score) for t in topics] != [(t.slug, t.score)
                                                           for t in item.topics]:
                    updates[item.id] = topics
            if updates:
                with self.store.write() as tx:
                    for item_id, topics in updates.items():
                        tx.replace_topics(item_id, topics)
                changed.update(updates)
            offset += batch
