"""Schema version 1: files, articles, their topics, the story term index, run records."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Frozen: these tables as version 1 created them. Never edit; add a migration instead.
_metadata = sa.MetaData()

files = sa.Table(
    "files", _metadata,
    sa.Column("path", sa.String, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("duplicate_of", sa.String),
    sa.Column("articles", sa.Integer, nullable=False),
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
)

articles = sa.Table(
    "articles", _metadata,
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
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("captions", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("story_id", sa.String(32), index=True),
    sa.Column("published", sa.DateTime, nullable=False, index=True),
    sa.Column("updated", sa.DateTime, nullable=False, index=True),
    sa.Column("created", sa.DateTime, nullable=False, index=True),
)

article_topics = sa.Table(
    "article_topics", _metadata,
    sa.Column("article_id", sa.String(32), sa.ForeignKey("articles.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("slug", sa.String(64), primary_key=True, index=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
)

story_terms = sa.Table(
    "story_terms", _metadata,
    sa.Column("term", sa.String(80), primary_key=True),
    sa.Column("article_id", sa.String(32), sa.ForeignKey("articles.id", ondelete="CASCADE"),
              primary_key=True, index=True),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("published", sa.DateTime, nullable=False),
    sa.Column("dated", sa.Boolean, nullable=False),
)

runs = sa.Table(
    "runs", _metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("started", sa.DateTime, nullable=False),
    sa.Column("finished", sa.DateTime, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)


def migrate(conn: Connection) -> None:
    _metadata.create_all(conn)
