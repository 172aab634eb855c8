"""Sending planned deliveries: claimed a batch at a time, over `outbox.parallel` threads, each
marked sent only after the outbox accepted it, a temporary failure retried within the run and
then left for a later one.

A crash between the server's acceptance and the mark can repeat at most one message per
connection on restart: each sender waits until its delivery is marked before it takes the next.
So can a message whose end got no reply (it may have arrived): it waits for the next run
instead of being sent again at once. A server that cannot be reached, or refuses the login,
stops the run: every other message would fail the same way, and each attempt would be one
more refused login on the account.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime

from feeds.digest.planning import DigestReport
from feeds.digest.render import DigestRenderer
from feeds.digest.selection import Selection
from feeds.errors import DeliveryError
from feeds.mail import Outbox
from feeds.models import Delivery, Subscriber
from feeds.store import Store

log = logging.getLogger(__name__)

RETRY_DELAYS = (0.2, 0.8)  # seconds between attempts at a temporary failure, within a run
CLAIMS_PER_SENDER = 50  # deliveries claimed per sending thread at a time


class GroupCommit:
    """Commits sent marks in groups. A sender waits until its own delivery is marked; whoever
    finds no commit running commits every mark waiting, so senders on several connections
    share transactions, and one sender alone commits each mark by itself."""

    def __init__(self, mark_sent: Callable[[Sequence[Delivery], datetime], None],
                 clock: Callable[[], datetime]) -> None:
        self.mark_sent = mark_sent
        self.clock = clock
        self._changed = threading.Condition()
        self._waiting: list[Delivery] = []
        self._group = 0  # the group new marks join
        self._done = -1  # the last group committed
        self._busy = False
        self._broken: BaseException | None = None

    def commit(self, delivery: Delivery) -> None:
        """Returns once the delivery's sent mark is committed (by this sender or another)."""
        with self._changed:
            self._waiting.append(delivery)
            group = self._group
            while self._done < group and self._busy and self._broken is None:
                self._changed.wait()
            if self._done >= group:
                return  # committed by another sender
            if self._broken is not None:
                raise self._broken
            self._busy = True  # no commit running: this sender commits every mark waiting
            batch, self._waiting = self._waiting, []
            self._group += 1
        try:
            self.mark_sent(batch, self.clock())
        except BaseException as exc:
            with self._changed:
                self._broken = exc
                self._busy = False
                self._changed.notify_all()
            raise
        with self._changed:
            self._done = group
            self._busy = False
            self._changed.notify_all()


