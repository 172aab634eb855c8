"""Digests: pick each subscriber's new items, render them once per distinct body, record each
delivery before sending it and mark it after.

Exactly-once in normal operation: a delivery row (subscriber, schedule, run, items, Message-ID)
is written before the message goes out (`planning`); the subscriber's watermark (the last
article sequence number delivered) moves only after the outbox accepted the message
(`sending`). `selection` picks the items, `render` builds the message, `schedule` says when.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import make_msgid

from feeds.config import Config
from feeds.cron import cron_trigger
from feeds.digest.planning import DigestReport, plan_deliveries
from feeds.digest.render import DigestRenderer, header_text
from feeds.digest.schedule import latest_slot, missed_slots, schedule_named
from feeds.digest.selection import DigestEntry, DigestSection, Selection, entry_count
from feeds.digest.sending import RETRY_DELAYS, DeliverySender, GroupCommit
from feeds.errors import FeedsError
from feeds.mail import Outbox, Outgoing
from feeds.models import Subscriber
from feeds.store import Store

__all__ = [
    "RETRY_DELAYS", "DeliverySender", "DigestEntry", "DigestRenderer", "DigestReport",
    "DigestSection", "Digester", "GroupCommit", "Selection", "cron_trigger", "header_text",
    "latest_slot", "missed_slots", "plan_deliveries", "schedule_named",
]

log = logging.getLogger(__name__)


class Digester:
    """A digest run in order: plan the deliveries, send them, record the run."""

    def __init__(self, config: Config, store: Store, secret: bytes, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.selection = Selection(config, store)
        self.renderer = DigestRenderer(config, secret, clock)
        self.sender = DeliverySender(store, self.selection, self.renderer, clock, sleep)

    def sections(self, subscriber: Subscriber, item_ids: Sequence[str]) -> list[DigestSection]:
        return self.selection.sections(subscriber, item_ids)

    def render(self, subscriber: Subscriber, sections: Sequence[DigestSection],
               schedule_name: str, message_id: str) -> Outgoing:
        return self.renderer.render(subscriber, sections, schedule_name, message_id)

    def plan(self, schedule_name: str, run: str, *, dry_run: bool = False) -> DigestReport:
        """Write a pending delivery for every active subscriber with enough new items."""
        return plan_deliveries(self.config, self.store, self.selection, schedule_name, run,
                               host=self.renderer.host, clock=self.clock, dry_run=dry_run)

    def deliver(self, outbox: Outbox, schedule: str | None = None) -> DigestReport:
        """Send every pending delivery no other daemon holds (see `DeliverySender.deliver`)."""
        return self.sender.deliver(outbox, schedule)

    def run(self, schedule_name: str, run: str, outbox: Outbox, *,
            dry_run: bool = False) -> DigestReport:
        started = self.clock()
        report = self.plan(schedule_name, run, dry_run=dry_run)
        if not dry_run:
            sent = self.deliver(outbox, schedule_name)
            report.sent, report.failed, report.retrying = sent.sent, sent.failed, sent.retrying
            report.stopped = sent.stopped
            self.store.record_run("digest", started, self.clock(),
                                  not report.failed and report.stopped is None, {
                "schedule": schedule_name, "run": run, "sent": report.sent,
                "failed": report.failed, "retrying": report.retrying,
                "skipped": report.skipped})
        log.info("digest run schedule=%s run=%s planned=%d sent=%d failed=%d retrying=%d "
                 "skipped=%d dry_run=%s", schedule_name, run, report.planned, report.sent,
                 report.failed, report.retrying, report.skipped, dry_run)
        return report

    def preview(self, email: str) -> tuple[Outgoing, str | None]:
        """The subscriber's next digest, and why it would not be sent now (None: it would)."""
        with self.store.read() as tx:
            subscriber = tx.subscriber_by_address(email)
        if subscriber is None:
            raise FeedsError(f"no subscriber {email}", hint="see `feeds subscribers list`")
        ids = self.store.digest_item_ids(subscriber.topics,
                                         self.store.watermark(subscriber.email),
                                         self.store.max_seq())
        sections = self.sections(subscriber, ids)
        outgoing = self.render(subscriber, sections, subscriber.schedule,
                               make_msgid(idstring="preview", domain=self.renderer.host))
        schedule = self.config.digests.get(subscriber.schedule)
        count, least = entry_count(sections), max(1, schedule.min_items if schedule else 1)
        held = None
        if subscriber.status != "active":
            held = f"{subscriber.email} is {subscriber.status}"
        elif schedule is None:
            held = f"their schedule {subscriber.schedule!r} is not configured"
        elif count < least:
            held = ("it is empty: nothing new in their topics" if not count else
                    f"it holds {count} of the schedule's min_items = {least}")
        return outgoing, held
