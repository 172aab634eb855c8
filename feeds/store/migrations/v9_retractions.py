"""Schema version 9: retractions (an article taken down keeps its identity as a tombstone)
and the topics the site has configured (so a topic removed from the config is known as
removed, with its title, after its articles were classified again)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Frozen: these tables as version 9 created them. Never edit; add a migration instead.
_metadata = sa.MetaData()

# what this step reads to seed known_topics (created by versions 1 and 2)
_article_topics = sa.Table("article_topics", _metadata,
                           sa.Column("slug", sa.String(64), primary_key=True))
_subscribers = sa.Table("subscribers", _metadata,
                        sa.Column("email", sa.String(320), primary_key=True),
                        sa.Column("topics", sa.Text, nullable=False))

retractions = sa.Table(
    "retractions", _metadata,
    # no foreign key: the retraction outlives the article's row (a story dropped from its file)
    sa.Column("article_id", sa.String(32), primary_key=True),
    sa.Column("key", sa.String, nullable=False, unique=True),
    sa.Column("entry_id", sa.String, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("retracted", sa.DateTime, nullable=False),
    sa.Column("topics", sa.Text, nullable=False),
)

known_topics = sa.Table(
    "known_topics", _metadata,
    sa.Column("slug", sa.String(64), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
)


def migrate(conn: Connection) -> None:
    retractions.create(conn)
    known_topics.create(conn)
    # Topics removed before this version are known only from what still names them.
    slugs = set(conn.execute(sa.select(_article_topics.c.slug).distinct()).scalars())
    for topics in conn.execute(sa.select(_subscribers.c.topics)).scalars():
        slugs.update(str(s) for s in json.loads(topics))
    if slugs:
        conn.execute(known_topics.insert(), [{"slug": s, "title": s} for s in sorted(slugs)])
