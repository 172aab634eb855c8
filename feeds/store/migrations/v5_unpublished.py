"""Schema version 5: the articles stored and not yet published (their page not written for
this version), so that what a daemon stored and was stopped before publishing is found and
published by whichever daemon looks next. What is stored already counts as published (a
daemon's start publishes everything)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Frozen: this table as version 5 created it. Never edit; add a migration instead.
_metadata = sa.MetaData()

# what unpublished refers to (created by version 1)
_articles = sa.Table("articles", _metadata, sa.Column("id", sa.String(32), primary_key=True))

unpublished = sa.Table(
    "unpublished", _metadata,
    sa.Column("article_id", sa.String(32), sa.ForeignKey("articles.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("updated", sa.DateTime, nullable=False),
)


def migrate(conn: Connection) -> None:
    unpublished.create(conn)
