"""Schema version 3: each article's story signature as one value, so comparing a new article
with its candidates reads one row per candidate instead of a hundred."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Frozen: this table as version 3 created it. Never edit; add a migration instead.
_metadata = sa.MetaData()

# what this step reads (created by version 1), and what signatures refers to
_articles = sa.Table("articles", _metadata, sa.Column("id", sa.String(32), primary_key=True))
_story_terms = sa.Table(
    "story_terms", _metadata,
    sa.Column("term", sa.String(80), primary_key=True),
    sa.Column("article_id", sa.String(32), primary_key=True),
    sa.Column("weight", sa.Float, nullable=False),
)

signatures = sa.Table(
    "signatures", _metadata,
    sa.Column("article_id", sa.String(32), sa.ForeignKey("articles.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("terms", sa.Text, nullable=False),
)


def migrate(conn: Connection) -> None:
    signatures.create(conn)
    found: dict[str, dict[str, float]] = {}
    for article, term, weight in conn.execute(sa.select(
            _story_terms.c.article_id, _story_terms.c.term, _story_terms.c.weight)):
        found.setdefault(article, {})[term] = weight
    if found:
        conn.execute(signatures.insert(), [{"article_id": a, "terms": json.dumps(t)}
                                           for a, t in found.items()])
