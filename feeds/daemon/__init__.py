"""`feeds run`: wiring only. Watcher -> worker (ingest + publish), scheduler, HTTP server.

Start: lock the state folder, open the store, queue the startup scan for the worker, then start
the watcher, the scheduler and the server. Stop (SIGINT/SIGTERM): watcher -> worker (the
current batch finishes) -> scheduler -> server -> store -> lock, each step logged. SIGHUP
reloads config.toml; an invalid new config is refused and the old one keeps running.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import queue
import signal
import socket
import threading
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import uvloop
from apscheduler.schedulers.background import BackgroundScheduler
from watchdog.observers.api import BaseObserver

from feeds.config import Config, load_config
from feeds.cron import check_schedules, cron_trigger
from feeds.daemon.events import InboxEvent, InboxRequest
from feeds.daemon.lock import StateLock
from feeds.daemon.watcher import watch_inbox
from feeds.daemon.worker import CurrentServices, Services, Worker, log_failures
from feeds.digest.confirmation import ConfirmationMailer
from feeds.digest.runs import DigestRuns
from feeds.digest.schedule import latest_slot
from feeds.errors import FeedsError
from feeds.ingest.publishing import PublishAfterIngest
from feeds.ingest.scan import require_inbox
from feeds.status import stranded_subscribers
from feeds.store import Store
from feeds.tokens import load_secret
from feeds.web import Server, Site, url_of
from feeds.web.server import bind_listener, link_warnings
from feeds.web.static import HandOver

__all__ = ["Daemon", "StateLock", "latest_slot", "run_daemon", "run_server"]

log = logging.getLogger(__name__)

WORKER_STOP_SECONDS = 8.0  # the current batch finishes; a longer one is left to the next start
WATCHER_STOP_SECONDS = 5.0


# what the running daemon set up once: a reload that changes them is told to restart
RESTART_KEYS = ("paths.inbox", "paths.public", "paths.state", "paths.templates", "store.url",
                "store.busy_timeout_seconds", "server.host", "server.port",
                "server.idle_timeout_seconds")


def _value(config: Config, key: str) -> object:
    table, name = key.split(".")
    return getattr(getattr(config, table), name)


class Daemon:
    """Owns the parts of `feeds run` and the order they start and stop in."""

    def __init__(self, config_path: Path, config: Config, *, freeze_heap: bool = False
                 ) -> None:
        self.config_path = config_path
        self.config = config
        self.freeze_heap = freeze_heap  # this process is the daemon: see settle_heap
        self.started = config  # as loaded: what a reload is compared with
        self.lock = StateLock(config.paths.state)
        self.events: queue.Queue[InboxEvent] = queue.Queue()
        self.stopping = threading.Event()
        self.publishing = PublishAfterIngest(lambda: not self.events.empty())
        self.store: Store | None = None
        self.services: CurrentServices | None = None
        self.digests: DigestRuns | None = None
        self.worker: Worker | None = None
        self.observer: BaseObserver | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.site: Site | None = None
        # new versions of the files the server holds, from the publisher (see HandOver)
        self.hand_over = HandOver()
        self.listener: socket.socket | None = None

    def bind(self) -> None:
        """Listen before anything else starts: a taken port is refused in one line, not
        after the start-up scan and publish."""
        server = self.config.server
        self.listener = bind_listener(server.host, server.port)
        if server.port == 0:  # links (when derived from the address) name the port bound
            port = self.listener.getsockname()[1]
            self.config = self.config.with_server(server.model_copy(update={"port": port}))
        for warning in link_warnings(self.config):
            log.warning(warning)

    def start_background(self) -> None:
        config = self.config
        store = self.store = Store.for_config(config)
        self.services = CurrentServices(Services.build(config, store, self.hand_over))
        self.digests = DigestRuns(store, lambda: self.config)
        # The worker's first batch scans the inbox, then rebuilds everything once: templates
        # or the config may have changed since the last run, so the first publish is a full
        # one. Meanwhile the server serves what public/ holds, and signals are answered.
        self.publishing.owed = True
        self.events.put(InboxRequest.STARTUP)
        self.worker = Worker(self.events, self.services, store, self.publishing, self.stopping,
                             after_startup=self._after_startup,
                             after_reload=self._settle if self.freeze_heap else None)
        self.worker.thread.start()
        self.observer = watch_inbox(config.paths.inbox, self.events)
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._schedule(config)
        self.scheduler.start()

    def _schedule(self, config: Config) -> None:
        assert self.scheduler is not None and self.digests is not None
        self.scheduler.add_job(lambda: self.events.put(InboxRequest.RESCAN), "interval",
                               seconds=config.ingest.rescan_seconds, id="rescan",
                               replace_existing=True, coalesce=True, max_instances=1)
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:") and job.id.removeprefix("digest:") \
                    not in config.digests:
                job.remove()
        for name, digest in config.digests.items():
            self.scheduler.add_job(
                partial(log_failures, f"digest {name}",
                        partial(self.digests.run_due_slot, name)),
                cron_trigger(digest), id=f"digest:{name}", replace_existing=True,
                coalesce=True, max_instances=1, misfire_grace_time=digest.grace_seconds)
        self.scheduler.add_job(
            partial(log_failures, "leftover deliveries", self.digests.finish_abandoned),
            "interval", seconds=config.mail.retry_seconds, id="leftovers",
            replace_existing=True, coalesce=True, max_instances=1)
        self._schedule_bounces(config)

    def _schedule_bounces(self, config: Config) -> None:
        """Read the bounce mailbox every bounces.poll_seconds, when one is configured."""
        assert self.scheduler is not None and self.store is not None
        if self.scheduler.get_job("bounces") is not None:
            self.scheduler.remove_job("bounces")
        if config.bounces.reads_mailbox:
            from feeds.digest.returns import process_bounces
            self.scheduler.add_job(
                partial(log_failures, "bounce mailbox", partial(process_bounces, config,
                                                                self.store)),
                "interval", seconds=config.bounces.poll_seconds, id="bounces",
                next_run_time=datetime.now(UTC), coalesce=True, max_instances=1)

    def _after_startup(self, config: Config) -> None:
        """On the worker's thread once the start-up scan is published: a digest slot missed
        while the daemon was down runs once now (if within its grace); then, in the daemon's
        own process, the services warm up (the first article to arrive would otherwise wait
        ~120 ms for the segmenter and the templates) and the heap settles, with them in it."""
        assert self.digests is not None
        for name in self.digests.due_after_downtime(config):
            log_failures(f"digest {name}", partial(self.digests.run_due_slot, name))
        if self.freeze_heap:
            self._settle()

    def _settle(self) -> None:
        """At start, and after a reload on the worker's thread once it has let go of the old
        services: the current services warm up, then the heap is thawed (a no-op at start),
        the old services' garbage collected, and what is left frozen (settle_heap)."""
        assert self.services is not None
        try:
            self.services.get().warm_up()
        finally:
            gc.unfreeze()
            settle_heap()

    def reload(self) -> None:
        """SIGHUP: re-read config.toml; keep the old one when the new one is invalid."""
        try:
            config = check_schedules(load_config(self.config_path))
        except FeedsError as exc:
            log.error("reload refused; the old configuration stays error=%s", exc.message)
            return
        running = self.config
        for key in RESTART_KEYS:
            old, new = _value(self.started, key), _value(config, key)
            if old != new:
                log.warning("reload: this change needs a restart; until then the old value "
                            "stays key=%s old=%s new=%s", key, old, new)
        kept = {"host": running.server.host, "port": running.server.port,
                "idle_timeout_seconds": running.server.idle_timeout_seconds}
        config = config.model_copy(update={"paths": running.paths, "store": running.store}) \
            .with_server(config.server.model_copy(update=kept))
        assert self.store is not None and self.services is not None
        self.services.replace(Services.build(config, self.store, self.hand_over)).close()
        self.config = config
        if self.site is not None:
            self.site.reconfigure(config)
        if self.scheduler is not None:
            self._schedule(config)
        self.events.put(InboxRequest.RECLASSIFY)
        log.info("configuration reloaded path=%s topics=%s", self.config_path,
                 ",".join(config.topics))
        for slug, emails in stranded_subscribers(self.store, config.topics).items():
            log.warning("topic no longer configured: its feeds answer 410 Gone and its "
                        "subscribers get nothing of it topic=%s subscribers=%d", slug, len(emails))

    def stop_background(self) -> None:
        log.info("stopping: watcher")
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=WATCHER_STOP_SECONDS)
        log.info("stopping: worker (the current batch finishes)")
        self.stopping.set()
        if self.worker is not None:
            self.worker.thread.join(timeout=WORKER_STOP_SECONDS)
        log.info("stopping: scheduler")
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.services is not None:
            self.services.get().close()

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
        self.site = site_of(self.config, self.store)
        self.hand_over.attach(self.site.files, loop)
        server = Server(self.site, self.config.server.host, self.config.server.port,
                        listener=self.listener)
        self.listener = None  # the server owns it now
        port = await server.start()
        log.info("feeds running: serving %s, watching %s, state %s",
                 url_of(self.config.server.host, port), self.config.paths.inbox,
                 self.config.paths.state)
        await stop.wait()
        log.info("signal received, shutting down")
        await loop.run_in_executor(None, self.stop_background)
        log.info("stopping: http server")
        await server.stop()


