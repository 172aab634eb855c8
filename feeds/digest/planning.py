"""Planning a digest run: a pending delivery row for every active subscriber with enough new
items, written before anything is sent, so a crash loses no item."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import make_msgid
from typing import Any

from feeds.config import Config
from feeds.digest.schedule import schedule_named
from feeds.digest.selection import Selection, entry_count
from feeds.models import Subscriber
from feeds.store import Store


@dataclass(slots=True)
class DigestReport:
    planned: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retrying: int = 0
    stopped: str | None = None  # why sending stopped early (the mail server unreachable)
    recipients: list[tuple[str, int]] = field(default_factory=list)  # (email, items)
    nothing_new: list[tuple[str, str]] = field(default_factory=list)  # (email, why)


def nothing_new_reason(subscriber: Subscriber, after: int, count: int, min_items: int) -> str:
    """Why a subscriber gets no digest this run, in the words `--dry-run` shows."""
    topics = ", ".join(subscriber.topics)
    if count:
        return f"only {count} new in {topics}; the schedule sends from min_items = {min_items}"
    if after <= subscriber.watermark:
        return (f"nothing in {topics} stored since their last digest or since they subscribed "
                f"on {subscriber.created:%Y-%m-%d %H:%M} UTC (only articles stored after "
                "subscribing count)")
    return f"nothing new in {topics} beyond the digest waiting to be sent"


def plan_deliveries(config: Config, store: Store, selection: Selection, schedule_name: str,
                    run: str, *, host: str, clock: Callable[[], datetime],
                    dry_run: bool = False) -> DigestReport:
    """Write a pending delivery for every active subscriber with enough new items; with
    `dry_run`, only count them."""
    schedule = schedule_named(config, schedule_name)
    report = DigestReport()
    upto = store.max_seq()
    marks = store.watermarks(schedule_name)
    found: dict[tuple[Any, ...], list[str]] = {}
    planned: list[tuple[str, Sequence[str], int, str]] = []
    for subscriber in store.subscribers(schedule=schedule_name, status="active"):
        after = marks.get(subscriber.email, 0)
        key = (subscriber.topics, after)
        if key not in found:  # readers of the same topics since the same item share a query
            found[key] = store.digest_item_ids(subscriber.topics, after, upto)
        ids = found[key]
        truncated = len(ids) > schedule.max_items
        if truncated:  # the oldest first; the rest waits for the next digest
            ids = ids[:schedule.max_items]
        count = entry_count(selection.sections(subscriber, ids))
        if count < max(1, schedule.min_items):
            report.skipped += 1
            report.nothing_new.append((subscriber.email, nothing_new_reason(
                subscriber, after, count, max(1, schedule.min_items))))
            continue
        report.recipients.append((subscriber.email, count))
        planned.append((subscriber.email, ids,
                        store.seq_of(ids[-1]) if truncated else upto,
                        make_msgid(idstring=schedule_name, domain=host)))
    if dry_run:
        report.planned = len(planned)
    else:
        report.planned = store.create_deliveries(schedule_name, run, planned, clock())
    return report
