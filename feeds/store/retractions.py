"""Named queries for retractions and for the topics the site has configured.

A retracted article keeps its row (its place in the stored order, so archive pages around it
do not shift, and `feeds retract --undo` can bring it back) and gains a retraction: the
article reads leave it out of feeds, pages and digests, and publish writes a tombstone where
it was listed. Pending deliveries drop it at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from feeds.store.engine import Queries
from feeds.store.schema import article_topics, articles, deliveries, known_topics, retractions


@dataclass(frozen=True, slots=True)
class Retraction:
    article_id: str
    key: str
    entry_id: str
    title: str
    reason: str  # "" when none was given
    retracted: datetime
    topics: tuple[str, ...]  # the topics it was in: the feeds that listed it


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """What a retraction needs of an article: who it is, and where it is listed."""

    id: str
    key: str
    path: str
    entry_id: str
    title: str
    topics: tuple[str, ...]


RETRACTED_IDS = sa.select(retractions.c.article_id)


class RetractionReads(Queries):
    def retractions(self) -> list[Retraction]:
        """Every retraction, the latest first."""
        return [_retraction(row) for row in self.conn.execute(
            sa.select(retractions).order_by(retractions.c.retracted.desc(),
                                            retractions.c.article_id))]

    def retracted_ids(self) -> set[str]:
        return set(self.conn.execute(RETRACTED_IDS).scalars())

    def articles_named(self, *, ids: Iterable[str] = (), entry_ids: Iterable[str] = (),
                       keys: Iterable[str] = (), paths: Iterable[str] = ()
                       ) -> list[StoredArticle]:
        """The stored articles with any of these ids, Atom ids, keys or inbox paths, in
        stored order."""
        wanted = [column.in_(list(values)) for column, values in (
            (articles.c.id, ids), (articles.c.entry_id, entry_ids), (articles.c.key, keys),
            (articles.c.path, paths)) if values]
        if not wanted:
            return []
        rows = self.conn.execute(sa.select(articles.c.id, articles.c.key, articles.c.path,
                                           articles.c.entry_id, articles.c.title)
                                 .where(sa.or_(*(list(wanted))))
                                 .order_by(articles.c.path, articles.c.idx)).all()
        topics: dict[str, list[str]] = {}
        for article_id, slug in self.conn.execute(
                sa.select(article_topics.c.article_id, article_topics.c.slug)
                .where(article_topics.c.article_id.in_([r.id for r in rows]))
                .order_by(article_topics.c.slug)):
            topics.setdefault(article_id, []).append(slug)
        return [StoredArticle(r.id, r.key, r.path, r.entry_id, r.title,
                              tuple(topics.get(r.id, ()))) for r in rows]

    def retracted_in(self, topic: str | None, limit: int, offset: int = 0, *,
                     newest_first: bool = False) -> list[Retraction]:
        """The retractions among a stretch of the stored order (of a topic's articles): the
        same stretch `items(topic=..., limit=..., offset=..., order="created")` covers."""
        window = sa.select(articles.c.id)
        if topic is not None:
            window = window.where(articles.c.id.in_(
                sa.select(article_topics.c.article_id).where(article_topics.c.slug == topic)))
        order = (articles.c.created, articles.c.id)
        window = window.order_by(*((c.desc() for c in order) if newest_first else order))
        inner = window.limit(limit).offset(offset).subquery()
        return [_retraction(row) for row in self.conn.execute(
            sa.select(retractions).where(retractions.c.article_id.in_(sa.select(inner.c.id)))
            .order_by(retractions.c.retracted.desc(), retractions.c.article_id))]

    def known_topics(self) -> dict[str, str]:
        """Every topic the site has configured, now or before: slug -> title."""
        return {str(slug): str(title) for slug, title in self.conn.execute(
            sa.select(known_topics.c.slug, known_topics.c.title)
            .order_by(known_topics.c.slug))}


class RetractionWrites(RetractionReads):
    def retract(self, article: StoredArticle, reason: str, now: datetime) -> Retraction | None:
        """Take the article down; None when it was retracted already (the first retraction
        stands: its date is the tombstone's). Pending deliveries drop it; one left with
        nothing to send is deleted, which moves its subscriber's next digest back to the
        same, now empty, start."""
        conn = self.conn
        if conn.execute(sa.select(retractions.c.article_id)
                        .where(retractions.c.article_id == article.id)).first() is not None:
            return None
        retraction = Retraction(article.id, article.key, article.entry_id, article.title,
                                reason, now, article.topics)
        conn.execute(retractions.insert().values(
            article_id=article.id, key=article.key, entry_id=article.entry_id,
            title=article.title, reason=reason, retracted=now,
            topics=json.dumps(list(article.topics))))
        for delivery_id, listed in conn.execute(
                sa.select(deliveries.c.id, deliveries.c["items"])
                .where(deliveries.c.status == "pending")).all():
            items = json.loads(listed)
            if article.id not in items:
                continue
            left = [i for i in items if i != article.id]
            change = deliveries.c.id == delivery_id
            conn.execute(deliveries.update().where(change).values(items=json.dumps(left))
                         if left else deliveries.delete().where(change))
        return retraction

    def unretract(self, article_id: str) -> Retraction | None:
        """Bring a retracted article back; its retraction, or None when there was none."""
        row = self.conn.execute(sa.select(retractions)
                                .where(retractions.c.article_id == article_id)).first()
        if row is None:
            return None
        self.conn.execute(retractions.delete().where(retractions.c.article_id == article_id))
        return _retraction(row)

    def remember_topics(self, configured: Mapping[str, str]) -> dict[str, str]:
        """Record the configured topics (slug -> title); returns every topic known now:
        slug -> the title it last had."""
        known = self.known_topics()
        new = [{"slug": s, "title": t} for s, t in configured.items() if s not in known]
        if new:
            self.conn.execute(known_topics.insert(), new)
        for slug, title in configured.items():
            if slug in known and known[slug] != title:
                self.conn.execute(known_topics.update().where(known_topics.c.slug == slug)
                                  .values(title=title))
        return {**known, **configured}


def _retraction(row: Any) -> Retraction:
    return Retraction(row.article_id, row.key, row.entry_id, row.title, row.reason,
                      row.retracted, tuple(json.loads(row.topics)))
