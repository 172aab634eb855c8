"""Running digest slots inside a daemon: the claim around each slot, catch-up after downtime,
and the deliveries a daemon that died left behind."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from feeds.config import Config
from feeds.digest import Digester
from feeds.digest.schedule import latest_slot, missed_slots
from feeds.mail import Outbox, open_outbox
from feeds.store import Store
from feeds.tokens import load_secret

log = logging.getLogger("feeds.digest")

class DigestRuns:
    """Runs digest slots for one daemon; the store's slot claims keep daemons sharing it from
    sending one slot twice. `config` is called each time, so a reload takes effect."""

    def __init__(self, store: Store, config: Callable[[], Config]) -> None:
        self.store = store
        self.config = config
        self.sending = threading.Lock()  # one digest job at a time in this daemon

    def run_due_slot(self, name: str) -> None:
        """Run the schedule's latest due slot, once: the store's claim decides."""
        config = self.config()
        digest = config.digests.get(name)
        if digest is None:
            return
        slot = latest_slot(digest, datetime.now(UTC))
        if slot is not None:
            self.run_slot(config, name, slot.isoformat())

    def run_slot(self, config: Config, name: str, slot: str) -> None:
        with self.sending, self.store.claims() as claims:
            if not self.store.claim_slot(claims, name, slot, datetime.now(UTC)):
                return
            try:
                with self._digester(config) as (digester, outbox):
                    digester.run(name, f"{name}@{slot}", outbox)
            finally:
                self.store.finish_slot(name, slot, datetime.now(UTC))

    @contextmanager
    def _digester(self, config: Config) -> Iterator[tuple[Digester, Outbox]]:
        outbox = open_outbox(config.smtp, config.paths.state)
        try:
            yield Digester(config, self.store, load_secret(config.paths.state)), outbox
        finally:
            outbox.close()

    def finish_abandoned(self) -> None:
        """Finish what a daemon that died left (slots it never finished, deliveries it held)
        and retry temporary failures. Skipped while this daemon is sending a digest."""
        config = self.config()
        for name, slot in self.store.unfinished_slots():
            if name in config.digests:
                self.run_slot(config, name, slot)
        if not self.sending.acquire(blocking=False):
            return
        try:
            self._send_pending(config)
        finally:
            self.sending.release()

    def _send_pending(self, config: Config) -> None:
        if self.store.pending_count():
            with self._digester(config) as (digester, outbox):
                report = digester.deliver(outbox)
            if report.sent or report.failed or report.retrying:
                log.info("leftover deliveries sent=%d failed=%d retrying=%d", report.sent,
                         report.failed, report.retrying)

    def due_after_downtime(self, config: Config) -> list[str]:
        """The schedules whose slot was missed while the daemon was down and is still within
        its grace. A schedule that never ran here is left out: a new installation does not
        send at once."""
        due = []
        for name, slot in missed_slots(config.digests, self.store, datetime.now(UTC)):
            log.info("digest catch-up check schedule=%s slot=%s", name, slot.isoformat())
            due.append(name)
        return due
