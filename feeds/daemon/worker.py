"""The queue worker: ingest what the watcher saw, then publish once per batch."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from feeds.config import Config
from feeds.daemon.events import EventQueue, FileSeen, InboxEvent, InboxRequest
from feeds.errors import FeedsError
from feeds.ingest.ingestor import Ingestor, RunRecord
from feeds.ingest.pipeline import Pipeline
from feeds.ingest.publishing import IngestedChanges, PublishAfterIngest
from feeds.language import load_segmenter
from feeds.publish import Publisher
from feeds.publish.output import Served
from feeds.store import Store

log = logging.getLogger(__name__)

MAX_BATCH = 10_000
IDLE_WAIT_SECONDS = 0.2  # how often an idle worker checks whether it is stopped


def log_failures(what: str, job: Callable[[], object]) -> None:
    """Run `job`; a failure is logged with its context and the daemon goes on."""
    try:
        job()
    except FeedsError as exc:
        log.error("%s failed error=%s", what, exc.message)
    except Exception:
        log.exception("%s crashed", what)


@dataclass
class Services:
    """What one configuration builds; a reload builds new ones and closes the old."""

    config: Config
    pipeline: Pipeline
    ingestor: Ingestor
    publisher: Publisher

    @classmethod
    def build(cls, config: Config, store: Store, served: Served | None = None) -> Services:
        """`served`: the server's hand-over (see feeds.web.static.HandOver)."""
        pipeline = Pipeline(config)
        return cls(config, pipeline, Ingestor(config, store, pipeline, workers_allowed=True),
                   Publisher(config, store, served=served))

    def warm_up(self) -> None:
        """Load now what the first article would otherwise wait for (~120 ms): the sentence
        segmenter (blingfire and numpy) and the compiled page templates. A template that does
        not compile is logged here and again when a page needs it; the daemon goes on."""
        load_segmenter()
        log_failures("warm-up", self.publisher.pages.warm_up)

    def close(self) -> None:
        self.pipeline.close()
        self.publisher.close()


class CurrentServices:
    """The services in use, swapped whole by a reload while the worker runs."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._lock = threading.Lock()

    def get(self) -> Services:
        with self._lock:
            return self._services

    def replace(self, services: Services) -> Services:
        """Install `services`; the old ones, for the caller to close."""
        with self._lock:
            old, self._services = self._services, services
        return old


class Worker:
    def __init__(self, events: EventQueue, services: CurrentServices, store: Store,
                 publishing: PublishAfterIngest, stopping: threading.Event,
                 after_startup: Callable[[Config], None],
                 after_reload: Callable[[], None] | None = None) -> None:
        self.events = events
        self.services = services
        self.store = store
        self.publishing = publishing
        self.stopping = stopping
        self.after_startup = after_startup  # once the startup scan is published
        self.after_reload = after_reload  # once a reload's new topics are published
        self.thread = threading.Thread(target=self.run, name="feeds-worker", daemon=True)

    def run(self) -> None:
        while not self.stopping.is_set():
            # no local keeps the current services: a reload's old ones must be free to go
            try:
                first = (self.events.get_nowait() if self.services.get().publisher.pending
                         else self.events.get(timeout=IDLE_WAIT_SECONDS))
            except queue.Empty:
                self._finish_pending()  # the queue is quiet: write the pages put off
                continue
            # Whatever else has arrived goes in the same batch, without waiting for more: the
            # rest of a burst piles up while this batch is ingested and is the next batch.
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.events.get_nowait())
                except queue.Empty:
                    break
            log_failures("ingest", partial(self.ingest_batch, batch))
            if InboxRequest.STARTUP in batch:
                log.info("startup scan finished: inbox read, public/ rebuilt")

    def _finish_pending(self) -> None:
        publisher = self.services.get().publisher
        if publisher.pending:
            log_failures("publish", partial(self.publishing.finish, publisher))

    def _ingest_and_publish(self, services: Services, requests: set[InboxRequest],
                            files: list[FileSeen], changes: IngestedChanges,
                            runs: list[RunRecord]) -> bool:
        """The batch's requests and files ingested, then published; whether the daemon is
        stopping."""
        stop = self.stopping.is_set
        if InboxRequest.RECLASSIFY in requests:
            services.ingestor.reclassify()
            self.publishing.publish(services.publisher)
            if self.after_reload is not None:
                self.after_reload()
        if requests & {InboxRequest.RESCAN, InboxRequest.STARTUP}:
            changes.absorb(services.ingestor.run(stop=stop, runs=runs))
        complete = sorted({seen.path for seen in files if seen.complete})
        waiting = sorted({seen.path for seen in files if not seen.complete} - set(complete))
        ready = [Path(p) for p in complete if os.path.exists(p)]
        if ready:
            changes.absorb(services.ingestor.run(ready, settle=0.0, stop=stop, runs=runs))
        # Appeared without a close or rename: empty means its writer has not started; the
        # close event will bring it back. Otherwise read it if it holds still for settle_seconds.
        unsettled = [Path(p) for p in waiting if os.path.exists(p) and os.path.getsize(p) > 0]
        if unsettled:
            changes.absorb(services.ingestor.run(unsettled, stop=stop, runs=runs))
        if InboxRequest.RESCAN in requests and not self.stopping.is_set():
            self.publishing.add_orphans(self.store, services.config, changes)
        stopping = self.stopping.is_set()
        self.publishing.publish_batch(services.publisher, changes, stopping=stopping)
        return stopping

    def ingest_batch(self, batch: list[InboxEvent]) -> None:
        services = self.services.get()
        requests = {event for event in batch if isinstance(event, InboxRequest)}
        files = [event for event in batch if isinstance(event, FileSeen)]
        changes = IngestedChanges()
        runs: list[RunRecord] = []  # written once the batch is published (see Ingestor.run)
        try:
            stopping = self._ingest_and_publish(services, requests, files, changes, runs)
        finally:
            for run in runs:
                self.store.record_run(*run)
        if InboxRequest.STARTUP in requests and not stopping:
            # after the scan, so that a digest missed while the daemon was down holds what
            # arrived meanwhile
            self.after_startup(services.config)
