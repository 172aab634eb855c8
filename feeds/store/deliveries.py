"""Named queries for subscribers, digest runs and deliveries (mixed into Store).

A delivery row is written before a message is sent and marked after; a subscriber's watermark
(the last article sequence number delivered) moves only when a send succeeded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feeds.models import Delivery, Subscriber
from feeds.store.claims import CLAIM_DELIVERY, CLAIM_SLOT, Claims, claim_key
from feeds.store.schema import (
    article_seq,
    article_topics,
    deliveries,
    digest_runs,
    subscribers,
)

PAUSE_AFTER_HARD_FAILURES = 3

# a transaction's work: (statement, the rows to run it for) in turn
Steps = Sequence[tuple[Any, list[dict[str, Any]]]]

# Marking a delivery sent runs once per message: its two statements are built once.
_MARK_SENT = deliveries.update().where(deliveries.c.id == sa.bindparam("delivery")).values(
    status="sent", finished=sa.bindparam("now"), attempts=deliveries.c.attempts + 1,
    error=None)
_MOVE_WATERMARK = subscribers.update().where(
    subscribers.c.email == sa.bindparam("subscriber")).values(
    hard_failures=0, watermark=sa.case(  # the greater one
        (subscribers.c.watermark < sa.bindparam("watermark"), sa.bindparam("watermark")),
        else_=subscribers.c.watermark))


class DeliveryQueries:
    def write(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def claims(self) -> AbstractContextManager[Claims]:
        raise NotImplementedError

    # --- subscribers --------------------------------------------------------------------
    def add_subscriber(self, email: str, topics: Sequence[str], schedule: str,
                       now: datetime) -> str:
        """Add, or update and reactivate; returns "added" or "updated"."""
        values = {"topics": json.dumps(list(topics)), "schedule": schedule, "status": "active",
                  "hard_failures": 0}
        with self.write() as conn:
            done = conn.execute(subscribers.update().where(subscribers.c.email == email)
                                .values(**values))
            if done.rowcount:
                return "updated"
            # A new subscriber starts from now: the next digest holds what arrives from here.
            start = conn.execute(sa.select(sa.func.max(article_seq.c.seq))).scalar() or 0
            conn.execute(subscribers.insert().values(email=email, created=now, watermark=start,
                                                     **values))
            return "added"

    def remove_subscriber(self, email: str) -> bool:
        with self.write() as conn:
            return bool(conn.execute(subscribers.delete().where(subscribers.c.email == email))
                        .rowcount)

    def set_subscriber_status(self, email: str, status: str) -> bool:
        with self.write() as conn:
            return bool(conn.execute(subscribers.update().where(subscribers.c.email == email)
                                     .values(status=status)).rowcount)

    def set_subscriber_topics(self, email: str, topics: Sequence[str]) -> bool:
        with self.write() as conn:
            return bool(conn.execute(subscribers.update().where(subscribers.c.email == email)
                                     .values(topics=json.dumps(list(topics)))).rowcount)

    def subscribers(self, *, schedule: str | None = None,
                    status: str | None = None) -> list[Subscriber]:
        query = sa.select(subscribers).order_by(subscribers.c.email)
        if schedule is not None:
            query = query.where(subscribers.c.schedule == schedule)
        if status is not None:
            query = query.where(subscribers.c.status == status)
        with self.read() as conn:
            return [_subscriber(row) for row in conn.execute(query)]

    def subscriber(self, email: str) -> Subscriber | None:
        with self.read() as conn:
            row = conn.execute(sa.select(subscribers).where(subscribers.c.email == email)).first()
        return _subscriber(row) if row else None

    def watermark(self, email: str) -> int:
        """Where the next digest starts: past everything sent or waiting to be sent."""
        with self.read() as conn:
            mark = conn.execute(sa.select(subscribers.c.watermark)
                                .where(subscribers.c.email == email)).scalar() or 0
            pending = conn.execute(sa.select(sa.func.max(deliveries.c.watermark)).where(
                deliveries.c.subscriber == email, deliveries.c.status == "pending")).scalar()
        return max(int(mark), int(pending or 0))

    def watermarks(self, schedule: str) -> dict[str, int]:
        """`watermark` for every subscriber of a schedule, in two queries."""
        with self.read() as conn:
            marks = {str(email): int(mark) for email, mark in conn.execute(
                sa.select(subscribers.c.email, subscribers.c.watermark)
                .where(subscribers.c.schedule == schedule))}
            for email, mark in conn.execute(
                    sa.select(deliveries.c.subscriber, sa.func.max(deliveries.c.watermark))
                    .where(deliveries.c.status == "pending", deliveries.c.schedule == schedule)
                    .group_by(deliveries.c.subscriber)):
                if email in marks and mark is not None:
                    marks[email] = max(marks[email], int(mark))
        return marks

    # --- items --------------------------------------------------------------------------
    def max_seq(self) -> int:
        with self.read() as conn:
            return int(conn.execute(sa.select(sa.func.max(article_seq.c.seq))).scalar() or 0)

    def seq_of(self, article_id: str) -> int:
        with self.read() as conn:
            return int(conn.execute(sa.select(article_seq.c.seq)
                                    .where(article_seq.c.article_id == article_id)).scalar() or 0)

    def digest_item_ids(self, topics: Iterable[str], after: int, upto: int) -> list[str]:
        """Ids of articles in any of `topics` stored after `after` up to `upto` (by seq)."""
        in_topics = sa.select(article_topics.c.article_id).where(
            article_topics.c.slug.in_(list(topics)))
        with self.read() as conn:
            return list(conn.execute(
                sa.select(article_seq.c.article_id)
                .where(article_seq.c.seq > after, article_seq.c.seq <= upto,
                       article_seq.c.article_id.in_(in_topics))
                .order_by(article_seq.c.seq)).scalars())

    # --- digest runs --------------------------------------------------------------------
    def claim_slot(self, claims: Claims, schedule: str, slot: str, now: datetime) -> bool:
        """Should this holder run the slot now? Only if no other daemon is running it (the
        claim) and it has not finished: each slot runs once across every daemon sharing the
        database. One whose runner died before finishing runs again, which is safe, since
        planning skips subscribers who already have this run's delivery."""
        if not claims.take(CLAIM_SLOT, {claim_key(f"{schedule}@{slot}"): slot}):
            return False
        with self.write() as conn:
            seen = conn.execute(sa.select(digest_runs).where(
                digest_runs.c.schedule == schedule, digest_runs.c.slot == slot)).first()
            if seen is None:
                conn.execute(digest_runs.insert().values(schedule=schedule, slot=slot,
                                                         started=now))
                return True
            return seen.finished is None

    def unfinished_slots(self) -> list[tuple[str, str]]:
        """(schedule, slot) of runs started and never finished (running, or their runner
        died)."""
        with self.read() as conn:
            return [(str(a), str(b)) for a, b in conn.execute(
                sa.select(digest_runs.c.schedule, digest_runs.c.slot).where(
                    digest_runs.c.finished.is_(None)))]

    def finish_slot(self, schedule: str, slot: str, now: datetime) -> None:
        with self.write() as conn:
            conn.execute(digest_runs.update().where(digest_runs.c.schedule == schedule,
                                                    digest_runs.c.slot == slot)
                         .values(finished=now))

    def last_slot(self, schedule: str) -> str | None:
        with self.read() as conn:
            return conn.execute(sa.select(sa.func.max(digest_runs.c.slot))
                                .where(digest_runs.c.schedule == schedule)).scalar()

    # --- deliveries ---------------------------------------------------------------------
    def create_deliveries(self, schedule: str, run: str,
                          planned: Sequence[tuple[str, Sequence[str], int, str]],
                          now: datetime) -> int:
        """Record digests before they are sent, in one transaction: (subscriber, items,
        watermark, Message-ID) each. A subscriber who already has one for this run is left
        alone. Returns how many were recorded."""
        with self.write() as conn:
            done = set(conn.execute(sa.select(deliveries.c.subscriber).where(
                deliveries.c.schedule == schedule, deliveries.c.run == run)).scalars())
            rows = [dict(subscriber=email, schedule=schedule, run=run,
                         items=json.dumps(list(items)), watermark=mark, message_id=message_id,
                         status="pending", attempts=0, created=now)
                    for email, items, mark, message_id in planned if email not in done]
            if rows:
                conn.execute(deliveries.insert(), rows)
            return len(rows)

    def claim_deliveries(self, claims: Claims, *, after_id: int = 0,
                         schedule: str | None = None, limit: int = 50) -> list[Delivery]:
        """Up to `limit` pending deliveries past `after_id`, in id order, that no other
        daemon holds; they stay this holder's until `claims` is closed or its daemon dies."""
        pending = (sa.select(deliveries.c.id).where(deliveries.c.status == "pending",
                                                    deliveries.c.id > after_id)
                   .order_by(deliveries.c.id))
        if schedule is not None:
            pending = pending.where(deliveries.c.schedule == schedule)
        with self.read() as conn:
            ids = list(conn.execute(pending.limit(limit)).scalars())
            while ids:
                mine = claims.take(CLAIM_DELIVERY, {i: i for i in ids})
                # read again now they are ours: another daemon may have sent one meanwhile
                rows = [_delivery(row) for row in conn.execute(
                    sa.select(deliveries).where(deliveries.c.id.in_(list(mine)),
                                                deliveries.c.status == "pending")
                    .order_by(deliveries.c.id))] if mine else []
                claims.drop(CLAIM_DELIVERY, set(mine) - {d.id for d in rows})
                if rows:
                    return rows
                ids = list(conn.execute(pending.where(deliveries.c.id > ids[-1])
                                        .limit(limit)).scalars())
        return []

    def deliveries(self, subscriber: str | None = None) -> list[Delivery]:
        query = sa.select(deliveries).order_by(deliveries.c.id)
        if subscriber is not None:
            query = query.where(deliveries.c.subscriber == subscriber)
        with self.read() as conn:
            return [_delivery(row) for row in conn.execute(query)]

    def direct_writes(self) -> AbstractContextManager[Callable[[Steps], None]]:
        raise NotImplementedError

    @contextmanager
    def sent_marks(self) -> Iterator[Callable[[Sequence[Delivery], datetime], None]]:
        """What it yields marks deliveries the server accepted: in one transaction it marks
        them sent and moves their subscribers' watermarks. Made for a run that marks many
        small groups one after another (see direct_writes)."""
        with self.direct_writes() as run:
            def mark(sent: Sequence[Delivery], now: datetime) -> None:
                run([(_MARK_SENT, [{"delivery": d.id, "now": now} for d in sent]),
                     (_MOVE_WATERMARK, [{"subscriber": d.subscriber, "watermark": d.watermark}
                                        for d in sent])])

            yield mark

    def record_failure(self, delivery: Delivery, error: str, *, permanent: bool,
                       now: datetime) -> None:
        """A temporary failure stays pending (retried later); a permanent one is final for
        this message, its items stay undelivered, and repeated ones pause the subscriber."""
        with self.write() as conn:
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

    def pending_count(self) -> int:
        with self.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(deliveries)
                                    .where(deliveries.c.status == "pending")).scalar() or 0)

    def delivery_counts(self) -> dict[str, int]:
        with self.read() as conn:
            rows = conn.execute(sa.select(deliveries.c.status, sa.func.count())
                                .group_by(deliveries.c.status)).all()
        return {str(status): int(count) for status, count in rows}


def _subscriber(row: sa.Row[tuple[object, ...]] | None) -> Subscriber:
    assert row is not None
    data = row._mapping
    return Subscriber(email=str(data["email"]), topics=tuple(json.loads(str(data["topics"]))),
                      schedule=str(data["schedule"]), status=str(data["status"]),
                      created=data["created"], watermark=int(data["watermark"]),
                      hard_failures=int(data["hard_failures"]))


def _delivery(row: sa.Row[tuple[object, ...]]) -> Delivery:
    data = row._mapping
    return Delivery(id=int(data["id"]), subscriber=str(data["subscriber"]),
                    schedule=str(data["schedule"]), run=str(data["run"]),
                    item_ids=tuple(json.loads(str(data["items"]))),
                    watermark=int(data["watermark"]), message_id=str(data["message_id"]),
                    status=str(data["status"]), attempts=int(data["attempts"]),
                    error=data["error"])

