"""Named queries for list hygiene: finding a subscriber whatever the case of the address or by
the VERP token, what came back from their mail (bounce reports, soft bounces in a row), who is
suppressed, resuming and forgetting a subscriber, and the counts `feeds status` shows."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from feeds.models import Subscriber
from feeds.store.engine import Queries
from feeds.store.schema import bounce_reports, deliveries, signups, subscribers
from feeds.store.signups import email_key
from feeds.store.subscribers import subscriber_of

# Only their owner signing up again (and confirming) makes these active again.
SUPPRESSED = ("unsubscribed", "bounced", "complained")


def address_hash(address: str) -> str:
    """What a forgotten subscriber's deliveries keep of the address."""
    return "sha256:" + hashlib.sha256(email_key(address).encode()).hexdigest()[:40]


class BounceReads(Queries):
    def subscriber_by_address(self, address: str) -> Subscriber | None:
        """The subscriber with this address in any case (the spelling first stored)."""
        row = self.conn.execute(sa.select(subscribers).where(
            subscribers.c.email_key == email_key(address))).first()
        return subscriber_of(row) if row else None

    def soft_bounces(self, email: str) -> int:
        return int(self.conn.execute(sa.select(subscribers.c.soft_bounces).where(
            subscribers.c.email == email)).scalar() or 0)

    def bounce_counts(self) -> dict[str, int]:
        """Bounce reports by kind (hard, soft, complaint, unrecognized, kept, unsubscribe)."""
        rows = self.conn.execute(sa.select(bounce_reports.c.kind, sa.func.count())
                                 .group_by(bounce_reports.c.kind)).all()
        return {str(kind): int(count) for kind, count in rows}

    def bounce_reports(self) -> list[dict[str, Any]]:
        return [dict(row._mapping) for row in self.conn.execute(
            sa.select(bounce_reports).order_by(bounce_reports.c.id))]

    def subscriber_states(self) -> dict[str, int]:
        rows = self.conn.execute(sa.select(subscribers.c.status, sa.func.count())
                                 .group_by(subscribers.c.status)).all()
        return {str(status): int(count) for status, count in rows}

    def failures_by_reason(self) -> dict[str, int]:
        """Deliveries that failed for good, and those waiting after a temporary failure, by
        the server's answer."""
        rows = self.conn.execute(
            sa.select(deliveries.c.error, sa.func.count())
            .where(deliveries.c.error.is_not(None),
                   deliveries.c.status.in_(("failed", "pending")))
            .group_by(deliveries.c.error)).all()
        return {str(error): int(count) for error, count in rows}


class BounceWrites(BounceReads):
    def record_bounce(self, *, received: datetime, kind: str, email: str | None,
                      token: str | None, reason: str, message: str | None) -> None:
        self.conn.execute(bounce_reports.insert().values(
            received=received, kind=kind, email_key=email_key(email) if email else None,
            token=token, reason=reason[:1000], message=message[:255] if message else None))

    def count_soft_bounce(self, email: str) -> int:
        """One more soft bounce in a row; returns how many there are now."""
        self.conn.execute(subscribers.update().where(subscribers.c.email == email).values(
            soft_bounces=subscribers.c.soft_bounces + 1))
        return self.soft_bounces(email)

    def suppress(self, email: str, status: str) -> bool:
        """Mark a subscriber bounced or complained (an unsubscribed one stays so); its pending
        deliveries will not go out. False when it was suppressed already."""
        return bool(self.conn.execute(subscribers.update().where(
            subscribers.c.email == email, subscribers.c.status.not_in(SUPPRESSED))
            .values(status=status)).rowcount)

    def resume_subscriber(self, email: str) -> bool:
        """A paused subscriber (after repeated hard failures) is active again, its failures
        forgotten. Refuses (False) anyone not paused."""
        return bool(self.conn.execute(subscribers.update().where(
            subscribers.c.email == email, subscribers.c.status == "paused")
            .values(status="active", hard_failures=0, soft_bounces=0)).rowcount)

    def forget_subscriber(self, email: str, now: datetime) -> bool:
        """Erase the subscriber and its sign-up records; its deliveries keep a hash of the
        address, and any still pending will not go out."""
        key = email_key(email)
        hashed = address_hash(email)
        self.conn.execute(deliveries.update().where(
            deliveries.c.subscriber == email, deliveries.c.status == "pending").values(
            status="failed", error="subscriber forgotten", finished=now))
        self.conn.execute(deliveries.update().where(deliveries.c.subscriber == email)
                          .values(subscriber=hashed))
        self.conn.execute(bounce_reports.update().where(bounce_reports.c.email_key == key)
                          .values(email_key=hashed))
        self.conn.execute(signups.delete().where(signups.c.email_key == key))
        return bool(self.conn.execute(subscribers.delete().where(subscribers.c.email == email))
                    .rowcount)

    def reset_soft_bounces(self, emails: Sequence[str]) -> None:
        if emails:
            self.conn.execute(subscribers.update().where(subscribers.c.email.in_(list(emails)))
                              .values(soft_bounces=0))
