"""The database connection: engine set-up, SQLite pragmas, which writers wait for which
(BEGIN IMMEDIATE on SQLite; transaction advisory locks on PostgreSQL), statements compiled
once, planner statistics kept current, and driver errors raised as SQLAlchemy raises them."""

from __future__ import annotations

import operator
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from feeds.errors import StoreError
from feeds.store.claims import EXCLUSIVE_LOCKS, STORY_LOCK, WRITER_LOCK, Claims

# a transaction's work: (statement, the rows to run it for) in turn
Steps = Sequence[tuple[Any, list[dict[str, Any]]]]

_TAKE_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")
# What a write transaction waits for on PostgreSQL (Database.writing)
WaitsFor = Literal["writers", "stories", "nobody"]
_WAITS_FOR: dict[WaitsFor, int | None] = {"writers": WRITER_LOCK, "stories": STORY_LOCK,
                                          "nobody": None}
# tables whose planner statistics a backfill outgrows (PlannerStatistics)
_GROWING = ("articles", "story_terms", "signatures", "term_counts", "article_topics")
_FIRST_ANALYZE = 50  # articles


class PlannerStatistics:
    """PostgreSQL plans each query from table statistics that autovacuum refreshes about
    once a minute. A backfill into a fresh database outgrows them within seconds, and the
    story index look-up then scans the whole term table for every article instead of using
    its key. So a store refreshes them itself each time the articles it added reach the
    number stored at the last refresh: a few ANALYZEs per backfill, each on tables at most
    twice the size of the one before."""

    def __init__(self) -> None:
        self.stored: int | None = None  # articles at the last refresh (or at the first look)
        self.added = 0

    def due(self, added: int, count: Callable[[], int]) -> bool:
        if self.stored is None:
            self.stored = count() - added
        self.added += added
        return self.added >= max(_FIRST_ANALYZE, self.stored)

    def refreshed(self) -> None:
        self.stored = (self.stored or 0) + self.added
        self.added = 0


