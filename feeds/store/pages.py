"""Named queries for what is published: the articles stored and whose page is not written
for their stored version yet."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from feeds.store.engine import Queries
from feeds.store.retractions import RETRACTED_IDS
from feeds.store.schema import unpublished

# published up to this version (a version stored later stays unpublished); run for every
# stored article, so built once
PUBLISHED = unpublished.delete().where(unpublished.c.article_id == sa.bindparam("id"),
                                       unpublished.c.updated <= sa.bindparam("updated"))
INSERT_UNPUBLISHED = unpublished.insert()


class PageReads(Queries):
    def unpublished(self, *, before: datetime | None = None) -> set[str]:
        """Articles stored and not published since: a run or a daemon was stopped between
        storing and publishing them, or ran --no-publish. `before`: only those stored before
        then (not the ones another daemon is publishing now). A retracted article has no
        page to publish."""
        query = sa.select(unpublished.c.article_id).where(
            unpublished.c.article_id.not_in(RETRACTED_IDS))
        if before is not None:
            query = query.where(unpublished.c.updated < before)
        return set(self.conn.execute(query).scalars())


class PageWrites(PageReads):
    def pages_written(self, versions: Sequence[tuple[str, datetime]]) -> None:
        """These articles' pages now show these versions (their `updated`): they are no
        longer unpublished, unless a newer version was stored meanwhile."""
        if versions:
            self.conn.execute(PUBLISHED, [{"id": i, "updated": u} for i, u in versions])

    def all_published(self) -> None:
        """Every stored article counts as published (as after a full publish)."""
        self.conn.execute(sa.delete(unpublished))
