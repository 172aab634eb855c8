"""Schema version 4: document frequencies kept up to date on write, so grouping a new article
reads one row per term instead of counting the term's whole postings list."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Frozen: this table as version 4 created it. Never edit; add a migration instead.
_metadata = sa.MetaData()

# what this step reads (created by version 1)
_story_terms = sa.Table(
    "story_terms", _metadata,
    sa.Column("term", sa.String(80), primary_key=True),
    sa.Column("article_id", sa.String(32), primary_key=True),
)

term_counts = sa.Table(
    "term_counts", _metadata,
    sa.Column("term", sa.String(80), primary_key=True),
    sa.Column("articles", sa.Integer, nullable=False),
)


def migrate(conn: Connection) -> None:
    term_counts.create(conn)
    rows = conn.execute(sa.select(_story_terms.c.term, sa.func.count())
                        .group_by(_story_terms.c.term)).all()
    if rows:
        conn.execute(term_counts.insert(), [{"term": t, "articles": n} for t, n in rows])