def _sqlite_pragmas(busy_timeout: float) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (_sqlite_begin)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
    return on_connect


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("feeds_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def connect(url: str, busy_timeout: float) -> Engine:
    """An engine for `url` (an SQLite file's folder is created); a URL SQLAlchemy cannot
    use is a StoreError naming it."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise StoreError(f"store.url {url!r} is not usable: {exc}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas(busy_timeout))
        sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def as_sqlalchemy_error(exc: sqlite3.Error, sql: str | None = None,
                        parameters: Any = None) -> sa.exc.StatementError:
    """A driver error met outside SQLAlchemy, as SQLAlchemy would have raised it (callers
    catch OperationalError: feeds.store.DatabaseUnavailable)."""
    return sa.exc.DBAPIError.instance(sql, parameters, exc, sqlite3.Error)


class BulkStatement:
    """A statement run for many rows at once. On SQLite it is compiled once and given
    straight to the driver's executemany: SQLAlchemy would otherwise process every value of
    every row through its type (a story's 100 term rows each converted the same date); here a
    value that needs converting is converted once per call by `values()`, with its type's own
    conversion, so the database receives exactly what SQLAlchemy would have sent. Other
    databases get SQLAlchemy's own executemany, which folds an INSERT's rows into multi-row
    INSERTs (one row per statement would be slower there)."""

    def __init__(self, dialect: sa.Dialect, statement: Any,
                 columns: Sequence[str] | None = None) -> None:
        """`columns`: the ones an INSERT or UPDATE without values() sets (default: all)."""
        self.statement = statement
        self.direct = dialect.name == "sqlite"
        self.sql = ""
        self.order: tuple[str, ...] = ()
        self.fixed: dict[str, Any] = {}
        self.convert: dict[str, Any] = {}
        if self.direct:
            compiled = statement.compile(dialect=dialect, column_keys=columns)
            self.sql = compiled.string
            self.order = tuple(compiled.positiontup or ())
            binds = {name: compiled.binds[name] for name in self.order}
            # the statement's own values (an upsert's increment, an UPDATE's new status)
            self.fixed = {name: bind.value for name, bind in binds.items() if not bind.required}
            self.convert = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                            for name, bind in binds.items() if bind.required}

    def values(self, **values: Any) -> dict[str, Any]:
        """Values as the rows given to run() hold them."""
        return {name: (convert(value) if (convert := self.convert.get(name)) else value)
                for name, value in values.items()}

    def run(self, conn: Connection, rows: list[dict[str, Any]]) -> int:
        """Rows whose values need no conversion, or went through `values()`; returns the
        number of rows changed."""
        if not self.direct:  # one row as one statement: its rowcount is exact everywhere
            return int(conn.execute(self.statement, rows[0] if len(rows) == 1 else rows)
                       .rowcount)
        parameters = self.parameters(rows)
        raw: Any = conn.connection.driver_connection
        try:
            if len(parameters) == 1:
                return int(raw.execute(self.sql, parameters[0]).rowcount)
            return int(raw.executemany(self.sql, parameters).rowcount)
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(exc, self.sql, parameters) from exc

    def parameters(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        order = self.order
        if len(order) > 1:  # the usual case, every value in each row: picked out in C
            pick = operator.itemgetter(*order)
            try:
                return [pick(row) for row in rows]
            except KeyError:  # some rows leave the statement's own values out
                pass
        fixed = self.fixed
        return [tuple(row[k] if k in row else fixed[k] for k in order) for row in rows]


class CompiledStatements:
    """INSERTs and UPDATEs run for one row or several, each compiled once per statement and
    set of columns (see BulkStatement): for the few small statements that store each
    article, SQLAlchemy's own work per statement cost more than SQLite's."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.dialect = dialect
        self._compiled: dict[tuple[Any, frozenset[str]], BulkStatement] = {}
        self._lock = threading.Lock()  # read transactions may run in several threads

    def bulk(self, statement: Any) -> BulkStatement:
        """`statement` compiled for every column it names (an upsert, a fixed INSERT)."""
        return self._get(statement, None)

    def run(self, conn: Connection, statement: Any,
            rows: dict[str, Any] | list[dict[str, Any]]) -> int:
        """Run for each row; the number of rows changed."""
        many = rows if isinstance(rows, list) else [rows]
        if not many:
            return 0
        bulk = self._get(statement, many[0])
        return bulk.run(conn, [bulk.values(**row) for row in many] if bulk.direct else many)

    def _get(self, statement: Any, row: dict[str, Any] | None) -> BulkStatement:
        key = (statement, frozenset(row or ()))
        found = self._compiled.get(key)
        if found is None:
            columns = None if row is None else [n for n in row if n in statement.table.c]
            with self._lock:
                found = self._compiled[key] = BulkStatement(self.dialect, statement, columns)
        return found


class Database:
    """The engine and its transactions. Reads may run in parallel; writes go one at a time
    across every process sharing the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements = CompiledStatements(engine.dialect)
        self._write_lock = threading.Lock()
        self._statistics = PlannerStatistics()
        self._held = threading.local()  # a thread's read transaction while it reads_together

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def shared(self) -> bool:
        """Can several daemons use this database at once? (PostgreSQL: yes; SQLite: one
        daemon owns the state folder.)"""
        return self.dialect == "postgresql"

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        held = self._held_connection()
        if held is not None:
            yield held
            return
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def _held_connection(self) -> Connection | None:
        """This thread's read transaction, while it is inside reads_together()."""
        return getattr(self._held, "conn", None)

    @contextmanager
    def reads_together(self) -> Iterator[None]:
        """Every read this thread makes in the block shares one transaction: one BEGIN and
        one COMMIT, not one of each per read. What it reads is as consistent as one read
        transaction is (SQLite: one snapshot, taken at the first read; PostgreSQL, read
        committed: each statement sees what was committed before it). Writes are not part
        of it: a write in the block is its own transaction, and on SQLite the block's reads
        after it may not see it. On PostgreSQL a failed statement aborts the block's later
        reads too: nothing in the block may catch a database error and read on."""
        if self._held_connection() is not None:  # nested: the outer block's transaction
            yield
            return
        with self.engine.connect() as conn, conn.begin():
            self._held.conn = conn
            try:
                yield
            finally:
                self._held.conn = None

    @contextmanager
    def writing(self, *, durable: bool = True, waits_for: WaitsFor = "writers"
                ) -> Iterator[Connection]:
        """One write transaction. SQLite's BEGIN IMMEDIATE makes writers wait for each other
        by itself. On PostgreSQL (several daemons) `waits_for` says whom it waits for, with a
        transaction advisory lock held until it commits:
        - "writers" (the default): every other such transaction, so a row read before a
          write is still current when it is written;
        - "stories": other batches of articles only (the story index lock), so each batch
          groups its articles seeing every batch committed before it; it takes the writers'
          lock only to hand out sequence numbers, just before it commits (order_lock);
        - "nobody": it writes rows no concurrent transaction writes (a claimed delivery
          marked sent, its subscriber's watermark moved to the greater value).

        `durable=False` is for bookkeeping a crash may lose (run records): its commit does
        not wait for the disk (SQLite: synchronous=NORMAL for it; PostgreSQL: asynchronous
        commit). It is still atomic, and the next durable commit makes it durable too."""
        with self._write_lock, self.engine.connect() as conn:
            conn = conn.execution_options(feeds_write=True)
            sqlite = self.dialect == "sqlite"
            raw: Any = conn.connection.driver_connection  # pragmas outside any transaction
            if sqlite and not durable:
                raw.execute("PRAGMA synchronous=NORMAL")
            try:
                with conn.begin():
                    key = _WAITS_FOR[waits_for]
                    if self.shared() and key is not None:
                        conn.execute(_TAKE_LOCK, {"key": key})
                    if not sqlite and not durable:
                        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    yield conn
            finally:
                if sqlite and not durable:
                    raw.execute("PRAGMA synchronous=FULL")

    def order_lock(self, conn: Connection) -> None:
        """Wait for the writers' lock in this transaction (held until it commits): sequence
        numbers handed out after it follow commit order."""
        if self.shared():
            conn.execute(_TAKE_LOCK, {"key": WRITER_LOCK})

    def grew(self, added: int, conn: Connection | None = None) -> None:
        """`added` articles were just stored: refresh the planner's statistics if the store
        outgrew them (see PlannerStatistics). With `conn`, inside its transaction, whose own
        new rows ANALYZE counts too: a long batch into a fresh database is planned right
        before it ends."""
        if not self.shared() or not added:
            return
        if conn is None:
            with self.engine.connect() as own:
                self.grew(added, own)
                own.commit()
            return
        if self._statistics.due(added, lambda: int(conn.exec_driver_sql(
                "SELECT count(*) FROM articles").scalar() or 0)):
            for table in _GROWING:
                conn.exec_driver_sql(f"ANALYZE {table}")
            self._statistics.refreshed()

    @contextmanager
    def claims(self) -> Iterator[Claims]:
        held = Claims(self.engine)
        try:
            yield held
        finally:
            held.close()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Only one holder at a time across every daemon sharing the database (waits for
        the current one); released when the block ends or the holder's connection dies.
        With SQLite one daemon owns the state folder, so there is no one to wait for."""
        if not self.shared():
            yield
            return
        with self.engine.connect() as conn:
            key = {"key": EXCLUSIVE_LOCKS[name]}
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), key)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), key)
                conn.commit()

    @contextmanager
    def direct_writes(self) -> Iterator[Callable[[Steps], None]]:
        """Many small durable write transactions one after another (a digest run marks
        thousands of deliveries sent): each call of what it yields runs (statement, rows)
        steps as one transaction like writing()'s. On SQLite they run on one connection held
        until the block ends, each statement compiled once and given straight to the driver,
        BEGIN IMMEDIATE and COMMIT too: SQLAlchemy's own work for such a transaction cost
        several times SQLite's. Elsewhere each call is a writing() transaction."""
        statements = self.statements
        if self.dialect != "sqlite":
            def through_writing(steps: Steps) -> None:
                with self.writing(waits_for="nobody") as conn:
                    for statement, rows in steps:
                        statements.run(conn, statement, rows)

            yield through_writing
            return
        with self.engine.connect() as held:
            raw: Any = held.connection.driver_connection

            def direct(steps: Steps) -> None:
                with self._write_lock:
                    try:
                        raw.execute("BEGIN IMMEDIATE")
                        for statement, rows in steps:
                            statements.run(held, statement, rows)
                        raw.execute("COMMIT")
                    except BaseException as exc:
                        if raw.in_transaction:
                            raw.execute("ROLLBACK")
                        if isinstance(exc, sqlite3.Error):
                            raise as_sqlalchemy_error(exc) from exc
                        raise

            yield direct


class Queries:
    """What every named query works on: its transaction's connection, and the store's
    statements compiled once. The entity modules' query classes build on it."""

    def __init__(self, conn: Connection, statements: CompiledStatements) -> None:
        self.conn = conn
        self.statements = statements

    def run(self, statement: Any, rows: dict[str, Any] | list[dict[str, Any]]) -> int:
        return self.statements.run(self.conn, statement, rows)
