"""Named queries for articles: storing a file's articles with their topics, and reading them
back as feed items with their topics and story siblings."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from feeds.models import ArticleDraft, Byline, Item, TopicMatch
from feeds.store.engine import Queries
from feeds.store.pages import INSERT_UNPUBLISHED, PUBLISHED
from feeds.store.retractions import RETRACTED_IDS
from feeds.store.schema import article_seq, article_topics, articles
from feeds.store.story_index import StoryIndexWrites, nearest_reports, story_members


@dataclass(frozen=True, slots=True)
class SavedArticle:
    id: str
    change: str  # "new" | "updated" | "unchanged" | "removed" (the file no longer has it)
    published: datetime | None = None


# Run for every stored article, built once with bound parameters: building a statement costs
# more than running it (65 us against 19 us for a look-up by key).
_bind = sa.bindparam
_ARTICLES_OF = sa.select(articles.c.id, articles.c.key, articles.c.content_hash,
                         articles.c.published).where(articles.c.path == _bind("path"))
_NEWEST_UPDATED = sa.select(sa.func.max(articles.c.updated))
_LAST_SEQ = sa.select(sa.func.max(article_seq.c.seq))
_COUNT = sa.select(sa.func.count()).select_from(articles)
_STORIES_OF = sa.select(articles.c.story_id).where(articles.c.id.in_(_bind("ids", expanding=True)))
# the columns these set are the keys of the rows given to Queries.run
_INSERT_ARTICLE = articles.insert()
_INSERT_SEQ = article_seq.insert()
_INSERT_TOPIC = article_topics.insert()

_TEXT = ("body", "captions")  # the bulky columns items() can take from earlier reads
_TOPICS_OF = (sa.select(article_topics).where(article_topics.c.article_id.in_(
    _bind("ids", expanding=True))).order_by(article_topics.c.score.desc()))
_BYLINES = sa.select(articles.c.id, articles.c.title, articles.c.author, articles.c.source).where(
    articles.c.id.in_(_bind("ids", expanding=True)))
_TEXTS_OF = sa.select(articles.c.id, *(articles.c[c] for c in _TEXT)).where(
    articles.c.id.in_(_bind("ids", expanding=True)))
GROWTH_REPORTED = 25  # new articles between two reports of growth (Database.grew)


class ArticleReads(Queries):
    def article_ids(self) -> set[str]:
        """The articles published: every stored one but the retracted."""
        return set(self.conn.execute(sa.select(articles.c.id)
                                     .where(articles.c.id.not_in(RETRACTED_IDS))).scalars())

    def article_count(self) -> int:
        return int(self.conn.execute(_COUNT).scalar() or 0)

    def count_items(self, topic: str | None = None) -> int:
        return self.article_count() if topic is None else self._topic_size(topic)

    def items(self, *, topic: str | None = None, limit: int | None = None, offset: int = 0,
              ids: Iterable[str] | None = None, oldest_first: bool = False,
              order: str = "published", reuse: Mapping[str, Item] | None = None
              ) -> list[Item]:
        """Stored articles with their topics and story siblings, newest first.

        `order` is "published" (the article's date) or "created" (when it was first stored:
        the order feeds and their archive pages follow, so full pages never change).
        `reuse`: items read before; the text of one whose `updated` is unchanged is taken
        from it instead of read and decoded again (topics and siblings are always read).

        Retracted articles are left out, but keep their place: `limit` and `offset` count
        them, so a feed or archive page covers the same stretch of the stored order with or
        without them (its tombstones fill the gaps; see feeds.publish.tombstones).
        """
        conn = self.conn
        topic_test = None
        if topic is not None:
            topic_test = self._topic_test(topic, None if limit is None else offset + limit)
        params: dict[str, Any] = {"topic": topic, "limit": limit, "offset": offset}
        if ids is not None:
            params["ids"] = list(ids)
        query = _items_query(order, oldest_first, ids is not None, limit is not None,
                             topic_test)
        rows = conn.execute(query, params).all()
        gone = set(conn.execute(RETRACTED_IDS).scalars())
        if gone:
            rows = [row for row in rows if row.id not in gone]
        found = [row.id for row in rows]
        topics: dict[str, list[TopicMatch]] = {}
        for t in conn.execute(_TOPICS_OF, {"ids": found}).all():
            topics.setdefault(t.article_id, []).append(TopicMatch(
                t.slug, t.score, t.threshold, tuple(json.loads(t.evidence))))
        stories = {row.story_id for row in rows if row.story_id}
        siblings = {story: [(s.id, s.published) for s in members if s.id not in gone]
                    for story, members in story_members(conn, stories).items()}
        reuse = reuse or {}
        texts = {row.id: (old.body, old.captions) for row in rows
                 if (old := reuse.get(row.id)) is not None and old.updated == row.updated}
        unread = [row.id for row in rows if row.id not in texts]
        for t in conn.execute(_TEXTS_OF, {"ids": unread}).all() if unread else ():
            texts[t.id] = (tuple(json.loads(t.body)), tuple(json.loads(t.captions)))
        return [_item(row, texts[row.id], topics.get(row.id, []),
                      nearest_reports(row, siblings.get(row.story_id, []))) for row in rows]

    def items_outside(self, topics: Iterable[str], *, limit: int,
                      reuse: Mapping[str, Item] | None = None) -> list[Item]:
        """The `limit` articles stored last that are in none of `topics` (the configured
        ones: what no topic page lists), as `items` gives them."""
        in_one = sa.exists().where(article_topics.c.article_id == articles.c.id,
                                   article_topics.c.slug.in_(list(topics)))
        ids = list(self.conn.execute(sa.select(articles.c.id).where(~in_one).order_by(
            articles.c.created.desc(), articles.c.id.desc()).limit(limit)).scalars())
        return self.items(ids=ids, order="created", reuse=reuse) if ids else []

    def neighbours(self, ids: Iterable[str]) -> set[str]:
        """The other articles whose related reports (the MAX_RELATED of their story nearest in
        time) include one of these. Nearness is not symmetric: a report can be among the
        nearest of one that is not among its own nearest. Retracted reports are no one's
        related, unless asked about: then the pages that listed them are found."""
        ids = set(ids)
        if not ids:
            return set()
        stories = story_members(self.conn, {row.story_id for row in self.conn.execute(
            _STORIES_OF, {"ids": list(ids)}) if row.story_id})
        gone = set(self.conn.execute(RETRACTED_IDS).scalars()) - ids
        found: set[str] = set()
        for rows in stories.values():
            rows = [row for row in rows if row.id not in gone]
            members = [(row.id, row.published) for row in rows]
            found.update(row.id for row in rows if row.id not in ids
                         and not ids.isdisjoint(nearest_reports(row, members)))
        return found

    def bylines(self, ids: Iterable[str]) -> dict[str, Byline]:
        """Title, author and source of these articles (what links to them show)."""
        ids = list(ids)
        if not ids:
            return {}
        return {row.id: Byline(row.id, row.title, row.author, row.source)
                for row in self.conn.execute(_BYLINES, {"ids": ids}).all()}

    def positions(self, ids: Iterable[str], topic: str | None = None) -> dict[str, int]:
        """Each article's 0-based place in the order articles were stored (within a topic).
        A few articles are counted one by one; many (a backfill) in one numbered pass."""
        ids = list(ids)
        out: dict[str, int] = {}
        conn = self.conn
        if len(ids) > 8:
            place = sa.func.row_number().over(
                order_by=(articles.c.created, articles.c.id)).label("place")
            numbered = sa.select(articles.c.id, place)
            if topic is not None:
                numbered = numbered.where(articles.c.id.in_(_in_topic(topic)))
            inner = numbered.subquery()
            wanted = set(ids)
            for row in conn.execute(sa.select(inner.c.id, inner.c.place)):
                if row.id in wanted:
                    out[row.id] = int(row.place) - 1
            return out
        # counted from the end: edited and new articles are mostly recent, so few come
        # after them, while all the others come before
        query = sa.select(articles.c.id, articles.c.created).where(articles.c.id.in_(ids))
        size = self.count_items(topic)
        if topic is not None:
            query = query.where(articles.c.id.in_(_in_topic(topic)))
        for row in conn.execute(query).all():
            after = sa.select(sa.func.count()).select_from(articles).where(sa.or_(
                articles.c.created > row.created,
                sa.and_(articles.c.created == row.created, articles.c.id > row.id)))
            if topic is not None:
                after = after.where(_in_topic_exists(topic))
            out[row.id] = size - 1 - int(conn.execute(after).scalar() or 0)
        return out

    def _topic_size(self, topic: str) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(article_topics)
                                     .where(article_topics.c.slug == topic)).scalar() or 0)

    def _topic_test(self, topic: str, needed: int | None) -> str:
        """How items() tests that an article is in `topic`. For the first `needed` of a big
        topic, walk the articles in stored order and test each ("exists": stops early);
        otherwise list the topic's articles and sort them ("in"): both cost about the same
        when k² = total × needed (k: the topic's size)."""
        if needed is not None:
            size = self._topic_size(topic)
            if size * size > self.article_count() * needed:
                return "exists"
        return "in"


class ArticleWrites(ArticleReads, StoryIndexWrites):
    new_articles: list[str]  # added in this transaction, numbered at its end
    grew: Callable[[int], None]  # told of new articles every GROWTH_REPORTED (Database.grew)
    unreported: int  # new articles it was not told of yet
    # the newest `updated` stored, once read: article writers wait for each other (one
    # writer on SQLite, the story lock on PostgreSQL), so no other transaction moves it
    newest_updated: datetime | None

    def save_articles(self, path: str, drafts: Sequence[ArticleDraft], now: datetime,
                      fallback_published: datetime, stored: int | None = None
                      ) -> list[SavedArticle]:
        """Insert or update a file's articles; ones past the new count are removed (listed
        last, as "removed"). `stored`, the number of articles stored, lets the term index
        leave out the postings of very common terms (see save_terms).

        An article without a date of its own keeps the date it was first stored with, so
        editing an undated file does not move it in the feeds.
        """
        conn = self.conn
        existing = {row.key: row for row in conn.execute(_ARTICLES_OF, {"path": path})}
        saved: list[SavedArticle] = []
        for draft in drafts:
            old = existing.pop(draft.key, None)
            if old is not None and old.content_hash == draft.content_hash:
                saved.append(SavedArticle(draft.id, "unchanged"))
                continue
            stamp = self._next_updated(now)
            published = draft.published or (old.published if old is not None
                                             else fallback_published)
            values = dict(
                path=draft.path, idx=draft.idx, entry_id=draft.entry_id, title=draft.title,
                author=draft.author, source=draft.source, dateline=draft.dateline,
                standfirst=draft.standfirst, url=draft.url, body=json.dumps(list(draft.body)),
                captions=json.dumps(list(draft.captions)), summary=draft.summary,
                content_hash=draft.content_hash, published=published, updated=stamp,
                language=draft.language,
            )
            if old is None:
                self.run(_INSERT_ARTICLE, {"id": draft.id, "key": draft.key, "created": now,
                                           **values})
                self.new_articles.append(draft.id)  # numbered at the end (number_new_articles)
                self.unreported += 1
                if self.unreported >= GROWTH_REPORTED:
                    self.grew(self.unreported)
                    self.unreported = 0
            else:
                conn.execute(articles.update().where(articles.c.id == draft.id).values(**values))
                conn.execute(PUBLISHED, {"id": draft.id, "updated": stamp})  # the old version
            self.run(INSERT_UNPUBLISHED, {"article_id": draft.id, "updated": stamp})
            self.replace_topics(draft.id, draft.topics, fresh=old is None)
            self.save_terms(draft.id, draft.content_hash, draft.terms, published,
                            dated=draft.published is not None, fresh=old is None, stored=stored)
            saved.append(SavedArticle(draft.id, "new" if old is None else "updated", published))
        for gone in existing.values():
            if gone.id in self.new_articles:
                self.new_articles.remove(gone.id)
            self.forget_terms(gone.id)
            conn.execute(articles.delete().where(articles.c.id == gone.id))
            saved.append(SavedArticle(gone.id, "removed"))
        return saved

    def number_new_articles(self) -> None:
        """The sequence numbers of the articles this transaction added, in the order it added
        them (the caller holds the writers' lock until the commit: numbers follow commit
        order, which digests rely on)."""
        seq = int(self.conn.execute(_LAST_SEQ).scalar() or 0)
        self.run(_INSERT_SEQ, [{"article_id": article_id, "seq": seq + n}
                               for n, article_id in enumerate(self.new_articles, 1)])

    def replace_topics(self, article_id: str, topics: Sequence[TopicMatch], *,
                       fresh: bool = False) -> None:
        if not fresh:  # a new article has nothing to replace
            self.conn.execute(article_topics.delete().where(
                article_topics.c.article_id == article_id))
        if topics:
            self.run(_INSERT_TOPIC, [
                dict(article_id=article_id, slug=t.slug, score=t.score, threshold=t.threshold,
                     evidence=json.dumps(list(t.evidence))) for t in topics])

    def _next_updated(self, now: datetime) -> datetime:
        """`now` to the millisecond, nudged past the newest stored `updated` so that no two
        entries share one (feed readers and validators treat equal stamps as suspect)."""
        stamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
        newest = self.newest_updated
        if newest is None:  # read once per transaction: only this one writes `updated` now
            newest = self.conn.execute(_NEWEST_UPDATED).scalar()
            if newest is not None and newest.tzinfo is None:
                newest = newest.replace(tzinfo=UTC)
        if newest is not None and newest >= stamp:
            stamp = newest + timedelta(milliseconds=1)
        self.newest_updated = stamp
        return stamp


@functools.cache
def _items_query(order: str, oldest_first: bool, by_ids: bool, limited: bool,
                 topic_test: str | None) -> sa.Select[Any]:
    """ArticleReads.items' query of one shape, built once (building it cost more than running
    it); its parameters: ids, limit, offset, topic."""
    query = sa.select(*(c for c in articles.c if c.name not in _TEXT))
    if by_ids:
        query = query.where(articles.c.id.in_(_bind("ids", expanding=True)))
    # Stored order is (created, id): an article's place never moves, not even when it is
    # edited (articles stored in one batch share `created`), so a full archive page changes
    # only when one of its own articles does.
    columns = ((articles.c.created, articles.c.id) if order == "created"
               else (articles.c.published, articles.c.updated, articles.c.id))
    query = query.order_by(*(columns if oldest_first else (c.desc() for c in columns)))
    if limited:
        query = query.limit(_bind("limit", type_=sa.Integer)).offset(
            _bind("offset", type_=sa.Integer))
    if topic_test == "exists":
        query = query.where(sa.exists().where(article_topics.c.article_id == articles.c.id,
                                              article_topics.c.slug == _bind("topic")))
    elif topic_test == "in":
        query = query.where(articles.c.id.in_(sa.select(article_topics.c.article_id).where(
            article_topics.c.slug == _bind("topic"))))
    return query


def _in_topic(topic: str) -> sa.Select[tuple[str]]:
    return sa.select(article_topics.c.article_id).where(article_topics.c.slug == topic)


def _in_topic_exists(topic: str) -> Any:
    """The article (of the outer query) is in `topic`: tested row by row, for scans that
    stop early, where listing the whole topic would not."""
    return sa.exists().where(article_topics.c.article_id == articles.c.id,
                             article_topics.c.slug == topic)


def _item(row: Any, text: tuple[tuple[str, ...], tuple[str, ...]], topics: list[TopicMatch],
          related: list[str]) -> Item:
    body, captions = text
    return Item(
        id=row.id, key=row.key, entry_id=row.entry_id, title=row.title,
        body=body, author=row.author, source=row.source,
        dateline=row.dateline, published=row.published, updated=row.updated,
        summary=row.summary, captions=captions,
        standfirst=row.standfirst, url=row.url, story_id=row.story_id, topics=tuple(topics),
        related=tuple(related), language=row.language,
    )
