"""Named queries for digest runs (one per schedule slot) and deliveries.

A delivery row is written before a message is sent and marked after; a subscriber's watermark
moves only when a send succeeded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from feeds.models import Delivery
from feeds.store.engine import Queries, Steps
from feeds.store.schema import deliveries, digest_runs, subscribers

PAUSE_AFTER_HARD_FAILURES = 3

# Marking a delivery sent runs once per message: its two statements are built once.
_MARK_SENT = deliveries.update().where(deliveries.c.id == sa.bindparam("delivery")).values(
    status="sent", finished=sa.bindparam("now"), attempts=deliveries.c.attempts + 1,
    error=None)
_MOVE_WATERMARK = subscribers.update().where(
    subscribers.c.email == sa.bindparam("subscriber")).values(
    hard_failures=0, soft_bounces=0, watermark=sa.case(  # the greater one
        (subscribers.c.watermark < sa.bindparam("watermark"), sa.bindparam("watermark")),
        else_=subscribers.c.watermark))


def marking_sent(sent: Sequence[Delivery], now: datetime) -> Steps:
    """The steps of one transaction that marks these deliveries sent and moves their
    subscribers' watermarks (for Database.direct_writes). Rows in key order: two daemons'
    transactions then lock the rows they share in one order, never waiting on each other."""
    sent = sorted(sent, key=lambda d: d.id)
    return [(_MARK_SENT, [{"delivery": d.id, "now": now} for d in sent]),
            (_MOVE_WATERMARK, [{"subscriber": d.subscriber, "watermark": d.watermark}
                               for d in sorted(sent, key=lambda d: d.subscriber)])]


class DeliveryReads(Queries):
    def unfinished_slots(self) -> list[tuple[str, str]]:
        """(schedule, slot) of runs started and never finished (running, or their runner
        died)."""
        return [(str(a), str(b)) for a, b in self.conn.execute(
            sa.select(digest_runs.c.schedule, digest_runs.c.slot).where(
                digest_runs.c.finished.is_(None)))]

    def last_slot(self, schedule: str) -> str | None:
        return self.conn.execute(sa.select(sa.func.max(digest_runs.c.slot))
                                 .where(digest_runs.c.schedule == schedule)).scalar()

    def pending_ids(self, *, after_id: int, schedule: str | None, limit: int) -> list[int]:
        """Up to `limit` pending deliveries past `after_id`, in id order."""
        pending = (sa.select(deliveries.c.id).where(deliveries.c.status == "pending",
                                                    deliveries.c.id > after_id)
                   .order_by(deliveries.c.id))
        if schedule is not None:
            pending = pending.where(deliveries.c.schedule == schedule)
        return [int(i) for i in self.conn.execute(pending.limit(limit)).scalars()]

    def pending_deliveries(self, ids: Sequence[int]) -> list[Delivery]:
        """Those of these deliveries still pending, in id order."""
        if not ids:
            return []
        return [delivery_of(row) for row in self.conn.execute(
            sa.select(deliveries).where(deliveries.c.id.in_(list(ids)),
                                        deliveries.c.status == "pending")
            .order_by(deliveries.c.id))]

    def deliveries(self, subscriber: str | None = None) -> list[Delivery]:
        query = sa.select(deliveries).order_by(deliveries.c.id)
        if subscriber is not None:
            query = query.where(deliveries.c.subscriber == subscriber)
        return [delivery_of(row) for row in self.conn.execute(query)]

    def pending_count(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(deliveries)
                                     .where(deliveries.c.status == "pending")).scalar() or 0)

    def delivery_counts(self) -> dict[str, int]:
        rows = self.conn.execute(sa.select(deliveries.c.status, sa.func.count())
                                 .group_by(deliveries.c.status)).all()
        return {str(status): int(count) for status, count in rows}


class DeliveryWrites(DeliveryReads):
    def start_slot(self, schedule: str, slot: str, now: datetime) -> bool:
        """Record the slot's run as started; False when it has finished already. One whose
        runner died before finishing runs again, which is safe, since planning skips
        subscribers who already have this run's delivery."""
        seen = self.conn.execute(sa.select(digest_runs).where(
            digest_runs.c.schedule == schedule, digest_runs.c.slot == slot)).first()
        if seen is None:
            self.conn.execute(digest_runs.insert().values(schedule=schedule, slot=slot,
                                                          started=now))
            return True
        return seen.finished is None

    def finish_slot(self, schedule: str, slot: str, now: datetime) -> None:
        self.conn.execute(digest_runs.update().where(digest_runs.c.schedule == schedule,
                                                     digest_runs.c.slot == slot)
                          .values(finished=now))

    def create_deliveries(self, schedule: str, run: str,
                          planned: Sequence[tuple[str, Sequence[str], int, str]],
                          now: datetime) -> int:
        """Record digests before they are sent: (subscriber, items, watermark, Message-ID)
        each. A subscriber who already has one for this run is left alone. Returns how many
        were recorded."""
        done = set(self.conn.execute(sa.select(deliveries.c.subscriber).where(
            deliveries.c.schedule == schedule, deliveries.c.run == run)).scalars())
        rows = [dict(subscriber=email, schedule=schedule, run=run,
                     items=json.dumps(list(items)), watermark=mark, message_id=message_id,
                     status="pending", attempts=0, created=now)
                for email, items, mark, message_id in planned if email not in done]
        if rows:
            self.conn.execute(deliveries.insert(), rows)
        return len(rows)

    def record_failure(self, delivery: Delivery, error: str, *, permanent: bool,
                       now: datetime) -> None:
        """A temporary failure stays pending (retried later); a permanent one is final for
        this message, its items stay undelivered, and repeated ones pause the subscriber."""
        conn = self.conn
        conn.execute(deliveries.update().where(deliveries.c.id == delivery.id).values(
            status="failed" if permanent else "pending", error=error[:1000],
            attempts=deliveries.c.attempts + 1, finished=now if permanent else None))
        if permanent:
            conn.execute(subscribers.update().where(
                subscribers.c.email == delivery.subscriber).values(
                hard_failures=subscribers.c.hard_failures + 1))
            conn.execute(subscribers.update().where(
                subscribers.c.email == delivery.subscriber,
                subscribers.c.hard_failures >= PAUSE_AFTER_HARD_FAILURES,
                subscribers.c.status == "active").values(status="paused"))


    def record_merged_failure(self, group: Sequence[Delivery], error: str, *, permanent: bool,
                              now: datetime) -> None:
        """The failure of one message that carried several deliveries: each is marked as
        `record_failure` marks one, and the subscriber counts one hard failure, not one per
        delivery."""
        first, *rest = group
        self.record_failure(first, error, permanent=permanent, now=now)
        if rest:
            self.conn.execute(deliveries.update().where(
                deliveries.c.id.in_([d.id for d in rest])).values(
                status="failed" if permanent else "pending", error=error[:1000],
                attempts=deliveries.c.attempts + 1, finished=now if permanent else None))


def delivery_of(row: Any) -> Delivery:
    data = row._mapping
    return Delivery(id=int(data["id"]), subscriber=str(data["subscriber"]),
                    schedule=str(data["schedule"]), run=str(data["run"]),
                    item_ids=tuple(json.loads(str(data["items"]))),
                    watermark=int(data["watermark"]), message_id=str(data["message_id"]),
                    status=str(data["status"]), attempts=int(data["attempts"]),
                    error=data["error"])