def site_of(config: Config, store: Store) -> Site:
    """The web app, its sign-up form mailing confirmations through the digest's outbox."""
    secret = load_secret(config.paths.state)
    mailer = ConfirmationMailer(config, secret, lambda: datetime.now(UTC))
    return Site(config, store, secret, confirmations=mailer.send)


def settle_heap() -> None:
    """Once start-up is done (modules, templates, models and the first publish's caches all
    loaded, 100,000 objects and more), collect its garbage and move what survived out of the
    cyclic collector's reach (gc.freeze). A full collection otherwise walked all of it each
    time it ran, holding the interpreter for 40-110 ms while an arriving article waited; now
    it walks what the daemon made since (8-16 ms). Only garbage cycles among the frozen
    objects escape collection, and start-up's are collected first; after a reload the worker
    thaws, collects and freezes again (Daemon._settle). Process-wide, so only the daemon's
    own process calls it."""
    gc.collect()
    gc.freeze()
    log.debug("heap settled frozen_objects=%d", gc.get_freeze_count())


def run_daemon(config_path: Path, config: Config) -> None:
    require_inbox(config.paths.inbox)
    daemon = Daemon(config_path, config, freeze_heap=True)
    daemon.lock.acquire()
    try:
        daemon.bind()
    except FeedsError:
        daemon.lock.release()
        raise
    try:
        daemon.start_background()
        uvloop.run(daemon.serve_until_stopped())
    finally:
        if daemon.scheduler is not None and daemon.scheduler.running:
            daemon.stop_background()
        if daemon.listener is not None:
            daemon.listener.close()
        daemon.close()


def run_server(config: Config) -> None:
    """`feeds serve`: HTTP only, until SIGINT/SIGTERM."""
    listener = bind_listener(config.server.host, config.server.port)
    store = Store.for_config(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = Server(site_of(config, store), config.server.host, config.server.port,
                        listener=listener)
        port = await server.start()
        log.info("serving %s from %s", url_of(config.server.host, port), config.paths.public)
        await stop.wait()
        await server.stop()

    try:
        uvloop.run(main())
    finally:
        store.close()
