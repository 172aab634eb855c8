"""Named queries for subscribers, their watermarks (the last article sequence number
delivered to each) and the articles a digest holds."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from feeds.models import Subscriber
from feeds.store.engine import Queries
from feeds.store.schema import article_seq, article_topics, deliveries, subscribers


class SubscriberReads(Queries):
    def subscribers(self, *, schedule: str | None = None,
                    status: str | None = None) -> list[Subscriber]:
        query = sa.select(subscribers).order_by(subscribers.c.email)
        if schedule is not None:
            query = query.where(subscribers.c.schedule == schedule)
        if status is not None:
            query = query.where(subscribers.c.status == status)
        return [subscriber_of(row) for row in self.conn.execute(query)]

    def subscriber(self, email: str) -> Subscriber | None:
        row = self.conn.execute(sa.select(subscribers)
                                .where(subscribers.c.email == email)).first()
        return subscriber_of(row) if row else None

    def watermark(self, email: str) -> int:
        """Where the next digest starts: past everything sent or waiting to be sent."""
        mark = self.conn.execute(sa.select(subscribers.c.watermark)
                                 .where(subscribers.c.email == email)).scalar() or 0
        pending = self.conn.execute(sa.select(sa.func.max(deliveries.c.watermark)).where(
            deliveries.c.subscriber == email, deliveries.c.status == "pending")).scalar()
        return max(int(mark), int(pending or 0))

    def watermarks(self, schedule: str) -> dict[str, int]:
        """`watermark` for every subscriber of a schedule, in two queries."""
        marks = {str(email): int(mark) for email, mark in self.conn.execute(
            sa.select(subscribers.c.email, subscribers.c.watermark)
            .where(subscribers.c.schedule == schedule))}
        for email, mark in self.conn.execute(
                sa.select(deliveries.c.subscriber, sa.func.max(deliveries.c.watermark))
                .where(deliveries.c.status == "pending", deliveries.c.schedule == schedule)
                .group_by(deliveries.c.subscriber)):
            if email in marks and mark is not None:
                marks[email] = max(marks[email], int(mark))
        return marks

    def max_seq(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.max(article_seq.c.seq))).scalar() or 0)

    def seq_of(self, article_id: str) -> int:
        return int(self.conn.execute(sa.select(article_seq.c.seq)
                                     .where(article_seq.c.article_id == article_id))
                   .scalar() or 0)

    def digest_item_ids(self, topics: Iterable[str], after: int, upto: int) -> list[str]:
        """Ids of articles in any of `topics` stored after `after` up to `upto` (by seq)."""
        in_topics = sa.select(article_topics.c.article_id).where(
            article_topics.c.slug.in_(list(topics)))
        return list(self.conn.execute(
            sa.select(article_seq.c.article_id)
            .where(article_seq.c.seq > after, article_seq.c.seq <= upto,
                   article_seq.c.article_id.in_(in_topics))
            .order_by(article_seq.c.seq)).scalars())


class SubscriberWrites(SubscriberReads):
    def add_subscriber(self, email: str, topics: Sequence[str], schedule: str,
                       now: datetime) -> str:
        """Add, or update and reactivate; returns "added" or "updated"."""
        values = {"topics": json.dumps(list(topics)), "schedule": schedule, "status": "active",
                  "hard_failures": 0}
        done = self.conn.execute(subscribers.update().where(subscribers.c.email == email)
                                 .values(**values))
        if done.rowcount:
            return "updated"
        # A new subscriber starts from now: the next digest holds what arrives from here.
        self.conn.execute(subscribers.insert().values(email=email, created=now,
                                                      watermark=self.max_seq(), **values))
        return "added"

    def remove_subscriber(self, email: str) -> bool:
        return bool(self.conn.execute(subscribers.delete().where(subscribers.c.email == email))
                    .rowcount)

    def set_subscriber_status(self, email: str, status: str) -> bool:
        return bool(self.conn.execute(subscribers.update().where(subscribers.c.email == email)
                                      .values(status=status)).rowcount)

    def set_subscriber_topics(self, email: str, topics: Sequence[str]) -> bool:
        return bool(self.conn.execute(subscribers.update().where(subscribers.c.email == email)
                                      .values(topics=json.dumps(list(topics)))).rowcount)


def subscriber_of(row: Any) -> Subscriber:
    data = row._mapping
    return Subscriber(email=str(data["email"]), topics=tuple(json.loads(str(data["topics"]))),
                      schedule=str(data["schedule"]), status=str(data["status"]),
                      created=data["created"], watermark=int(data["watermark"]),
                      hard_failures=int(data["hard_failures"]))
