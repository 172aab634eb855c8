"""Named queries for subscribers, their watermarks (the last article sequence number
delivered to each) and the articles a digest holds. Addresses are looked up by their
lowercased key (the first spelling given is the one mailed); a confirmed sign-up is the one
way an address becomes active again after it left, bounced or complained."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from feeds.models import Subscriber
from feeds.store.engine import Queries
from feeds.store.schema import article_seq, article_topics, deliveries, subscribers
from feeds.store.signups import Signup, SignupReads, SignupWrites, email_key

# statuses a digest run skips, and that only the owner's own confirmation ends
LEFT = frozenset({"unsubscribed", "bounced", "complained"})


def new_token() -> str:
    """An opaque, unguessable key for a subscriber's links (revocable: rotate it)."""
    return secrets.token_urlsafe(18)


class SubscriberReads(SignupReads, Queries):
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
                                .where(subscribers.c.email_key == email_key(email))).first()
        return subscriber_of(row) if row else None

    def subscriber_by_token(self, token: str) -> Subscriber | None:
        if not token or len(token) > 64:
            return None
        row = self.conn.execute(sa.select(subscribers)
                                .where(subscribers.c.token == token)).first()
        return subscriber_of(row) if row else None

    def watermark(self, email: str) -> int:
        """Where the next digest starts: past everything sent or waiting to be sent."""
        found = self.subscriber(email)
        email = found.email if found else email
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

    def recent_watermark(self, topics: Iterable[str], count: int) -> int:
        """A watermark that puts the latest `count` articles of `topics` in the next digest
        (a schedule's `first = "recent"`)."""
        in_topics = sa.select(article_topics.c.article_id).where(
            article_topics.c.slug.in_(list(topics)))
        seq = self.conn.execute(
            sa.select(article_seq.c.seq).where(article_seq.c.article_id.in_(in_topics))
            .order_by(article_seq.c.seq.desc()).offset(max(0, count - 1)).limit(1)).scalar()
        return max(0, int(seq) - 1) if seq is not None else 0


class SubscriberWrites(SubscriberReads, SignupWrites):
    def add_subscriber(self, email: str, topics: Sequence[str], schedule: str,
                       now: datetime) -> str:
        """Add, or update and reactivate; returns "added" or "updated"."""
        values = {"topics": json.dumps(list(topics)), "schedule": schedule, "status": "active",
                  "hard_failures": 0}
        done = self.conn.execute(subscribers.update()
                                 .where(subscribers.c.email_key == email_key(email))
                                 .values(**values))
        if done.rowcount:
            return "updated"
        # A new subscriber starts from now: the next digest holds what arrives from here.
        self.conn.execute(subscribers.insert().values(
            email=email, email_key=email_key(email), token=new_token(), created=now,
            watermark=self.max_seq(), **values))
        return "added"

    def apply_signup(self, signup: Signup, now: datetime, *, recent: int = 0) -> str:
        """The owner confirmed `signup`: the subscriber gets its topics and schedule and is
        active, whatever state it was in; returns "added" or "updated". `recent`: the first
        digest also holds this many of the topics' latest articles (else only what arrives
        from now)."""
        start = self.max_seq()
        if recent > 0:
            start = min(start, self.recent_watermark(signup.topics, recent))
        values: dict[str, object] = {
            "topics": json.dumps(list(signup.topics)), "schedule": signup.schedule,
            "status": "active", "hard_failures": 0, "consent_at": signup.created,
            "consent_ip": signup.ip, "confirmed_at": now}
        self.mark_signup_confirmed(signup.id, now)
        known = self.subscriber(signup.email)
        if known is not None:
            if known.status in LEFT:  # back after leaving: no digest of the months away
                values["watermark"] = start
            self.conn.execute(subscribers.update().where(subscribers.c.email == known.email)
                              .values(**values))
            return "updated"
        self.conn.execute(subscribers.insert().values(
            email=signup.email, email_key=email_key(signup.email), token=new_token(),
            created=now, watermark=start, **values))
        return "added"

    def remove_subscriber(self, email: str) -> bool:
        return bool(self.conn.execute(subscribers.delete()
                                      .where(subscribers.c.email_key == email_key(email)))
                    .rowcount)

    def set_subscriber_status(self, email: str, status: str) -> bool:
        return bool(self.conn.execute(subscribers.update()
                                      .where(subscribers.c.email_key == email_key(email))
                                      .values(status=status)).rowcount)

    def set_subscriber_topics(self, email: str, topics: Sequence[str]) -> bool:
        return bool(self.conn.execute(subscribers.update()
                                      .where(subscribers.c.email_key == email_key(email))
                                      .values(topics=json.dumps(list(topics)))).rowcount)

    def set_subscriber_preferences(self, email: str, topics: Sequence[str],
                                   schedule: str) -> bool:
        return bool(self.conn.execute(subscribers.update()
                                      .where(subscribers.c.email_key == email_key(email))
                                      .values(topics=json.dumps(list(topics)),
                                              schedule=schedule)).rowcount)

    def rotate_token(self, email: str) -> str:
        """A new token for the subscriber's links; the old links stop working."""
        token = new_token()
        self.conn.execute(subscribers.update()
                          .where(subscribers.c.email_key == email_key(email))
                          .values(token=token))
        return token


def subscriber_of(row: Any) -> Subscriber:
    data = row._mapping
    return Subscriber(email=str(data["email"]), topics=tuple(json.loads(str(data["topics"]))),
                      schedule=str(data["schedule"]), status=str(data["status"]),
                      created=data["created"], watermark=int(data["watermark"]),
                      hard_failures=int(data["hard_failures"]), token=str(data["token"] or ""),
                      consent_at=data["consent_at"], consent_ip=data["consent_ip"],
                      confirmed_at=data["confirmed_at"])
