"""Claims: which daemon works on which file, delivery or schedule slot, when several share
one PostgreSQL database. Session advisory locks, not rows: a claim lives exactly as long as
its holder's connection, so a daemon that dies frees its work at once and nobody waits for a
lease to run out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

# Every PostgreSQL advisory lock key feeds uses, in one place so none can collide.
# One-part keys (any constant bigint; these spell "feeds" and a purpose):
WRITER_LOCK = 0x6665656473_01   # the order lock: writers one at a time, and sequence numbers
STORY_LOCK = 0x6665656473_03    # one batch of articles grouped into stories at a time
EXCLUSIVE_LOCKS = {"publish": 0x6665656473_02}
# Two-part keys (class, object) for claims: which daemon works on which file, delivery, slot.
CLAIM_FILE, CLAIM_DELIVERY, CLAIM_SLOT = 0x66656501, 0x66656502, 0x66656503


def claim_key(text: str) -> int:
    """A 32-bit signed key for an advisory lock on a name (collisions only cost a skip)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest(),
                          "big", signed=True)


class Claims:
    """Work one daemon has taken: session advisory locks on a connection of its own, held
    until close(). A daemon that dies loses its connection and with it its claims, at once,
    so another daemon can finish the work. Without a shared database (SQLite, one daemon)
    every claim is granted."""

    def __init__(self, engine: Engine) -> None:
        self.conn = engine.connect() if engine.dialect.name == "postgresql" else None

    def take(self, kind: int, wanted: dict[int, Any]) -> dict[int, Any]:
        """The subset of `wanted` (key -> anything) now claimed by this holder."""
        if self.conn is None or not wanted:
            return dict(wanted)
        rows = self.conn.execute(sa.text(
            "SELECT k FROM unnest(CAST(:keys AS int[])) AS k "
            "WHERE pg_try_advisory_lock(:kind, k)"), {"keys": list(wanted), "kind": kind})
        got = {int(k): wanted[int(k)] for (k,) in rows}
        self.conn.commit()
        return got

    def drop(self, kind: int, keys: Iterable[int]) -> None:
        keys = list(keys)
        if self.conn is not None and keys:
            self.conn.execute(sa.text(
                "SELECT pg_advisory_unlock(:kind, k) FROM unnest(CAST(:keys AS int[])) AS k"),
                {"keys": keys, "kind": kind})
            self.conn.commit()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
                self.conn.commit()
            finally:
                self.conn.close()
                self.conn = None
