"""The live schema: the tables as the queries see them today.

Never created from here: databases are built by `feeds.store.migrations`, whose DDL is
frozen per step; tests/test_migrations.py checks the two agree."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa


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
    sa.Column("language", sa.String(8)),  # ISO 639-1; NULL: unknown (or stored before v8)
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



subscribers = sa.Table(
    "subscribers", metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("topics", sa.Text, nullable=False),  # JSON list of slugs
    sa.Column("schedule", sa.String(64), nullable=False, index=True),
    # pending | active | paused | bounced | complained | unsubscribed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("watermark", sa.BigInteger, nullable=False),  # last article seq delivered
    sa.Column("hard_failures", sa.Integer, nullable=False),
    # version 6: every look-up goes through the lowercased address (the first spelling stays
    # in `email`); `token` is the opaque key of the preference and unsubscribe links
    sa.Column("email_key", sa.String(320), unique=True, index=True),
    sa.Column("token", sa.String(64), unique=True, index=True),
    sa.Column("consent_at", UTCDateTime),
    sa.Column("consent_ip", sa.String(64)),
    sa.Column("confirmed_at", UTCDateTime),
    # version 7
    sa.Column("soft_bounces", sa.Integer, nullable=False, server_default="0"),  # in a row
)

# the consent record: one row per sign-up form sent, confirmed or not
signups = sa.Table(
    "signups", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email_key", sa.String(320), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("topics", sa.Text, nullable=False),  # JSON list of slugs
    sa.Column("schedule", sa.String(64), nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("created", UTCDateTime, nullable=False, index=True),
    sa.Column("mailed_at", UTCDateTime),
    sa.Column("confirmed_at", UTCDateTime),
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



signatures = sa.Table(
    "signatures", metadata,
    sa.Column("article_id", sa.String(32), sa.ForeignKey("articles.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("terms", sa.Text, nullable=False),  # JSON object: term -> weight
)



term_counts = sa.Table(
    "term_counts", metadata,
    sa.Column("term", sa.String(80), primary_key=True),
    sa.Column("articles", sa.Integer, nullable=False),  # document frequency
)



unpublished = sa.Table(
    "unpublished", metadata,
    sa.Column("article_id", sa.String(32), sa.ForeignKey("articles.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("updated", UTCDateTime, nullable=False),  # the version stored
)


retractions = sa.Table(
    "retractions", metadata,
    sa.Column("article_id", sa.String(32), primary_key=True),  # outlives the article's row
    sa.Column("key", sa.String, nullable=False, unique=True),
    sa.Column("entry_id", sa.String, nullable=False),  # the tombstone's ref
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),  # "" when none was given
    sa.Column("retracted", UTCDateTime, nullable=False),  # the tombstone's when
    sa.Column("topics", sa.Text, nullable=False),  # JSON list: the feeds that listed it
)

known_topics = sa.Table(
    "known_topics", metadata,
    sa.Column("slug", sa.String(64), primary_key=True),  # configured now or once
    sa.Column("title", sa.Text, nullable=False),  # as last configured
)

bounce_reports = sa.Table(
    "bounce_reports", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received", UTCDateTime, nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False, index=True),  # hard|soft|complaint|...
    sa.Column("email_key", sa.String(320), index=True),  # the subscriber's, lowercased
    sa.Column("token", sa.String(64)),  # the VERP token the message named
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("message", sa.String(255)),  # the mailbox's name for the message
)
