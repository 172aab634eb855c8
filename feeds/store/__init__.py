"""The store: the only code that speaks SQL (SQLAlchemy Core; SQLite by default, any
SQLAlchemy URL works, so PostgreSQL is a URL away).

`Store.read()` and `Store.write()` yield a typed transaction whose methods are the named
queries (`tx.record_file(...)`, `tx.save_articles(...)`); no connection leaves the store.
The one-shot methods on `Store` itself (`items`, `counts`, `subscribers`, ...) each run in a
transaction of their own. Writers go one at a time (SQLite: WAL and BEGIN IMMEDIATE;
PostgreSQL: transaction advisory locks, narrower for batches of articles and for deliveries
marked sent; see Database.writing); reads run in parallel.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError as DatabaseUnavailable

from feeds.config import Config
from feeds.errors import StoreError
from feeds.models import ArticleDraft, Byline, FileRecord, Item
from feeds.store import migrations
from feeds.store.articles import SavedArticle
from feeds.store.claims import CLAIM_FILE, Claims, claim_key
from feeds.store.digest_facade import DigestFacade
from feeds.store.engine import Database, WaitsFor, connect
from feeds.store.story_index import IndexStatements, SignatureCache
from feeds.store.transaction import ReadTransaction, WriteTransaction

# DatabaseUnavailable: what a store call raises when the database is down or stays locked
# past the busy timeout; the transaction in progress is rolled back, so the caller may simply
# try again.
__all__ = ["ArticleDraft", "Claims", "DatabaseUnavailable", "ReadTransaction", "SavedArticle",
           "Store", "WriteTransaction"]


class Store(DigestFacade):
    """A handle on the database. Reads may run in parallel; writes go one at a time."""

    def __init__(self, database: Database) -> None:
        self.database = database
        # decoded story signatures, kept across write transactions (see SignatureCache)
        self._signature_cache = SignatureCache()
        self._index_statements = IndexStatements.for_dialect(database.dialect)

    @classmethod
    def for_config(cls, config: Config) -> Store:
        """The store `config` names ([store] url, busy timeout), schema brought up to date."""
        return cls.open(config.database_url, busy_timeout=config.store.busy_timeout_seconds)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, busy_timeout: float = 15.0) -> Store:
        """Connect, and bring the schema up to date (or only check it). A database another
        process holds a write lock on is waited for up to `busy_timeout` seconds, then
        reported."""
        store = cls(Database(connect(url, busy_timeout)))
        try:
            if migrate:
                store.migrate()
            else:
                store.check_schema()
        except BaseException as exc:
            store.close()  # a refused database leaves no connection open behind it
            if isinstance(exc, sa.exc.OperationalError):
                raise StoreError(f"cannot open the database {url}: {exc.orig}") from None
            raise
        return store

    def close(self) -> None:
        self.database.close()

    # --- transactions -------------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[ReadTransaction]:
        with self.database.reading() as conn:
            yield ReadTransaction(conn, self.database.statements)

    @contextmanager
    def write(self, *, durable: bool = True, waits_for: WaitsFor = "writers"
              ) -> Iterator[WriteTransaction]:
        """One write transaction (see Database.writing: `waits_for` "stories" for a batch of
        articles; `durable=False`: bookkeeping a crash may lose, its commit does not wait for
        the disk)."""
        database = self.database
        with database.writing(durable=durable, waits_for=waits_for) as conn:
            tx = WriteTransaction(conn, database.statements, self._signature_cache,
                                  self._index_statements, lambda: database.order_lock(conn),
                                  lambda added: database.grew(added, conn))
            yield tx
            tx.finish()
        database.grew(tx.unreported)

    def claims(self) -> AbstractContextManager[Claims]:
        """This daemon's claims, released when the block ends."""
        return self.database.claims()

    def shared(self) -> bool:
        """Can several daemons use this database at once? (PostgreSQL: yes.)"""
        return self.database.shared()

    def reads_together(self) -> AbstractContextManager[None]:
        """This thread's reads in the block share one read transaction (see
        Database.reads_together)."""
        return self.database.reads_together()

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """Only one holder at a time across every daemon sharing the
        database (see Database.exclusive)."""
        return self.database.exclusive(name)

    # --- schema -------------------------------------------------------------------------
    def version(self) -> int:
        with self.database.reading() as conn:
            return migrations.version_of(conn)

    def check_schema(self) -> None:
        have, want = self.version(), len(migrations.MIGRATIONS)
        if have > want:
            raise StoreError(
                f"the database is at schema version {have}, newer than this feeds ({want})",
                hint="upgrade feeds, or point store.url at another database",
            )
        if have < want:
            raise StoreError(f"the database is at schema version {have}; {want} is needed",
                             hint="run any feeds command that writes, e.g. `feeds ingest`")

    def migrate(self, *, upto: int | None = None) -> None:
        """Bring the schema up to version `upto` (default: the newest)."""
        if self.version() == (len(migrations.MIGRATIONS) if upto is None else upto):
            return  # current: no write transaction, so opening never waits on a writer
        with self.database.writing() as conn:
            migrations.migrate(conn, upto=upto)

    # --- files --------------------------------------------------------------------------
    def file_records(self, paths: Sequence[str] | None = None) -> dict[str, FileRecord]:
        """Every file's record, or only those of `paths` (a few files: the watcher's case)."""
        with self.read() as tx:
            return tx.file_records(paths)

    def failed_files(self) -> list[FileRecord]:
        with self.read() as tx:
            return tx.failed_files()

    def claim_files(self, claims: Claims, paths: Sequence[str]) -> set[str]:
        """The paths this daemon may read now: no other daemon sharing the database is
        reading them (held until `claims` is closed, or its daemon dies)."""
        got = claims.take(CLAIM_FILE, {claim_key(p): p for p in paths})
        return set(got.values())

    def release_files(self, claims: Claims, paths: Iterable[str]) -> None:
        """Give up the claims on these paths (their batch is stored)."""
        claims.drop(CLAIM_FILE, [claim_key(p) for p in paths])

    # --- articles -----------------------------------------------------------------------
    def article_ids(self) -> set[str]:
        with self.read() as tx:
            return tx.article_ids()

    def article_count(self) -> int:
        with self.read() as tx:
            return tx.article_count()

    def count_items(self, topic: str | None = None) -> int:
        with self.read() as tx:
            return tx.count_items(topic)

    def items(self, *, topic: str | None = None, limit: int | None = None, offset: int = 0,
              ids: Iterable[str] | None = None, oldest_first: bool = False,
              order: str = "published", reuse: Mapping[str, Item] | None = None
              ) -> list[Item]:
        """Stored articles with their topics and story siblings (see ArticleReads.items)."""
        with self.read() as tx:
            return tx.items(topic=topic, limit=limit, offset=offset, ids=ids,
                            oldest_first=oldest_first, order=order, reuse=reuse)

    def items_outside(self, topics: Iterable[str], *, limit: int,
                      reuse: Mapping[str, Item] | None = None) -> list[Item]:
        """The newest articles in none of these topics (see ArticleReads.items_outside)."""
        with self.read() as tx:
            return tx.items_outside(topics, limit=limit, reuse=reuse)

    def neighbours(self, ids: Iterable[str]) -> set[str]:
        """The other articles whose related links include one of these."""
        with self.read() as tx:
            return tx.neighbours(ids)

    def bylines(self, ids: Iterable[str]) -> dict[str, Byline]:
        with self.read() as tx:
            return tx.bylines(ids)

    def positions(self, ids: Iterable[str], topic: str | None = None) -> dict[str, int]:
        """Each article's 0-based place in the order articles were stored (within a topic)."""
        with self.read() as tx:
            return tx.positions(ids, topic)

    # --- runs, pages and status ---------------------------------------------------------
    def record_run(self, kind: str, started: datetime, finished: datetime, ok: bool,
                   detail: dict[str, Any]) -> None:
        with self.write(durable=False) as tx:  # status only: not worth a wait for the disk
            tx.record_run(kind, started, finished, ok, detail)

    def last_runs(self) -> dict[str, dict[str, Any]]:
        with self.read() as tx:
            return tx.last_runs()

    def counts(self) -> dict[str, int]:
        with self.read() as tx:
            return tx.counts()

    def pages_written(self, versions: Sequence[tuple[str, datetime]]) -> None:
        """These articles' pages now show these versions. Bookkeeping a crash may lose: the
        page is then written again."""
        if not versions:
            return
        with self.write(durable=False) as tx:
            tx.pages_written(versions)

    def unpublished(self, *, before: datetime | None = None) -> set[str]:
        """Articles stored and not published since (see PageReads.unpublished)."""
        with self.read() as tx:
            return tx.unpublished(before=before)
