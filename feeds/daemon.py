"""`feeds run`: wiring only. Watcher -> worker (ingest + publish), scheduler, HTTP server.

Start: lock the state folder, open the store, scan and publish once, then start the watcher,
the scheduler and the server. Stop (SIGINT/SIGTERM): watcher -> worker (the current batch
finishes) -> scheduler -> server -> store -> lock, each step logged. SIGHUP reloads config.toml;
an invalid new config is refused and the old one keeps running.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any

import uvloop
from apscheduler.schedulers.background import BackgroundScheduler
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from feeds.articles import is_candidate
from feeds.config import Config, load_config
from feeds.digest import Digester, cron_trigger, latest_slot, missed_slots
from feeds.errors import FeedsError
from feeds.ingest import IngestedChanges, Ingestor, Pipeline
from feeds.mail import Outbox, open_outbox
from feeds.publish import Publisher
from feeds.store import Store
from feeds.tokens import load_secret
from feeds.web import Server, Site, url_of

log = logging.getLogger(__name__)

RESCAN = "<rescan>"
STARTUP = "<startup>"  # the first batch: scan, publish everything, then missed digests
RECLASSIFY = "<reclassify>"
SETTLE = "<settle>"  # prefix: read this path only once its size and mtime hold still
# an article stored this long ago without its page is published by any daemon's rescan
ORPHAN_GRACE_SECONDS = 30.0


class _OverflowRescan(logging.Handler):
    """The kernel drops inotify events when its queue (fs.inotify.max_queued_events) fills,
    as a burst of thousands of files can make it. watchdog only logs that; this turns the log
    record into a full rescan, so no dropped file waits for the periodic one."""

    LOGGER = "watchdog.observers.inotify_c"

    def __init__(self, events: queue.Queue[str]) -> None:
        super().__init__(logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.events.put(RESCAN)


class StateLock:
    """One daemon per state folder: an exclusive flock on state/feeds.lock holding our pid."""

    def __init__(self, state: Path) -> None:
        self.path = state / "feeds.lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise FeedsError(
                f"another feeds daemon (pid {holder}) is already running on {self.path.parent}",
                hint="stop it first, or give this one another paths.state") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


class _InboxEvents(FileSystemEventHandler):
    """Queues the files worth a look. A file closed after writing, or renamed within the inbox,
    is complete (`COMPLETE`); a file that merely appeared may be a move from another folder
    (complete) or a new file still being written, so it is read only once it settles."""

    def __init__(self, events: queue.Queue[str]) -> None:
        self.events = events

    def _push(self, path: str | bytes, complete: bool) -> None:
        text = os.fsdecode(path)
        if is_candidate(os.path.basename(text)):
            self.events.put(text if complete else SETTLE + text)

    def on_closed(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._push(event.src_path, True)

    def on_moved(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._push(event.dest_path, True)
        else:
            self.events.put(RESCAN)

    def on_created(self, event: FileSystemEvent) -> None:
        # A new folder may arrive with files already in it (mv of a whole folder).
        if event.is_directory:
            self.events.put(RESCAN)
        else:
            self._push(event.src_path, False)


@dataclass
class _Services:
    config: Config
    pipeline: Pipeline
    ingestor: Ingestor
    publisher: Publisher


class Daemon:
    def __init__(self, config_path: Path, config: Config) -> None:
        self.config_path = config_path
        self.config = config
        self.lock = StateLock(config.paths.state)
        self.events: queue.Queue[str] = queue.Queue()
        self.stopping = threading.Event()
        self.store: Store | None = None
        self.services: _Services | None = None
        self._services_lock = threading.Lock()
        self.observer: Any = None
        self.scheduler: BackgroundScheduler | None = None
        self.worker: threading.Thread | None = None
        self.server: Server | None = None
        self.site: Site | None = None
        # a publish failed (disk full, folder unwritable): the next batch or rescan rebuilds
        # everything, since what that publish should have written is not known any more
        self.publish_owed = False
        self.overflow = _OverflowRescan(self.events)
        self._digesting = threading.Lock()  # one digest job at a time in this daemon

    # --- building blocks ----------------------------------------------------------------
    def _build(self, config: Config) -> _Services:
        assert self.store is not None
        pipeline = Pipeline(config)
        return _Services(config, pipeline,
                         Ingestor(config, self.store, pipeline, workers_allowed=True),
                         Publisher(config, self.store))

    def _safely(self, what: str, job: Callable[[], object]) -> None:
        """A failing job is logged with its context; the daemon goes on."""
        try:
            job()
        except FeedsError as exc:
            log.error("%s failed error=%s", what, exc.message)
        except Exception:
            log.exception("%s crashed", what)

    # --- the worker: ingest what the watcher saw, then publish once per batch -------------
    def _work(self) -> None:
        while not self.stopping.is_set():
            with self._services_lock:
                services = self.services
            pending = services is not None and services.publisher.pending
            try:
                first = self.events.get(timeout=0.2) if not pending else self.events.get_nowait()
            except queue.Empty:
                if pending:  # the queue is quiet: write the pages the last publish put off
                    assert services is not None
                    self._safely("publish", partial(self._finish, services.publisher))
                continue
            # Whatever else has arrived goes in the same batch, without waiting for more: the
            # rest of a burst piles up while this batch is ingested and is the next batch.
            batch = [first]
            while len(batch) < 10_000:
                try:
                    batch.append(self.events.get_nowait())
                except queue.Empty:
                    break
            self._safely("ingest", partial(self._process, batch))
            if STARTUP in batch:
                log.info("startup scan finished: inbox read, public/ rebuilt")

    def _process(self, batch: list[str]) -> None:
        with self._services_lock:
            services = self.services
        assert services is not None
        names = set(batch)
        changes = IngestedChanges()
        if RECLASSIFY in names:
            services.ingestor.reclassify()
            self._publish(services.publisher)
        stop = self.stopping.is_set
        if RESCAN in names or STARTUP in names:
            changes.absorb(services.ingestor.run(stop=stop))
        paths = names - {RESCAN, RECLASSIFY, STARTUP}
        complete = sorted(p for p in paths if not p.startswith(SETTLE))
        waiting = sorted({p.removeprefix(SETTLE) for p in paths if p.startswith(SETTLE)}
                         - set(complete))
        ready = [Path(p) for p in complete if os.path.exists(p)]
        if ready:
            changes.absorb(services.ingestor.run(ready, settle=0.0, stop=stop))
        # Appeared without a close or rename: empty means its writer has not started; the
        # close event will bring it back. Otherwise read it if it holds still for settle_seconds.
        unsettled = [Path(p) for p in waiting if os.path.exists(p) and os.path.getsize(p) > 0]
        if unsettled:
            changes.absorb(services.ingestor.run(unsettled, stop=stop))
        if RESCAN in names and not self.stopping.is_set() and self.store is not None:
            # articles a daemon sharing the store stored and was stopped before publishing
            grace = min(services.config.ingest.rescan_seconds, ORPHAN_GRACE_SECONDS)
            changes.include_unpublished(
                self.store, before=datetime.now(UTC) - timedelta(seconds=grace))
        if self.stopping.is_set():
            # what this batch stored still reaches the feeds (other daemons sharing the
            # store publish only their own); the full publish waits for the next start
            if changes.changed:
                services.publisher.publish(changed=changes.changed, topics=changes.topics)
            return
        if changes.worth_publishing() or self.publish_owed:
            scope = changes.scope()
            self._publish(services.publisher, scope.changed, scope.topics)
        if STARTUP in names:
            # after the scan, so that a digest missed while the daemon was down holds what
            # arrived meanwhile
            self._catch_up(services.config)

    def _publish(self, publisher: Publisher, changed: set[str] | None = None,
                 topics: set[str] | None = None) -> None:
        """Publish what changed, or everything when asked to or when a publish failed."""
        full = changed is None or self.publish_owed
        with self._owing():
            if full:
                publisher.publish()
            else:
                # pages that list articles give way to a file that has arrived meanwhile
                publisher.publish(changed=changed, topics=topics,
                                  pause=lambda: not self.events.empty())

    def _finish(self, publisher: Publisher) -> None:
        """Write the pages the last publish put off."""
        with self._owing():
            publisher.finish()

    @contextmanager
    def _owing(self) -> Iterator[None]:
        """A publish is owed until this one succeeds (a failed one is redone in full)."""
        self.publish_owed = True
        yield
        self.publish_owed = False

    # --- lifecycle ----------------------------------------------------------------------
    def start_background(self) -> None:
        config = self.config
        self.store = Store.for_config(config)
        self.services = self._build(config)
        config.paths.inbox.mkdir(parents=True, exist_ok=True)
        # The worker's first batch scans the inbox, then rebuilds everything once: templates
        # or the config may have changed since the last run, so the first publish is a full
        # one. Meanwhile the server serves what public/ holds, and signals are answered.
        self.publish_owed = True
        self.events.put(STARTUP)
        self.worker = threading.Thread(target=self._work, name="feeds-worker", daemon=True)
        self.worker.start()
        watcher_log = logging.getLogger(_OverflowRescan.LOGGER)
        watcher_log.setLevel(logging.WARNING)  # even under --log-level error
        watcher_log.addHandler(self.overflow)
        self.observer = Observer(timeout=0.01)
        self.observer.schedule(_InboxEvents(self.events), str(config.paths.inbox),
                               recursive=True)
        self.observer.start()
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._schedule(config)
        self.scheduler.start()

    def _schedule(self, config: Config) -> None:
        assert self.scheduler is not None
        self.scheduler.add_job(lambda: self.events.put(RESCAN), "interval",
                               seconds=config.ingest.rescan_seconds, id="rescan",
                               replace_existing=True, coalesce=True, max_instances=1)
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:") and job.id[7:] not in config.digests:
                job.remove()
        for name, digest in config.digests.items():
            self.scheduler.add_job(
                partial(self._safely, f"digest {name}", partial(self._digest_now, name)),
                cron_trigger(digest), id=f"digest:{name}", replace_existing=True,
                coalesce=True, max_instances=1, misfire_grace_time=digest.grace_seconds)
        self.scheduler.add_job(
            partial(self._safely, "leftover deliveries", self._leftovers), "interval",
            seconds=config.mail.retry_seconds, id="leftovers", replace_existing=True,
            coalesce=True, max_instances=1)

    def _digest_now(self, name: str) -> None:
        """Run the schedule's latest due slot, once: the store's claim decides."""
        with self._services_lock:
            config = self.config
        digest = config.digests.get(name)
        if digest is None or self.store is None:
            return
        slot = latest_slot(digest, datetime.now(UTC))
        if slot is not None:
            self._run_slot(config, name, slot.isoformat())

    def _run_slot(self, config: Config, name: str, slot: str) -> None:
        assert self.store is not None
        with self._digesting, self.store.claims() as claims:
            if not self.store.claim_slot(claims, name, slot, datetime.now(UTC)):
                return
            try:
                with self._digester(config) as (digester, outbox):
                    digester.run(name, f"{name}@{slot}", outbox)
            finally:
                self.store.finish_slot(name, slot, datetime.now(UTC))

    @contextmanager
    def _digester(self, config: Config) -> Iterator[tuple[Digester, Outbox]]:
        assert self.store is not None
        outbox = open_outbox(config.smtp, config.paths.state)
        try:
            yield Digester(config, self.store, load_secret(config.paths.state)), outbox
        finally:
            outbox.close()

    def _leftovers(self) -> None:
        """Finish what a daemon that died left (slots it never finished, deliveries it held)
        and retry temporary failures. Skipped while this daemon is sending a digest."""
        with self._services_lock:
            config = self.config
        if self.store is None:
            return
        for name, slot in self.store.unfinished_slots():
            if name in config.digests:
                self._run_slot(config, name, slot)
        if not self._digesting.acquire(blocking=False):
            return
        try:
            self._send_pending(config)
        finally:
            self._digesting.release()

    def _send_pending(self, config: Config) -> None:
        assert self.store is not None
        if self.store.pending_count():
            with self._digester(config) as (digester, outbox):
                report = digester.deliver(outbox)
            if report.sent or report.failed or report.retrying:
                log.info("leftover deliveries sent=%d failed=%d retrying=%d", report.sent,
                         report.failed, report.retrying)

    def _catch_up(self, config: Config) -> None:
        """A slot missed while the daemon was down runs once now, if within its grace."""
        assert self.store is not None
        for name, slot in missed_slots(config.digests, self.store, datetime.now(UTC)):
            log.info("digest catch-up check schedule=%s slot=%s", name, slot.isoformat())
            self._safely(f"digest {name}", partial(self._digest_now, name))

    def reload(self) -> None:
        """SIGHUP: re-read config.toml; keep the old one when the new one is invalid."""
        try:
            config = load_config(self.config_path)
        except FeedsError as exc:
            log.error("reload refused; the old configuration stays error=%s", exc.message)
            return
        if config.paths != self.config.paths or config.database_url != self.config.database_url:
            log.warning("reload: paths and store changes need a restart; they are ignored")
            config = config.model_copy(update={"paths": self.config.paths,
                                               "store": self.config.store})
        services = self._build(config)
        with self._services_lock:
            old, self.services = self.services, services
        if old is not None:
            old.pipeline.close()
            old.publisher.close()
        self.config = config
        if self.site is not None:
            self.site.reconfigure(config)
        if self.scheduler is not None:
            self._schedule(config)
        self.events.put(RECLASSIFY)
        log.info("configuration reloaded path=%s topics=%s", self.config_path,
                 ",".join(config.topics))

    def stop_background(self) -> None:
        log.info("stopping: watcher")
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)
        logging.getLogger(_OverflowRescan.LOGGER).removeHandler(self.overflow)
        log.info("stopping: worker (the current batch finishes)")
        self.stopping.set()
        if self.worker is not None:
            self.worker.join(timeout=8)
        log.info("stopping: scheduler")
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.services is not None:
            self.services.pipeline.close()
            self.services.publisher.close()

    def close(self) -> None:
        log.info("stopping: store")
        if self.store is not None:
            self.store.close()
        self.lock.release()
        log.info("stopped")

    async def serve_until_stopped(self) -> None:
        assert self.store is not None
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, self.reload))
        self.site = Site(self.config, self.store, load_secret(self.config.paths.state))
        self.server = Server(self.site, self.config.server.host, self.config.server.port)
        port = await self.server.start()
        log.info("feeds running: serving %s, watching %s, state %s",
                 url_of(self.config.server.host, port), self.config.paths.inbox,
                 self.config.paths.state)
        await stop.wait()
        log.info("signal received, shutting down")
        await loop.run_in_executor(None, self.stop_background)
        log.info("stopping: http server")
        await self.server.stop()


def run_daemon(config_path: Path, config: Config) -> None:
    daemon = Daemon(config_path, config)
    daemon.lock.acquire()
    try:
        daemon.start_background()
        uvloop.run(daemon.serve_until_stopped())
    finally:
        if daemon.scheduler is not None and daemon.scheduler.running:
            daemon.stop_background()
        daemon.close()


def run_server(config: Config) -> None:
    """`feeds serve`: HTTP only, until SIGINT/SIGTERM."""
    store = Store.for_config(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = Server(Site(config, store, load_secret(config.paths.state)), config.server.host,
                        config.server.port)
        port = await server.start()
        log.info("serving %s from %s", url_of(config.server.host, port), config.paths.public)
        await stop.wait()
        await server.stop()

    try:
        uvloop.run(main())
    finally:
        store.close()

