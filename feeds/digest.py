"""Digests: pick each subscriber's new items, render them once per distinct body, record each
delivery before sending it and mark it after.

Exactly-once in normal operation: a delivery row (subscriber, schedule, run, items, Message-ID)
is written before the message goes out; the subscriber's watermark (the last article sequence
number delivered) moves only after the outbox accepted the message. Messages go out over
`outbox.parallel` connections at once; each waits until its delivery is marked before its
connection takes the next one, and marks arriving together are committed together. So a crash
between the server's acceptance and the row's update can repeat at most one message per
connection on restart, never more.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any
from urllib.parse import urlsplit

import css_inline

from feeds.config import Config, DigestConfig
from feeds.errors import DeliveryError, FeedsError
from feeds.mail import Outbox
from feeds.message import MessageTemplate, Outgoing, Personal
from feeds.models import Delivery, Item, Subscriber
from feeds.render import environment
from feeds.store import Store
from feeds.tokens import sign

log = logging.getLogger(__name__)

_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # C0, C1, line/paragraph separators
RETRY_DELAYS = (0.2, 0.8)  # seconds between attempts at a temporary failure, within a run


def header_text(value: str) -> str:
    """A header value that cannot start another header: control characters become spaces."""
    return _LINE_BREAKS.sub(" ", value).strip()


@dataclass(frozen=True, slots=True)
class DigestEntry:
    title: str
    url: str
    summary: str
    published: datetime
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DigestSection:
    slug: str
    title: str
    entries: tuple[DigestEntry, ...]


@dataclass(slots=True)
class DigestReport:
    planned: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retrying: int = 0
    recipients: list[tuple[str, int]] = field(default_factory=list)  # (email, items)


class Digester:
    def __init__(self, config: Config, store: Store, secret: bytes, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.store = store
        self.secret = secret
        self.clock = clock
        self.sleep = sleep
        assert config.paths.templates is not None
        self.templates = environment(config.paths.templates)
        self.host = urlsplit(config.site.base_url).hostname or "localhost"
        self._bodies: dict[tuple[Any, ...], MessageTemplate] = {}
        self._sections: dict[tuple[Any, ...], list[DigestSection]] = {}
        self._placeholders = Personal.placeholders()

    # --- choosing items -----------------------------------------------------------------
    def sections(self, subscriber: Subscriber, item_ids: Sequence[str]) -> list[DigestSection]:
        """Newest first, grouped by the subscriber's topics; an article in two of them shows
        once; the articles of one story are one entry listing all their sources. Subscribers
        with the same topics and items share one result."""
        key = (subscriber.topics, tuple(item_ids))
        cached = self._sections.get(key)
        if cached is None:
            if len(self._sections) > 1024:
                self._sections.clear()
            cached = self._sections[key] = self._build_sections(subscriber.topics, item_ids)
        return cached

    def _build_sections(self, topics: Sequence[str],
                        item_ids: Sequence[str]) -> list[DigestSection]:
        items = {i.id: i for i in self.store.items(ids=item_ids)}
        stories: dict[str, list[Item]] = {}
        for item in items.values():
            stories.setdefault(item.story_id or item.id, []).append(item)
        placed: set[str] = set()
        sections = []
        for slug in topics:
            topic = self.config.topics.get(slug)
            if topic is None:
                continue
            entries = []
            for members in stories.values():
                lead = max(members, key=lambda i: (i.published, i.id))
                if lead.id in placed or not any(slug in m.topic_slugs for m in members):
                    continue
                placed.add(lead.id)
                sources = tuple(dict.fromkeys(
                    name for m in sorted(members, key=lambda i: i.published)
                    if (name := m.source or m.author)))
                entries.append(DigestEntry(lead.title, f"{self.config.site.base_url}articles/"
                                           f"{lead.id}.html", lead.summary, lead.published,
                                           sources))
            entries.sort(key=lambda e: e.published, reverse=True)
            if entries:
                sections.append(DigestSection(slug, topic.title, tuple(entries)))
        return sections

    def _schedule(self, name: str) -> DigestConfig:
        try:
            return self.config.digests[name]
        except KeyError:
            raise FeedsError(f"no digest schedule named {name!r}",
                             hint=f"configured: {', '.join(self.config.digests) or 'none'}") \
                from None

    # --- rendering ----------------------------------------------------------------------
    def render(self, subscriber: Subscriber, sections: Sequence[DigestSection],
               schedule_name: str, message_id: str) -> Outgoing:
        """The finished message for one subscriber. Each distinct digest is rendered and
        flattened once, with placeholders for what differs per reader (address, date,
        Message-ID, unsubscribe link); each reader's copy replaces them in the bytes. When a
        value or a body cannot go in that way (a non-ASCII address, a line too long for 8-bit
        transfer), the message is built for that reader alone, with the same result."""
        count = sum(len(s.entries) for s in sections)
        key = (schedule_name, tuple((s.slug, s.entries) for s in sections))
        template = self._bodies.get(key)
        if template is None:  # render each distinct digest once
            if len(self._bodies) > 256:
                self._bodies.clear()
            template = self._bodies[key] = self._template(sections, schedule_name, count)
        now = self.clock()
        values = Personal(to=subscriber.email, date=format_datetime(now),
                          message_id=message_id, url=self._unsubscribe_url(subscriber.email))
        return Outgoing(self.config.mail.from_address, subscriber.email,
                        template.copy_for(values))

    def _unsubscribe_url(self, email: str) -> str:
        return f"{self.config.site.base_url}unsubscribe/{sign(self.secret, email)}"

    def _template(self, sections: Sequence[DigestSection], schedule_name: str,
                  count: int) -> MessageTemplate:
        schedule = self._schedule(schedule_name)
        context = {"site": self.config.site, "sections": sections, "count": count,
                   "schedule": schedule_name, "unsubscribe_url": self._placeholders.url,
                   "preheader": "; ".join(e.title for s in sections for e in s.entries)[:140]}
        html = css_inline.inline(self.templates.get_template("digest.html.j2").render(context))
        text = self.templates.get_template("digest.txt.j2").render(context)
        mail = self.config.mail
        stories = f"{count} {'story' if count == 1 else 'stories'}"
        subject = schedule.subject.format(site=self.config.site.title, count=count,
                                          stories=stories, schedule=schedule_name,
                                          date=self.clock().strftime("%d %B %Y"))
        mailto = mail.unsubscribe_mailto or mail.from_address
        return MessageTemplate(
            headers=(
                ("From", formataddr((header_text(mail.from_name), mail.from_address))),
                ("To", self._placeholders.to),
                ("Subject", header_text(subject)),
                ("Date", self._placeholders.date),
                ("Message-ID", self._placeholders.message_id),
                ("List-Id", f"{header_text(self.config.site.title)} {schedule_name} digest "
                            f"<{schedule_name}.{self.host}>"),
                ("List-Unsubscribe",
                 f"<{self._placeholders.url}>, <mailto:{mailto}?subject=unsubscribe>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")),
            text=text, html=html, placeholders=self._placeholders)

    # --- runs ---------------------------------------------------------------------------
    def plan(self, schedule_name: str, run: str, *, dry_run: bool = False) -> DigestReport:
        """Write a pending delivery for every active subscriber with enough new items."""
        schedule = self._schedule(schedule_name)
        report = DigestReport()
        upto = self.store.max_seq()
        marks = self.store.watermarks(schedule_name)
        found: dict[tuple[Any, ...], list[str]] = {}
        planned: list[tuple[str, Sequence[str], int, str]] = []
        for subscriber in self.store.subscribers(schedule=schedule_name, status="active"):
            after = marks.get(subscriber.email, 0)
            key = (subscriber.topics, after)
            if key not in found:
                found[key] = self.store.digest_item_ids(subscriber.topics, after, upto)
            ids = found[key]
            truncated = len(ids) > schedule.max_items
            if truncated:  # the oldest first; the rest waits for the next digest
                ids = ids[:schedule.max_items]
            count = sum(len(s.entries) for s in self.sections(subscriber, ids))
            if count < max(1, schedule.min_items):
                report.skipped += 1
                continue
            report.recipients.append((subscriber.email, count))
            planned.append((subscriber.email, ids,
                            self.store.seq_of(ids[-1]) if truncated else upto,
                            make_msgid(idstring=schedule_name, domain=self.host)))
        if dry_run:
            report.planned = len(planned)
        else:
            report.planned = self.store.create_deliveries(schedule_name, run, planned,
                                                          self.clock())
        return report

    def deliver(self, outbox: Outbox, schedule: str | None = None) -> DigestReport:
        """Send every pending delivery (this run's and any left by an earlier one) that no
        other daemon holds, each at most once in this call: a batch is claimed at a time and
        sent over `outbox.parallel` connections; a temporary failure waits for a later call."""
        report = DigestReport()
        people = {s.email: s for s in self.store.subscribers()}
        lanes = max(1, outbox.parallel)
        after = 0
        with self.store.sent_marks() as mark_sent, \
                ThreadPoolExecutor(lanes, thread_name_prefix="digest-send") as pool:
            marks = _Marks(mark_sent, self.clock)
            while True:
                with self.store.claims() as claims:
                    batch = self.store.claim_deliveries(claims, after_id=after,
                                                        schedule=schedule, limit=50 * lanes)
                    if not batch:
                        return report
                    after = batch[-1].id
                    outcomes = self._send_batch(pool, lanes, outbox, batch, people, marks)
                report.sent += outcomes["sent"]
                report.failed += outcomes["failed"]
                report.retrying += outcomes["retrying"]
                report.skipped += outcomes["skipped"]

    def _send_batch(self, pool: ThreadPoolExecutor, lanes: int, outbox: Outbox,
                    batch: Sequence[Delivery], people: dict[str, Subscriber],
                    marks: _Marks) -> Counter[str]:
        """Each of `lanes` threads sends the batch's next delivery until none is left, or
        until one of them fails (a database error): then the others stop too. Returns once
        every lane has stopped, so the batch's claims are held while any of it is sent."""
        waiting = iter(batch)
        taking = threading.Lock()
        failed = threading.Event()

        def lane() -> Counter[str]:
            outcomes: Counter[str] = Counter()
            while not failed.is_set():
                with taking:
                    delivery = next(waiting, None)
                if delivery is None:
                    break
                try:
                    outcomes[self._deliver_one(outbox, delivery, people, marks)] += 1
                except BaseException:
                    failed.set()
                    raise
            return outcomes

        running = [pool.submit(lane) for _ in range(lanes)]
        wait(running)
        return sum((f.result() for f in running), Counter())

    def _deliver_one(self, outbox: Outbox, delivery: Delivery, people: dict[str, Subscriber],
                     marks: _Marks) -> str:
        """Send one delivery; what became of it: "sent", "failed", "retrying" or "skipped"."""
        subscriber = people.get(delivery.subscriber)
        if subscriber is None or subscriber.status != "active":
            self.store.record_failure(delivery, "subscriber is no longer active",
                                      permanent=True, now=self.clock())
            return "skipped"
        message = self.render(subscriber, self.sections(subscriber, delivery.item_ids),
                              delivery.schedule, delivery.message_id)
        for delay in (*RETRY_DELAYS, None):
            try:
                outbox.send(message)
            except DeliveryError as exc:
                if exc.permanent or delay is None:
                    self.store.record_failure(delivery, exc.message, permanent=exc.permanent,
                                              now=self.clock())
                    log.warning("delivery failed to=%s permanent=%s error=%s",
                                delivery.subscriber, exc.permanent, exc.message)
                    return "failed" if exc.permanent else "retrying"
                self.sleep(delay)
                continue
            marks.mark(delivery)
            return "sent"
        raise AssertionError("the last attempt returns")

    def run(self, schedule_name: str, run: str, outbox: Outbox, *,
            dry_run: bool = False) -> DigestReport:
        started = self.clock()
        report = self.plan(schedule_name, run, dry_run=dry_run)
        if not dry_run:
            sent = self.deliver(outbox, schedule_name)
            report.sent, report.failed, report.retrying = sent.sent, sent.failed, sent.retrying
            self.store.record_run("digest", started, self.clock(), not report.failed, {
                "schedule": schedule_name, "run": run, "sent": report.sent,
                "failed": report.failed, "retrying": report.retrying,
                "skipped": report.skipped})
        log.info("digest run schedule=%s run=%s planned=%d sent=%d failed=%d retrying=%d "
                 "skipped=%d dry_run=%s", schedule_name, run, report.planned, report.sent,
                 report.failed, report.retrying, report.skipped, dry_run)
        return report

    def preview(self, email: str) -> Outgoing:
        subscriber = self.store.subscriber(email)
        if subscriber is None:
            raise FeedsError(f"no subscriber {email}", hint="see `feeds subscribers list`")
        ids = self.store.digest_item_ids(subscriber.topics, self.store.watermark(email),
                                         self.store.max_seq())
        sections = self.sections(subscriber, ids)
        return self.render(subscriber, sections, subscriber.schedule,
                           make_msgid(idstring="preview", domain=self.host))


class _Marks:
    """Group commit of sent deliveries. A sender waits until its own delivery is marked;
    whoever finds no commit running commits every mark waiting, so senders on several
    connections share transactions, and one sender alone commits each mark by itself."""

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

    def mark(self, delivery: Delivery) -> None:
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
