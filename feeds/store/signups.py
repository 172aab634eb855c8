"""Named queries for sign-ups: the double opt-in requests and the consent each one records
(when, from which address, which topics and schedule, when it was confirmed)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from feeds.store.engine import Queries
from feeds.store.schema import signups


def email_key(email: str) -> str:
    """What addresses are compared by: `Grace@x` and `grace@x` are one reader."""
    return email.strip().lower()


@dataclass(frozen=True)
class Signup:
    id: int
    email: str
    topics: tuple[str, ...]
    schedule: str
    ip: str
    created: datetime
    mailed_at: datetime | None
    confirmed_at: datetime | None


class SignupReads(Queries):
    def signup(self, signup_id: int) -> Signup | None:
        row = self.conn.execute(sa.select(signups).where(signups.c.id == signup_id)).first()
        return signup_of(row) if row else None

    def last_signup_mail(self, email: str) -> datetime | None:
        """When a confirmation was last mailed to this address (any spelling)."""
        value = self.conn.execute(sa.select(sa.func.max(signups.c.mailed_at))
                                  .where(signups.c.email_key == email_key(email))).scalar()
        return value if isinstance(value, datetime) else None

    def pending_signups(self) -> list[Signup]:
        """Sign-ups not confirmed yet, the latest of each address, in address order."""
        latest: dict[str, Signup] = {}
        for row in self.conn.execute(sa.select(signups).where(signups.c.confirmed_at.is_(None))
                                     .order_by(signups.c.id)):
            latest[str(row.email_key)] = signup_of(row)
        return [latest[key] for key in sorted(latest)]

    def signups_of(self, email: str) -> list[Signup]:
        return [signup_of(row) for row in self.conn.execute(
            sa.select(signups).where(signups.c.email_key == email_key(email))
            .order_by(signups.c.id))]


class SignupWrites(SignupReads):
    def add_signup(self, email: str, topics: Sequence[str], schedule: str, ip: str,
                   now: datetime) -> Signup:
        new_id = self.conn.execute(signups.insert().values(
            email_key=email_key(email), email=email, topics=json.dumps(list(topics)),
            schedule=schedule, ip=ip[:64], created=now)).inserted_primary_key
        assert new_id is not None
        return Signup(int(new_id[0]), email, tuple(topics), schedule, ip[:64], now, None, None)

    def mark_signup_mailed(self, signup_id: int, now: datetime) -> None:
        self.conn.execute(signups.update().where(signups.c.id == signup_id)
                          .values(mailed_at=now))

    def mark_signup_confirmed(self, signup_id: int, now: datetime) -> None:
        self.conn.execute(signups.update().where(signups.c.id == signup_id)
                          .values(confirmed_at=now))

    def decline_signup(self, signup_id: int) -> bool:
        """The owner said no: the sign-up, if not confirmed, is forgotten (its link stops
        working). False when there was nothing to forget."""
        return bool(self.conn.execute(signups.delete().where(
            signups.c.id == signup_id, signups.c.confirmed_at.is_(None))).rowcount)

    def drop_stale_signups(self, before: datetime) -> int:
        """Forget sign-ups made before `before` and never confirmed (each new sign-up runs it,
        with `signup.pending_days`); confirmed ones stay as the consent record."""
        return int(self.conn.execute(signups.delete().where(
            signups.c.created < before, signups.c.confirmed_at.is_(None))).rowcount or 0)

    def forget_signups(self, email: str) -> int:
        return int(self.conn.execute(signups.delete().where(
            signups.c.email_key == email_key(email))).rowcount or 0)


def signup_of(row: Any) -> Signup:
    data = row._mapping
    return Signup(id=int(data["id"]), email=str(data["email"]),
                  topics=tuple(json.loads(str(data["topics"]))), schedule=str(data["schedule"]),
                  ip=str(data["ip"]), created=data["created"], mailed_at=data["mailed_at"],
                  confirmed_at=data["confirmed_at"])
