"""The facade's one-shot queries for digests: subscribers, schedule slots and deliveries,
each in a transaction of its own (mixed into Store)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

from feeds.models import Delivery, Subscriber
from feeds.store.claims import CLAIM_DELIVERY, CLAIM_SLOT, Claims, claim_key
from feeds.store.deliveries import marking_sent
from feeds.store.engine import Database
from feeds.store.transaction import ReadTransaction, WriteTransaction


class DigestFacade:
    database: Database

    def read(self) -> AbstractContextManager[ReadTransaction]:
        raise NotImplementedError

    def write(self, *, durable: bool = True) -> AbstractContextManager[WriteTransaction]:
        raise NotImplementedError

    # --- subscribers --------------------------------------------------------------------
    def add_subscriber(self, email: str, topics: Sequence[str], schedule: str,
                       now: datetime) -> str:
        """Add, or update and reactivate; returns "added" or "updated"."""
        with self.write() as tx:
            return tx.add_subscriber(email, topics, schedule, now)

    def remove_subscriber(self, email: str) -> bool:
        with self.write() as tx:
            return tx.remove_subscriber(email)

    def set_subscriber_status(self, email: str, status: str) -> bool:
        with self.write() as tx:
            return tx.set_subscriber_status(email, status)

    def set_subscriber_topics(self, email: str, topics: Sequence[str]) -> bool:
        with self.write() as tx:
            return tx.set_subscriber_topics(email, topics)

    def subscribers(self, *, schedule: str | None = None,
                    status: str | None = None) -> list[Subscriber]:
        with self.read() as tx:
            return tx.subscribers(schedule=schedule, status=status)

    def subscriber(self, email: str) -> Subscriber | None:
        with self.read() as tx:
            return tx.subscriber(email)

    def watermark(self, email: str) -> int:
        """Where the next digest starts: past everything sent or waiting to be sent."""
        with self.read() as tx:
            return tx.watermark(email)

    def watermarks(self, schedule: str) -> dict[str, int]:
        with self.read() as tx:
            return tx.watermarks(schedule)

    def max_seq(self) -> int:
        with self.read() as tx:
            return tx.max_seq()

    def seq_of(self, article_id: str) -> int:
        with self.read() as tx:
            return tx.seq_of(article_id)

    def digest_item_ids(self, topics: Iterable[str], after: int, upto: int) -> list[str]:
        """Ids of articles in any of `topics` stored after `after` up to `upto` (by seq)."""
        with self.read() as tx:
            return tx.digest_item_ids(topics, after, upto)

    # --- schedule slots -----------------------------------------------------------------
    def claim_slot(self, claims: Claims, schedule: str, slot: str, now: datetime) -> bool:
        """Should this holder run the slot now? Only if no other daemon is running it (the
        claim) and it has not finished: each slot runs once across every daemon sharing the
        database."""
        if not claims.take(CLAIM_SLOT, {claim_key(f"{schedule}@{slot}"): slot}):
            return False
        with self.write() as tx:
            return tx.start_slot(schedule, slot, now)

    def unfinished_slots(self) -> list[tuple[str, str]]:
        with self.read() as tx:
            return tx.unfinished_slots()

    def finish_slot(self, schedule: str, slot: str, now: datetime) -> None:
        with self.write() as tx:
            tx.finish_slot(schedule, slot, now)

    def last_slot(self, schedule: str) -> str | None:
        with self.read() as tx:
            return tx.last_slot(schedule)

    # --- deliveries ---------------------------------------------------------------------
    def create_deliveries(self, schedule: str, run: str,
                          planned: Sequence[tuple[str, Sequence[str], int, str]],
                          now: datetime) -> int:
        with self.write() as tx:
            return tx.create_deliveries(schedule, run, planned, now)

    def claim_deliveries(self, claims: Claims, *, after_id: int = 0,
                         schedule: str | None = None, limit: int = 50) -> list[Delivery]:
        """Up to `limit` pending deliveries past `after_id`, in id order, that no other
        daemon holds; they stay this holder's until `claims` is closed or its daemon dies."""
        with self.read() as tx:
            ids = tx.pending_ids(after_id=after_id, schedule=schedule, limit=limit)
            while ids:
                mine = claims.take(CLAIM_DELIVERY, {i: i for i in ids})
                # read again now they are ours: another daemon may have sent one meanwhile
                rows = tx.pending_deliveries(list(mine))
                claims.drop(CLAIM_DELIVERY, set(mine) - {d.id for d in rows})
                if rows:
                    return rows
                ids = tx.pending_ids(after_id=ids[-1], schedule=schedule, limit=limit)
        return []

    def deliveries(self, subscriber: str | None = None) -> list[Delivery]:
        with self.read() as tx:
            return tx.deliveries(subscriber)

    @contextmanager
    def sent_marks(self) -> Iterator[Callable[[Sequence[Delivery], datetime], None]]:
        """What it yields marks deliveries the server accepted: in one transaction it marks
        them sent and moves their subscribers' watermarks. Made for a run that marks many
        small groups one after another (see Database.direct_writes)."""
        with self.database.direct_writes() as run:
            def mark(sent: Sequence[Delivery], now: datetime) -> None:
                run(marking_sent(sent, now))

            yield mark

    def record_failure(self, delivery: Delivery, error: str, *, permanent: bool,
                       now: datetime) -> None:
        with self.write() as tx:
            tx.record_failure(delivery, error, permanent=permanent, now=now)

    def pending_count(self) -> int:
        with self.read() as tx:
            return tx.pending_count()

    def delivery_counts(self) -> dict[str, int]:
        with self.read() as tx:
            return tx.delivery_counts()