class DeliverySender:
    def __init__(self, store: Store, selection: Selection, renderer: DigestRenderer,
                 clock: Callable[[], datetime], sleep: Callable[[float], None]) -> None:
        self.store = store
        self.selection = selection
        self.renderer = renderer
        self.clock = clock
        self.sleep = sleep
        self._stopped_by: DeliveryError | None = None  # this call's first "unreachable"
        self._stopping = threading.Lock()

    def deliver(self, outbox: Outbox, schedule: str | None = None) -> DigestReport:
        """Send every pending delivery (this run's and any left by an earlier one) that no
        other daemon holds, each at most once in this call: a batch is claimed at a time and
        sent over `outbox.parallel` connections; a temporary failure waits for a later call."""
        report = DigestReport()
        self._stopped_by = None
        people = {s.email: s for s in self.store.subscribers()}
        lanes = max(1, outbox.parallel)
        after = 0
        with self.store.sent_marks() as mark_sent, \
                ThreadPoolExecutor(lanes, thread_name_prefix="digest-send") as pool:
            marks = GroupCommit(mark_sent, self.clock)
            while True:
                with self.store.claims() as claims:
                    batch = self.store.claim_deliveries(
                        claims, after_id=after, schedule=schedule,
                        limit=CLAIMS_PER_SENDER * lanes)
                    if not batch:
                        return report
                    after = batch[-1].id
                    outcomes = self.send_batch(pool, lanes, outbox, batch, people, marks)
                report.sent += outcomes["sent"]
                report.failed += outcomes["failed"]
                report.retrying += outcomes["retrying"] + outcomes["unreachable"]
                report.skipped += outcomes["skipped"]
                if outcomes["unreachable"]:
                    left = self.store.pending_count()
                    why = f" ({self._stopped_by.message})" if self._stopped_by else ""
                    report.stopped = (f"the mail server cannot be reached or refused the "
                                      f"login{why}; {left} deliveries wait for the next run")
                    log.warning("sending stopped: %s", report.stopped)
                    return report

    def send_batch(self, pool: ThreadPoolExecutor, lanes: int, outbox: Outbox,
                   batch: Sequence[Delivery], people: dict[str, Subscriber],
                   marks: GroupCommit) -> Counter[str]:
        """Each of `lanes` threads sends the batch's next subscriber's deliveries until none is
        left, or until one of them fails (a database error) or finds the server unreachable:
        then the others stop too, and what was not tried stays pending ("retrying").
        Returns once every lane has stopped, so the batch's claims are held while any of it
        is sent. Counts are per delivery."""
        waiting = iter(by_subscriber(batch))
        taking = threading.Lock()
        stop = threading.Event()

        def lane() -> Counter[str]:
            outcomes: Counter[str] = Counter()
            while not stop.is_set():
                with taking:
                    group = next(waiting, None)
                if group is None:
                    break
                try:
                    outcome = self.send_one(outbox, group, people, marks)
                except BaseException:
                    stop.set()
                    raise
                outcomes[outcome] += len(group)
                if outcome == "unreachable":
                    stop.set()
            return outcomes

        running = [pool.submit(lane) for _ in range(lanes)]
        wait(running)
        outcomes = sum((f.result() for f in running), Counter())
        outcomes["retrying"] += sum(len(group) for group in waiting)  # not tried: pending
        return outcomes

    def _first_to_stop(self, exc: DeliveryError) -> bool:
        """Keep the first server failure of this call (the reason the run stops); True for
        the sender that met it first."""
        with self._stopping:
            if self._stopped_by is not None:
                return False
            self._stopped_by = exc
            return True

    def send_one(self, outbox: Outbox, group: Sequence[Delivery],
                 people: dict[str, Subscriber], marks: GroupCommit) -> str:
        """Send one subscriber's pending deliveries as one message (several wait together
        after a temporary failure cleared: the reader gets one digest, not one per run);
        what became of them: "sent", "failed", "retrying", "unreachable" (the server: they
        wait, like "retrying") or "skipped"."""
        last = group[-1]
        subscriber = people.get(last.subscriber)
        if subscriber is None or subscriber.status != "active":
            for delivery in group:
                self.store.record_failure(delivery, "subscriber is no longer active",
                                          permanent=True, now=self.clock())
            return "skipped"
        items = list(dict.fromkeys(i for d in group for i in d.item_ids))
        message = self.renderer.render(subscriber, self.selection.sections(subscriber, items),
                                       last.schedule, last.message_id)
        for delay in (*RETRY_DELAYS, None):
            try:
                outbox.send(message)
            except DeliveryError as exc:
                # not again at once: refused for good, perhaps delivered, or the server down
                if exc.permanent or exc.uncertain or exc.unreachable or delay is None:
                    with self.store.write() as tx:
                        tx.record_merged_failure(group, exc.message, permanent=exc.permanent,
                                                 now=self.clock())
                    if not exc.unreachable or self._first_to_stop(exc):  # the server's
                        # failure is said once, not by every sender it reached
                        log.warning("delivery failed to=%s permanent=%s error=%s%s",
                                    last.subscriber, exc.permanent, exc.message,
                                    f" hint={exc.hint}" if exc.hint else "")
                    return ("failed" if exc.permanent else
                            "unreachable" if exc.unreachable else "retrying")
                self.sleep(delay)
                continue
            for delivery in group:
                marks.commit(delivery)
            if len(group) > 1:
                log.info("pending digests merged to=%s deliveries=%d", last.subscriber,
                         len(group))
            return "sent"
        raise AssertionError("the last attempt returns")


def by_subscriber(batch: Sequence[Delivery]) -> list[list[Delivery]]:
    """The batch's deliveries grouped by subscriber, in the order each first appears."""
    groups: dict[str, list[Delivery]] = {}
    for delivery in batch:
        groups.setdefault(delivery.subscriber, []).append(delivery)
    return list(groups.values())
