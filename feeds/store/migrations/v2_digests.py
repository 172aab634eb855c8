"""Schema version 2: subscribers, deliveries, digest runs; and a sequence number per article,
in the order articles were stored, so a digest watermark never skips an article committed
late."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Frozen: these tables as version 2 created them. Never edit; add a migration instead.
_metadata = sa.MetaData()

# what this step reads of articles (created by version 1), and what article_seq refers to
_articles = sa.Table(
    "articles", _metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("updated", sa.DateTime, nullable=False),
    sa.Column("created", sa.DateTime, nullable=False),
)

subscribers = sa.Table(
    "subscribers", _metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("topics", sa.Text, nullable=False),
    sa.Column("schedule", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("watermark", sa.BigInteger, nullable=False),
    sa.Column("hard_failures", sa.Integer, nullable=False),
)

deliveries = sa.Table(
    "deliveries", _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subscriber", sa.String(320), nullable=False, index=True),
    sa.Column("schedule", sa.String(64), nullable=False),
    sa.Column("run", sa.String(64), nullable=False),
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("watermark", sa.BigInteger, nullable=False),
    sa.Column("message_id", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("finished", sa.DateTime),
    sa.UniqueConstraint("subscriber", "schedule", "run"),
)

digest_runs = sa.Table(
    "digest_runs", _metadata,
    sa.Column("schedule", sa.String(64), primary_key=True),
    sa.Column("slot", sa.String(40), primary_key=True),
    sa.Column("started", sa.DateTime, nullable=False),
    sa.Column("finished", sa.DateTime),
)

article_seq = sa.Table(
    "article_seq", _metadata,
    sa.Column("article_id", sa.String(32), sa.ForeignKey("articles.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False, unique=True),
)


def migrate(conn: Connection) -> None:
    _metadata.create_all(conn, tables=[subscribers, deliveries, digest_runs, article_seq])
    rows = conn.execute(sa.select(_articles.c.id).order_by(
        _articles.c.created, _articles.c.updated, _articles.c.id)).scalars().all()
    if rows:
        conn.execute(article_seq.insert(), [{"article_id": a, "seq": n}
                                            for n, a in enumerate(rows, 1)])
