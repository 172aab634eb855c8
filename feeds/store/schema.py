"""The schema in one place, and the append-only list of migrations that builds it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the database keeps."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

files = sa.Table(
    "files", metadata,
    sa.Column("path", sa.String, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # ok | failed | duplicate
    sa.Column("reason", sa.Text),
    sa.Column("duplicate_of", sa.String),
    sa.Column("articles", sa.Integer, nullable=False, default=0),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
)

articles = sa.Table(
    "articles", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("key", sa.String, nullable=False, unique=True),
    sa.Column("path", sa.String, nullable=False, index=True),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("entry_id", sa.String, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("author", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("dateline", sa.Text),
    sa.Column("standfirst", sa.Text),
    sa.Column("url", sa.Text),
    sa.Column("body", sa.Text, nullable=False),  # JSON list of paragraphs
    sa.Column("captions", sa.Text, nullable=False),  # JSON list
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("story_id", sa.String(32), index=True),
    sa.Column("published", UTCDateTime, nullable=False, index=True),
    sa.Column("updated", UTCDateTime, nullable=False, index=True),
    sa.Column("created", UTCDateTime, nullable=False, index=True),
)

article_topics = sa.Table(
    "article_topics", metadata,
    sa.Column("article_id", sa.String(32), sa.ForeignKey("articles.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("slug", sa.String(64), primary_key=True, index=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),  # JSON list
)

story_terms = sa.Table(
    "story_terms", metadata,
    sa.Column("term", sa.String(80), primary_key=True),
    sa.Column("article_id", sa.String(32), sa.ForeignKey("articles.id", ondelete="CASCADE"),
              primary_key=True, index=True),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("published", UTCDateTime, nullable=False),
    sa.Column("dated", sa.Boolean, nullable=False),  # False: the date is only the file's mtime
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("started", UTCDateTime, nullable=False),
    sa.Column("finished", UTCDateTime, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),  # JSON object
)


def _v1_initial(conn: Connection) -> None:
    metadata.create_all(conn, tables=[files, articles, article_topics, story_terms, runs])


subscribers = sa.Table(
    "subscribers", metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("topics", sa.Text, nullable=False),  # JSON list of slugs
    sa.Column("schedule", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),  # active | unsubscribed | paused
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("watermark", sa.BigInteger, nullable=False),  # last article seq delivered
    sa.Column("hard_failures", sa.Integer, nullable=False),
)

deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subscriber", sa.String(320), nullable=False, index=True),
    sa.Column("schedule", sa.String(64), nullable=False),
    sa.Column("run", sa.String(64), nullable=False),
    sa.Column("items", sa.Text, nullable=False),  # JSON list of article ids
    sa.Column("watermark", sa.BigInteger, nullable=False),  # seq the subscriber reaches
    sa.Column("message_id", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),  # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("finished", UTCDateTime),
    sa.UniqueConstraint("subscriber", "schedule", "run"),
)

digest_runs = sa.Table(
    "digest_runs", metadata,
    sa.Column("schedule", sa.String(64), primary_key=True),
    sa.Column("slot", sa.String(40), primary_key=True),  # the scheduled time, ISO 8601 UTC
    sa.Column("started", UTCDateTime, nullable=False),
    sa.Column("finished", UTCDateTime),
)

article_seq = sa.Table(
    "article_seq", metadata,
    sa.Column("article_id", sa.String(32), sa.ForeignKey("articles.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False, unique=True),
)


def _v2_digests(conn: Connection) -> None:
    """Subscribers, deliveries, digest runs; and a sequence number per article, in the order
    articles were stored, so a digest watermark never skips an article committed late."""
    metadata.create_all(conn, tables=[subscribers, deliveries, digest_runs, article_seq])
    rows = conn.execute(sa.select(articles.c.id).order_by(articles.c.created, articles.c.updated,
                                                          articles.c.id)).scalars().all()
    if rows:
        conn.execute(article_seq.insert(), [{"article_id": a, "seq": n}
                                            for n, a in enumerate(rows, 1)])


signatures = sa.Table(
    "signatures", metadata,
    sa.Column("article_id", sa.String(32), sa.ForeignKey("articles.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("terms", sa.Text, nullable=False),  # JSON object: term -> weight
)


def _v3_signatures(conn: Connection) -> None:
    """Each article's story signature as one value, so comparing a new article with its
    candidates reads one row per candidate instead of a hundred."""
    signatures.create(conn)
    found: dict[str, dict[str, float]] = {}
    for article, term, weight in conn.execute(
            sa.select(story_terms.c.article_id, story_terms.c.term, story_terms.c.weight)):
        found.setdefault(article, {})[term] = weight
    if found:
        conn.execute(signatures.insert(), [{"article_id": a, "terms": json.dumps(t)}
                                           for a, t in found.items()])


term_counts = sa.Table(
    "term_counts", metadata,
    sa.Column("term", sa.String(80), primary_key=True),
    sa.Column("articles", sa.Integer, nullable=False),  # document frequency
)


def _v4_term_counts(conn: Connection) -> None:
    """Document frequencies kept up to date on write, so grouping a new article reads one row
    per term instead of counting the term's whole postings list."""
    term_counts.create(conn)
    rows = conn.execute(sa.select(story_terms.c.term, sa.func.count())
                        .group_by(story_terms.c.term)).all()
    if rows:
        conn.execute(term_counts.insert(), [{"term": t, "articles": n} for t, n in rows])


unpublished = sa.Table(
    "unpublished", metadata,
    sa.Column("article_id", sa.String(32), sa.ForeignKey("articles.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("updated", UTCDateTime, nullable=False),  # the version stored
)


def _v5_unpublished(conn: Connection) -> None:
    """The articles stored and not yet published (their page not written for this version),
    so that what a daemon stored and was stopped before publishing is found and published by
    whichever daemon looks next. What is stored already counts as published (a daemon's start
    publishes everything)."""
    unpublished.create(conn)


# Append-only: the schema version is the length of this list. Never edit a shipped entry.
MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1_initial, _v2_digests, _v3_signatures, _v4_term_counts, _v5_unpublished]


