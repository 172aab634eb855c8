"""The only SQL in feeds: the Store handle and its named queries for files and articles.

SQLAlchemy Core over SQLite by default (WAL, one writer at a time through `write()`, each write
transaction `BEGIN IMMEDIATE`); any SQLAlchemy URL works, so PostgreSQL is a URL away.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from feeds.config import Config
from feeds.errors import StoreError
from feeds.models import Byline, FileRecord, Item, TopicMatch
from feeds.store.claims import CLAIM_FILE, EXCLUSIVE_LOCKS, WRITER_LOCK, Claims, claim_key
from feeds.store.deliveries import DeliveryQueries, Steps
from feeds.store.schema import (
    MIGRATIONS,
    article_seq,
    article_topics,
    articles,
    files,
    runs,
    schema_version,
    signatures,
    story_terms,
    term_counts,
    unpublished,
)


@dataclass(frozen=True, slots=True)
class ArticleDraft:
    """Everything ingest computed for one article, ready to be stored."""

    id: str
    key: str
    path: str
    idx: int
    entry_id: str
    title: str
    author: str | None
    source: str | None
    dateline: str | None
    standfirst: str | None
    url: str | None
    body: tuple[str, ...]
    captions: tuple[str, ...]
    summary: str
    content_hash: str
    published: datetime | None  # None: keep the stored date, or use the fallback
    topics: tuple[TopicMatch, ...]
    terms: tuple[tuple[str, float], ...]  # story signature: (term, weight)


@dataclass(frozen=True, slots=True)
class SavedArticle:
    id: str
    change: str  # "new" | "updated" | "unchanged" | "removed" (the file no longer has it)
    published: datetime | None = None


def _sqlite_pragmas(busy_timeout: float) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _begin)
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


class Store(DeliveryQueries):
    """A handle on the database. Reads may run in parallel; writes go one at a time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_lock = threading.Lock()
        # the two statements run 100 times per stored article, built once and handed to the
        # driver as they are (see _Bulk)
        self._count_terms = _Bulk(engine.dialect, _count_terms(engine.dialect.name))
        self._post_terms = _Bulk(engine.dialect, story_terms.insert())
        # the signatures grouping read most recently, decoded, by (article id, content hash):
        # a backfill compares each new article with the same recent ones again and again
        self._signatures: OrderedDict[tuple[str, str], dict[str, float]] = OrderedDict()
        # document frequencies read and changed in the current write transaction
        self._counts = _TermCounts()
        self._compiled: dict[tuple[Any, frozenset[str]], _Bulk] = {}  # see _run

    @classmethod
    def for_config(cls, config: Config) -> Store:
        """The store `config` names ([store] url, busy timeout), schema brought up to date."""
        return cls.open(config.database_url, busy_timeout=config.store.busy_timeout_seconds)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, busy_timeout: float = 15.0) -> Store:
        """Connect, and bring the schema up to date. A database another process holds a
        write lock on is waited for up to `busy_timeout` seconds, then reported."""
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = sa.create_engine(url)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise StoreError(f"store.url {url!r} is not usable: {exc}") from None
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas(busy_timeout))
            sa.event.listen(engine, "begin", _sqlite_begin)
        store = cls(engine)
        try:
            if migrate:
                store.migrate()
            else:
                store.check_schema()
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open the database {url}: {exc.orig}") from None
        return store

    def close(self) -> None:
        self.engine.dispose()

    def _run(self, conn: Connection, statement: Any,
             rows: dict[str, Any] | list[dict[str, Any]]) -> int:
        """Run an INSERT or UPDATE for one row or several; the number of rows changed. On
        SQLite it is compiled once per statement and set of columns and given straight to the
        driver (see _Bulk): for the few small statements that store each article, SQLAlchemy's
        own work per statement cost more than SQLite's."""
        many = rows if isinstance(rows, list) else [rows]
        if not many:
            return 0
        key = (statement, frozenset(many[0]))
        bulk = self._compiled.get(key)
        if bulk is None:
            table = statement.table
            bulk = self._compiled[key] = _Bulk(
                self.engine.dialect, statement, [name for name in many[0] if name in table.c])
        return bulk.run(conn, [bulk.values(**row) for row in many] if bulk.direct else many)

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Connection]:
        """One write transaction. Writers go one at a time across every process sharing the
        database: SQLite's BEGIN IMMEDIATE does that by itself; on PostgreSQL a transaction
        advisory lock does, so sequence numbers are handed out in commit order and a row
        read before a write is still current when it is written (several daemons).

        `durable=False` is for bookkeeping a crash may lose (run records): its commit does
        not wait for the disk (SQLite: synchronous=NORMAL for it; PostgreSQL: asynchronous
        commit). It is still atomic, and the next durable commit makes it durable too."""
        with self._write_lock, self.engine.connect() as conn:
            conn = conn.execution_options(feeds_write=True)
            sqlite = conn.dialect.name == "sqlite"
            raw: Any = conn.connection.driver_connection  # pragmas outside any transaction
            if sqlite and not durable:
                raw.execute("PRAGMA synchronous=NORMAL")
            try:
                with self._transaction(conn):
                    if not sqlite and not durable:
                        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    self._counts = _TermCounts()
                    try:
                        yield conn
                        self._write_counts(conn)
                    finally:
                        self._counts = _TermCounts()
            finally:
                if sqlite and not durable:
                    raw.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def claims(self) -> Iterator[Claims]:
        held = Claims(self.engine)
        try:
            yield held
        finally:
            held.close()

    def shared(self) -> bool:
        """Can several daemons use this database at once? (PostgreSQL: yes; SQLite: one
        daemon owns the state folder.)"""
        return self.engine.dialect.name == "postgresql"

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
        steps as one transaction like write()'s. On SQLite they run on one connection held
        until the block ends, each statement compiled once and given straight to the driver,
        BEGIN IMMEDIATE and COMMIT too: SQLAlchemy's own work for such a transaction cost
        several times SQLite's, a quarter of a digest run. Elsewhere each call is a write()."""
        if self.engine.dialect.name != "sqlite":
            def through_write(steps: Steps) -> None:
                with self.write() as conn:
                    for statement, rows in steps:
                        self._run(conn, statement, rows)

            yield through_write
            return
        with self.engine.connect() as held:
            raw: Any = held.connection.driver_connection

            def direct(steps: Steps) -> None:
                with self._write_lock:
                    try:
                        raw.execute("BEGIN IMMEDIATE")
                        for statement, rows in steps:
                            self._run(held, statement, rows)
                        raw.execute("COMMIT")
                    except BaseException as exc:
                        if raw.in_transaction:
                            raw.execute("ROLLBACK")
                        if isinstance(exc, sqlite3.Error):  # as SQLAlchemy would raise it
                            raise sa.exc.DBAPIError.instance(None, None, exc,
                                                             sqlite3.Error) from exc
                        raise

            yield direct

    @contextmanager
    def _transaction(self, conn: Connection) -> Iterator[None]:
        with conn.begin():
            if self.shared():
                conn.execute(_WRITER_LOCK, {"key": WRITER_LOCK})
            yield

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # --- schema -------------------------------------------------------------------------
    def version(self) -> int:
        with self.read() as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return 0
            return int(conn.execute(sa.select(sa.func.max(schema_version.c.version)))
                       .scalar() or 0)

    def check_schema(self) -> None:
        have, want = self.version(), len(MIGRATIONS)
        if have > want:
            raise StoreError(
                f"the database is at schema version {have}, newer than this feeds ({want})",
                hint="upgrade feeds, or point store.url at another database",
            )
        if have < want:
            raise StoreError(f"the database is at schema version {have}; {want} is needed",
                             hint="run any feeds command that writes, e.g. `feeds ingest`")

    def migrate(self) -> None:
        if self.version() == len(MIGRATIONS):
            return  # current: no write transaction, so opening never waits on a writer
        with self.write() as conn:
            schema_version.create(conn, checkfirst=True)
            have = int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
                       or 0)
            if have > len(MIGRATIONS):
                raise StoreError(
                    f"the database is at schema version {have}, newer than this feeds "
                    f"({len(MIGRATIONS)})", hint="upgrade feeds")
            for number in range(have, len(MIGRATIONS)):
                MIGRATIONS[number](conn)
                conn.execute(schema_version.delete())
                conn.execute(schema_version.insert().values(version=number + 1))

    # --- files --------------------------------------------------------------------------
    def file_records(self, paths: Sequence[str] | None = None) -> dict[str, FileRecord]:
        """Every file's record, or only those of `paths` (a few files: the watcher's case)."""
        query = sa.select(files)
        if paths is not None:
            if not paths:
                return {}
            query = query.where(files.c.path.in_(list(paths)))
        with self.read() as conn:
            return {row.path: _file(row) for row in conn.execute(query)}

    def claim_files(self, claims: Claims, paths: Sequence[str]) -> set[str]:
        """The paths this daemon may read now: no other daemon sharing the database is
        reading them (held until `claims` is closed, or its daemon dies)."""
        got = claims.take(CLAIM_FILE, {claim_key(p): p for p in paths})
        return set(got.values())

    def release_files(self, claims: Claims, paths: Iterable[str]) -> None:
        """Give up the claims on these paths (their batch is stored)."""
        claims.drop(CLAIM_FILE, [claim_key(p) for p in paths])

    def file_record_in(self, conn: Connection, path: str) -> FileRecord | None:
        """The file's record as this write transaction sees it (another daemon may have
        recorded it since this one listed the inbox)."""
        row = conn.execute(_FILE, {"path": path}).first()
        return _file(row) if row else None

    def original_for(self, conn: Connection, sha256: str, path: str) -> str | None:
        """The stored file (other than `path`) whose bytes are exactly these."""
        row = conn.execute(_ORIGINAL, {"sha256": sha256, "path": path}).first()
        return row.path if row else None

    def record_file(self, conn: Connection, *, path: str, sha256: str, size: int, mtime_ns: int,
                    status: str, reason: str | None, duplicate_of: str | None, count: int,
                    now: datetime) -> None:
        values = dict(sha256=sha256, size=size, mtime_ns=mtime_ns, status=status, reason=reason,
                      duplicate_of=duplicate_of, articles=count, last_seen=now)
        if not self._run(conn, _UPDATE_FILE, {"where_path": path, **values}):
            self._run(conn, _INSERT_FILE, {"path": path, "first_seen": now, **values})

    def touch_file(self, conn: Connection, path: str, mtime_ns: int, now: datetime) -> None:
        conn.execute(files.update().where(files.c.path == path)
                     .values(mtime_ns=mtime_ns, last_seen=now))

    def failed_files(self) -> list[FileRecord]:
        with self.read() as conn:
            rows = conn.execute(sa.select(files).where(files.c.status == "failed")
                                .order_by(files.c.path))
            return [_file(row) for row in rows]

    # --- articles -----------------------------------------------------------------------
    def save_articles(self, conn: Connection, path: str, drafts: Sequence[ArticleDraft],
                      now: datetime, fallback_published: datetime,
                      stored: int | None = None) -> list[SavedArticle]:
        """Insert or update a file's articles; ones past the new count are removed (listed
        last, as "removed"). `stored`, the number of articles stored, lets the term index
        leave out the postings of very common terms (see _save_terms).

        An article without a date of its own keeps the date it was first stored with, so
        editing an undated file does not move it in the feeds.
        """
        existing = {row.key: row for row in conn.execute(_ARTICLES_OF, {"path": path})}
        saved: list[SavedArticle] = []
        for draft in drafts:
            old = existing.pop(draft.key, None)
            if old is not None and old.content_hash == draft.content_hash:
                saved.append(SavedArticle(draft.id, "unchanged"))
                continue
            stamp = self._next_updated(conn, now)
            published = draft.published or (old.published if old is not None
                                             else fallback_published)
            values = dict(
                path=draft.path, idx=draft.idx, entry_id=draft.entry_id, title=draft.title,
                author=draft.author, source=draft.source, dateline=draft.dateline,
                standfirst=draft.standfirst, url=draft.url, body=json.dumps(list(draft.body)),
                captions=json.dumps(list(draft.captions)), summary=draft.summary,
                content_hash=draft.content_hash, published=published, updated=stamp,
            )
            if old is None:
                self._run(conn, _INSERT_ARTICLE, {"id": draft.id, "key": draft.key,
                                                  "created": now, **values})
                # One writer at a time, so sequence numbers follow commit order.
                seq = conn.execute(_LAST_SEQ).scalar() or 0
                self._run(conn, _INSERT_SEQ, {"article_id": draft.id, "seq": seq + 1})
            else:
                conn.execute(articles.update().where(articles.c.id == draft.id).values(**values))
                conn.execute(_PUBLISHED, {"id": draft.id, "updated": stamp})  # the old version
            self._run(conn, _INSERT_UNPUBLISHED, {"article_id": draft.id, "updated": stamp})
            self._save_topics(conn, draft, fresh=old is None)
            self._save_terms(conn, draft, published, fresh=old is None, stored=stored)
            saved.append(SavedArticle(draft.id, "new" if old is None else "updated", published))
        for gone in existing.values():
            self._forget_terms(conn, gone.id)
            conn.execute(articles.delete().where(articles.c.id == gone.id))
            saved.append(SavedArticle(gone.id, "removed"))
        return saved

    def _next_updated(self, conn: Connection, now: datetime) -> datetime:
        """`now` to the millisecond, nudged past the newest stored `updated` so that no two
        entries share one (feed readers and validators treat equal stamps as suspect)."""
        stamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
        newest: datetime | None = conn.execute(_NEWEST_UPDATED).scalar()
        if newest is not None:
            newest = newest.replace(tzinfo=UTC) if newest.tzinfo is None else newest
            if newest >= stamp:
                return newest + timedelta(milliseconds=1)
        return stamp

    def _save_topics(self, conn: Connection, draft: ArticleDraft, *, fresh: bool) -> None:
        self.replace_topics(conn, draft.id, draft.topics, fresh=fresh)

    def replace_topics(self, conn: Connection, article_id: str,
                       topics: Sequence[TopicMatch], *, fresh: bool = False) -> None:
        if not fresh:  # a new article has nothing to replace
            conn.execute(article_topics.delete().where(
                article_topics.c.article_id == article_id))
        if topics:
            self._run(conn, _INSERT_TOPIC, [
                dict(article_id=article_id, slug=t.slug, score=t.score, threshold=t.threshold,
                     evidence=json.dumps(list(t.evidence))) for t in topics])

    def _save_terms(self, conn: Connection, draft: ArticleDraft, published: datetime, *,
                    fresh: bool, stored: int | None) -> None:
        """The article's signature, its terms counted, and its postings in the term index.
        Candidates are looked up by terms found in at most 2 % of articles (and 100,
        stories.retrieval_terms); a term in more than 10 % (and 500) gets no posting: most
        postings were of such terms, and none was ever read. Such a term is used for look-ups
        again only once the store has grown fivefold, and then finds the articles posted
        before it became common and after; articles about one event are close in time, and
        each is found through any of twenty terms."""
        if not fresh:
            self._forget_terms(conn, draft.id)
        for term, _weight in draft.terms:  # counted once more (written at commit)
            self._counts.change[term] += 1
        if not fresh:
            conn.execute(story_terms.delete().where(story_terms.c.article_id == draft.id))
            conn.execute(signatures.delete().where(signatures.c.article_id == draft.id))
        self._run(conn, _INSERT_SIGNATURE, {"article_id": draft.id,
                                            "terms": json.dumps(dict(draft.terms))})
        self._remember((draft.id, draft.content_hash), dict(draft.terms))
        posted = draft.terms
        if stored is not None and posted:
            common = max(COMMON_TERM_FLOOR, stored // 10)
            df = self.document_frequency(conn, [term for term, _weight in posted])
            posted = tuple((t, w) for t, w in posted if df.get(t, 0) <= common)
        if posted:
            values = self._post_terms.values(published=published,
                                             dated=draft.published is not None)
            self._post_terms.run(conn, [dict(values, term=term, article_id=draft.id,
                                             weight=weight) for term, weight in posted])

    def _forget_terms(self, conn: Connection, article_id: str) -> None:
        """The article's terms (its signature's, posted or not) no longer count in the
        document frequencies."""
        signature = conn.execute(_SIGNATURE_OF, {"article_id": article_id}).scalar()
        for term in json.loads(signature) if signature else ():
            self._counts.change[term] -= 1

    def _write_counts(self, conn: Connection) -> None:
        """The transaction's changes to document frequencies, one row per term."""
        rows = [{"term": term, "change": n} for term, n in self._counts.change.items() if n]
        if rows:
            self._count_terms.run(conn, rows)

    def set_story(self, conn: Connection, article_id: str, story_id: str) -> None:
        self._run(conn, _SET_STORY, {"where_id": article_id, "story_id": story_id})

    def story_candidates(self, conn: Connection, terms: Iterable[str],
                         window: tuple[datetime, datetime] | None, exclude: Iterable[str],
                         limit: int = 10) -> list[str]:
        """Articles sharing the most of `terms`, dated within `window` (or undated)."""
        terms = list(terms)
        if not terms:
            return []
        params = {"terms": terms, "exclude": list(exclude), "limit": limit}
        if window is None:
            return [row.article_id for row in conn.execute(_CANDIDATES, params)]
        return [row.article_id for row in conn.execute(
            _CANDIDATES_IN_WINDOW, {**params, "since": window[0], "until": window[1]})]

    def terms_of(self, conn: Connection, ids: Iterable[str]
                 ) -> dict[str, tuple[dict[str, float], str]]:
        """id -> (its story signature, its story id)."""
        ids = list(ids)
        if not ids:
            return {}
        rows = conn.execute(_SIGNATURES_WITH_STORY, {"ids": ids})
        out = {}
        for row in rows:
            key = (row.id, row.content_hash)
            terms = self._signatures.get(key)
            if terms is None:
                terms = self._remember(key, json.loads(row.terms))
            else:
                self._signatures.move_to_end(key)
            out[row.id] = (terms, row.story_id or row.id)
        return out

    def _remember(self, key: tuple[str, str], terms: dict[str, float]) -> dict[str, float]:
        """Keep a decoded signature (inside write transactions only: one thread at a time).
        The content hash in the key means an article changed since is read again."""
        self._signatures[key] = terms
        if len(self._signatures) > SIGNATURES_KEPT:
            self._signatures.popitem(last=False)
        return terms

    def story_reports(self, conn: Connection, story_ids: Iterable[str],
                      known: Mapping[str, dict[str, float]]
                      ) -> dict[str, list[tuple[str, dict[str, float]]]]:
        """Story id -> its reports' (id, signature), the MAX_STORY_REPORTS newest of each;
        the signatures in `known` are not read again."""
        story_ids = list(story_ids)
        if not story_ids:
            return {}
        # newest first; the sort is stable, so reports of one date keep their id order
        out = {story: [row.id for row in sorted(members, key=lambda row: row.published,
                                                 reverse=True)[:MAX_STORY_REPORTS]]
               for story, members in _story_members(conn, story_ids).items()}
        unread = [i for ids in out.values() for i in ids if i not in known]
        read = {row.article_id: json.loads(row.terms) for row in conn.execute(
            _SIGNATURES, {"ids": unread})} if unread else {}
        return {story: [(i, known[i] if i in known else read[i]) for i in ids if
                        i in known or i in read] for story, ids in out.items()}

    def document_frequency(self, conn: Connection, terms: Iterable[str]) -> dict[str, int]:
        """How many stored articles have each term (inside a write transaction: with its
        own changes so far)."""
        terms = list(terms)  # read twice below
        counts = self._counts
        unread = [term for term in terms if term not in counts.stored]
        if unread:
            counts.stored.update(dict.fromkeys(unread, 0))
            counts.stored.update((term, int(n)) for term, n in conn.execute(
                _DOCUMENT_FREQUENCY, {"terms": unread}))
        out = {}
        for term in terms:
            n = counts.stored[term] + counts.change.get(term, 0)
            if n:
                out[term] = n
        return out

    def article_ids(self) -> set[str]:
        with self.read() as conn:
            return set(conn.execute(sa.select(articles.c.id)).scalars())

    def article_count(self, conn: Connection | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(articles)
        if conn is not None:
            return int(conn.execute(query).scalar() or 0)
        with self.read() as own:
            return int(own.execute(query).scalar() or 0)

    def items(self, *, topic: str | None = None, limit: int | None = None, offset: int = 0,
              ids: Iterable[str] | None = None, oldest_first: bool = False,
              order: str = "published", reuse: Mapping[str, Item] | None = None
              ) -> list[Item]:
        """Stored articles with their topics and story siblings, newest first.

        `order` is "published" (the article's date) or "created" (when it was first stored:
        the order feeds and their archive pages follow, so full pages never change).
        `reuse`: items read before; the text of one whose `updated` is unchanged is taken
        from it instead of read and decoded again (topics and siblings are always read).
        """
        query = sa.select(*(c for c in articles.c if c.name not in _TEXT))
        if ids is not None:
            query = query.where(articles.c.id.in_(list(ids)))
        # Stored order is (created, id): an article's place never moves, not even when it
        # is edited (articles stored in one batch share `created`), so a full archive page
        # changes only when one of its own articles does.
        columns = ((articles.c.created, articles.c.id) if order == "created"
                   else (articles.c.published, articles.c.updated, articles.c.id))
        query = query.order_by(*(columns if oldest_first else (c.desc() for c in columns)))
        if limit is not None:
            query = query.limit(limit).offset(offset)
        with self.read() as conn:
            if topic is not None:
                query = query.where(self._topic_filter(
                    conn, topic, None if limit is None else offset + limit))
            rows = conn.execute(query).all()
            found = [row.id for row in rows]
            topics: dict[str, list[TopicMatch]] = {}
            for t in conn.execute(sa.select(article_topics)
                                  .where(article_topics.c.article_id.in_(found))
                                  .order_by(article_topics.c.score.desc())):
                topics.setdefault(t.article_id, []).append(TopicMatch(
                    t.slug, t.score, t.threshold, tuple(json.loads(t.evidence))))
            stories = {row.story_id for row in rows if row.story_id}
            siblings = {story: [(s.id, s.published) for s in members]
                        for story, members in _story_members(conn, stories).items()}
            reuse = reuse or {}
            texts = {row.id: (old.body, old.captions) for row in rows
                     if (old := reuse.get(row.id)) is not None and old.updated == row.updated}
            unread = [row.id for row in rows if row.id not in texts]
            for t in (conn.execute(sa.select(articles.c.id, *(articles.c[c] for c in _TEXT))
                                   .where(articles.c.id.in_(unread))) if unread else ()):
                texts[t.id] = (tuple(json.loads(t.body)), tuple(json.loads(t.captions)))
        return [_item(row, texts[row.id], topics.get(row.id, []),
                      _nearest(row, siblings.get(row.story_id, []))) for row in rows]

    def neighbours(self, ids: Iterable[str]) -> set[str]:
        """The other articles whose related reports (the MAX_RELATED of their story nearest in
        time) include one of these. Nearness is not symmetric: a report can be among the
        nearest of one that is not among its own nearest."""
        ids = set(ids)
        if not ids:
            return set()
        with self.read() as conn:
            stories = _story_members(conn, {row.story_id for row in conn.execute(
                _STORIES_OF, {"ids": list(ids)}) if row.story_id})
        found: set[str] = set()
        for rows in stories.values():
            members = [(row.id, row.published) for row in rows]
            found.update(row.id for row in rows
                         if row.id not in ids and not ids.isdisjoint(_nearest(row, members)))
        return found

    def bylines(self, ids: Iterable[str]) -> dict[str, Byline]:
        """Title, author and source of these articles (what links to them show)."""
        ids = list(ids)
        if not ids:
            return {}
        with self.read() as conn:
            return {row.id: Byline(row.id, row.title, row.author, row.source)
                    for row in conn.execute(sa.select(
                        articles.c.id, articles.c.title, articles.c.author, articles.c.source)
                        .where(articles.c.id.in_(ids)))}

    def _topic_filter(self, conn: Connection, topic: str, needed: int | None) -> Any:
        """Articles in `topic`. For the first `needed` of a big topic, walk the articles in
        stored order and test each (stops early); otherwise list the topic's articles and sort
        them: both cost about the same when k² = total × needed (k: the topic's size)."""
        if needed is not None:
            size = _topic_size(conn, topic)
            if size * size > self.article_count(conn) * needed:
                return _in_topic_exists(topic)
        return articles.c.id.in_(_in_topic(topic))

    def positions(self, ids: Iterable[str], topic: str | None = None) -> dict[str, int]:
        """Each article's 0-based place in the order articles were stored (within a topic).
        A few articles are counted one by one; many (a backfill) in one numbered pass."""
        ids = list(ids)
        out: dict[str, int] = {}
        with self.read() as conn:
            if len(ids) > 8:
                place = sa.func.row_number().over(
                    order_by=(articles.c.created, articles.c.id)).label("place")
                numbered = sa.select(articles.c.id, place)
                if topic is not None:
                    numbered = numbered.where(articles.c.id.in_(_in_topic(topic)))
                inner = numbered.subquery()
                wanted = set(ids)
                for row in conn.execute(sa.select(inner.c.id, inner.c.place)):
                    if row.id in wanted:
                        out[row.id] = int(row.place) - 1
                return out
            # counted from the end: edited and new articles are mostly recent, so few come
            # after them, while all the others come before
            query = sa.select(articles.c.id, articles.c.created).where(articles.c.id.in_(ids))
            size = self.article_count(conn) if topic is None else _topic_size(conn, topic)
            if topic is not None:
                query = query.where(articles.c.id.in_(_in_topic(topic)))
            for row in conn.execute(query).all():
                after = sa.select(sa.func.count()).select_from(articles).where(sa.or_(
                    articles.c.created > row.created,
                    sa.and_(articles.c.created == row.created, articles.c.id > row.id)))
                if topic is not None:
                    after = after.where(_in_topic_exists(topic))
                out[row.id] = size - 1 - int(conn.execute(after).scalar() or 0)
        return out

    def count_items(self, topic: str | None = None) -> int:
        with self.read() as conn:
            return self.article_count(conn) if topic is None else _topic_size(conn, topic)

    # --- runs and status ----------------------------------------------------------------
    def record_run(self, kind: str, started: datetime, finished: datetime, ok: bool,
                   detail: dict[str, Any]) -> None:
        with self.write(durable=False) as conn:  # status only: not worth a wait for the disk
            conn.execute(runs.delete().where(runs.c.kind == kind))
            conn.execute(runs.insert().values(kind=kind, started=started, finished=finished,
                                              ok=ok, detail=json.dumps(detail)))

    def pages_written(self, versions: Sequence[tuple[str, datetime]]) -> None:
        """These articles' pages now show these versions (their `updated`): they are no
        longer unpublished, unless a newer version was stored meanwhile. Bookkeeping a crash
        may lose: the page is then written again."""
        if not versions:
            return
        with self.write(durable=False) as conn:
            conn.execute(_PUBLISHED, [{"id": i, "updated": u} for i, u in versions])

    def unpublished(self, *, before: datetime | None = None) -> set[str]:
        """Articles stored and not published since: a run or a daemon was stopped between
        storing and publishing them, or ran --no-publish. `before`: only those stored before
        then (not the ones another daemon is publishing now)."""
        query = sa.select(unpublished.c.article_id)
        if before is not None:
            query = query.where(unpublished.c.updated < before)
        with self.read() as conn:
            return set(conn.execute(query).scalars())

    def last_runs(self) -> dict[str, dict[str, Any]]:
        with self.read() as conn:
            return {row.kind: {"started": row.started, "finished": row.finished, "ok": row.ok,
                               **json.loads(row.detail)}
                    for row in conn.execute(sa.select(runs))}

    def counts(self) -> dict[str, int]:
        with self.read() as conn:
            by_status: dict[str, int] = dict(conn.execute(sa.select(files.c.status, sa.func.count())
                                          .group_by(files.c.status)).all())
            topic_counts: dict[str, int] = dict(conn.execute(
                sa.select(article_topics.c.slug, sa.func.count())
                .group_by(article_topics.c.slug)).all())
            stories = conn.execute(sa.select(sa.func.count(sa.distinct(articles.c.story_id))))
            result = {
                "articles": self.article_count(conn),
                "stories": int(stories.scalar() or 0),
                "files": sum(by_status.values()),
                "files_ok": by_status.get("ok", 0),
                "files_failed": by_status.get("failed", 0),
                "files_duplicate": by_status.get("duplicate", 0),
            }
        result.update({f"topic:{slug}": int(n) for slug, n in topic_counts.items()})
        return result


class _TermCounts:
    """Document frequencies within one write transaction: each term's stored count read
    once, the transaction's changes kept here and written at its end, one row per term. A
    batch of a backfill shares most of its terms, so this replaced an upsert per term of
    every article (a hundred each) and a read of each count for every article holding it."""

    def __init__(self) -> None:
        self.stored: dict[str, int] = {}
        self.change: Counter[str] = Counter()


class _Bulk:
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
        except sqlite3.Error as exc:  # as SQLAlchemy would have raised it
            raise sa.exc.DBAPIError.instance(self.sql, parameters, exc, sqlite3.Error) from exc

    def parameters(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        fixed = self.fixed
        return [tuple(row[k] if k in row else fixed[k] for k in self.order) for row in rows]


def _count_terms(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (term) DO UPDATE articles + change, in the database's dialect
    (a term's first count is never a decrease: it is counted before it can be forgotten)."""
    insert: Any
    if dialect == "sqlite":
        insert = sqlite_insert(term_counts)
    else:  # imported here: on SQLite, every command would pay for importing it
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert
        insert = postgresql_insert(term_counts)
    return insert.values(term=sa.bindparam("term"), articles=sa.bindparam("change")
                         ).on_conflict_do_update(
        index_elements=[term_counts.c.term],
        set_={"articles": term_counts.c.articles + insert.excluded.articles})


# Statements run for every stored article, built once with bound parameters: building a
# statement costs more than running it (65 us against 19 us for a look-up by key).
_bind = sa.bindparam
_WRITER_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")
_FILE = sa.select(files).where(files.c.path == _bind("path"))
_ORIGINAL = sa.select(files.c.path).where(files.c.sha256 == _bind("sha256"),
                                          files.c.path != _bind("path"),
                                          files.c.status == "ok").limit(1)
_UPDATE_FILE = files.update().where(files.c.path == _bind("where_path"))  # SET: the params
_ARTICLES_OF = sa.select(articles.c.id, articles.c.key, articles.c.content_hash,
                         articles.c.published).where(articles.c.path == _bind("path"))
_NEWEST_UPDATED = sa.select(sa.func.max(articles.c.updated))
_LAST_SEQ = sa.select(sa.func.max(article_seq.c.seq))
_SET_STORY = articles.update().where(articles.c.id == _bind("where_id"))
# the columns these set are the keys of the rows given to Store._run
_INSERT_ARTICLE = articles.insert()
_INSERT_SEQ = article_seq.insert()
_INSERT_TOPIC = article_topics.insert()
_INSERT_SIGNATURE = signatures.insert()
_INSERT_FILE = files.insert()
_INSERT_UNPUBLISHED = unpublished.insert()
# published up to this version (a version stored later stays unpublished)
_PUBLISHED = unpublished.delete().where(unpublished.c.article_id == _bind("id"),
                                        unpublished.c.updated <= _bind("updated"))
_CANDIDATES = (sa.select(story_terms.c.article_id, sa.func.count().label("shared"))
               .where(story_terms.c.term.in_(_bind("terms", expanding=True)),
                      story_terms.c.article_id.not_in(_bind("exclude", expanding=True)))
               .group_by(story_terms.c.article_id)
               .order_by(sa.desc("shared"), story_terms.c.article_id).limit(_bind("limit")))
_CANDIDATES_IN_WINDOW = _CANDIDATES.where(sa.or_(
    story_terms.c.dated.is_(False), story_terms.c.published.between(_bind("since"),
                                                                    _bind("until"))))
_SIGNATURES_WITH_STORY = (
    sa.select(articles.c.id, articles.c.story_id, articles.c.content_hash, signatures.c.terms)
    .join(signatures, signatures.c.article_id == articles.c.id)
    .where(articles.c.id.in_(_bind("ids", expanding=True))))
_SIGNATURES = sa.select(signatures).where(
    signatures.c.article_id.in_(_bind("ids", expanding=True)))
_SIGNATURE_OF = sa.select(signatures.c.terms).where(
    signatures.c.article_id == _bind("article_id"))
_DOCUMENT_FREQUENCY = sa.select(term_counts.c.term, term_counts.c.articles).where(
    term_counts.c.term.in_(_bind("terms", expanding=True)))
_MEMBERS_OF = (sa.select(articles.c.id, articles.c.story_id, articles.c.published)
               .where(articles.c.story_id.in_(_bind("stories", expanding=True)))
               .order_by(articles.c.published, articles.c.id))
_STORIES_OF = sa.select(articles.c.story_id).where(articles.c.id.in_(_bind("ids", expanding=True)))

COMMON_TERM_FLOOR = 500  # a term in fewer articles always gets its postings (_save_terms)
MAX_STORY_REPORTS = 25  # a new report is compared with the 25 newest of a story at most
SIGNATURES_KEPT = 2000  # decoded signatures a store keeps (about 20 MB); 91 % of a backfill's reads
MAX_RELATED = 10  # an article links the 10 reports of its story nearest to it in time


def _story_members(conn: Connection, stories: Iterable[str]) -> dict[str, list[Any]]:
    """Each of these stories' reports (rows: id, story_id, published) in the order related
    links are chosen in, (published, id)."""
    members: dict[str, list[Any]] = {}
    stories = list(stories)
    if not stories:
        return members
    for row in conn.execute(_MEMBERS_OF, {"stories": stories}):
        members.setdefault(row.story_id, []).append(row)
    return members


def _nearest(row: Any, members: list[tuple[str, datetime]]) -> list[str]:
    """The MAX_RELATED other members nearest in time (ties: smaller id), oldest first.
    `members` is sorted by (published, id), so only a window around the row's place can
    hold them: MAX_RELATED + 1 on each side, widened over equal times at its edges."""
    if len(members) > 2 * MAX_RELATED + 3:
        place = bisect.bisect_left(members, (row.published, row.id),
                                   key=lambda m: (m[1], m[0]))
        low, high = max(0, place - MAX_RELATED - 1), min(len(members), place + MAX_RELATED + 2)
        while low > 0 and members[low - 1][1] == members[low][1]:
            low -= 1
        while high < len(members) and members[high][1] == members[high - 1][1]:
            high += 1
        members = members[low:high]
    others = [m for m in members if m[0] != row.id]
    if len(others) > MAX_RELATED:
        published = row.published
        others = sorted(others, key=lambda m: (abs((m[1] - published).total_seconds()),
                                               m[0]))[:MAX_RELATED]
        others.sort(key=lambda m: (m[1], m[0]))
    return [m[0] for m in others]


def _in_topic(topic: str) -> sa.Select[tuple[str]]:
    return sa.select(article_topics.c.article_id).where(article_topics.c.slug == topic)


def _in_topic_exists(topic: str) -> Any:
    """The article (of the outer query) is in `topic`: tested row by row, for scans that
    stop early, where listing the whole topic would not."""
    return sa.exists().where(article_topics.c.article_id == articles.c.id,
                             article_topics.c.slug == topic)


def _topic_size(conn: Connection, topic: str) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(article_topics)
                            .where(article_topics.c.slug == topic)).scalar() or 0)


def _file(row: Any) -> FileRecord:
    return FileRecord(path=row.path, status=row.status, reason=row.reason, sha256=row.sha256,
                      size=row.size, mtime_ns=row.mtime_ns, duplicate_of=row.duplicate_of,
                      articles=row.articles, seen=row.last_seen)


_TEXT = ("body", "captions")  # the bulky columns Store.items can take from earlier reads


def _item(row: Any, text: tuple[tuple[str, ...], tuple[str, ...]], topics: list[TopicMatch],
          related: list[str]) -> Item:
    body, captions = text
    return Item(
        id=row.id, key=row.key, entry_id=row.entry_id, title=row.title,
        body=body, author=row.author, source=row.source,
        dateline=row.dateline, published=row.published, updated=row.updated,
        summary=row.summary, captions=captions,
        standfirst=row.standfirst, url=row.url, story_id=row.story_id, topics=tuple(topics),
        related=tuple(related),
    )
