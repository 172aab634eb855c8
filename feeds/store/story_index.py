"""Named queries for the story index: each article's signature, the term postings candidates
are found through, the terms' document frequencies, and the stories' members.

Only write transactions use the index (grouping happens as articles are stored), one at a
time, so the caches here need no lock.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from feeds.models import FACT_PREFIX
from feeds.store.engine import CompiledStatements, Queries
from feeds.store.schema import articles, signatures, story_terms, term_counts

COMMON_TERM_FLOOR = 500  # a term in fewer articles always gets its postings (save_terms)
MAX_STORY_REPORTS = 25  # a new report is compared with the 25 newest of a story at most
SIGNATURES_KEPT = 2000  # decoded signatures a store keeps (about 20 MB)
MAX_RELATED = 10  # an article links the 10 reports of its story nearest to it in time

# Run for every stored article, built once with bound parameters: building a statement costs
# more than running it.
_bind = sa.bindparam
_INSERT_SIGNATURE = signatures.insert()
_SIGNATURE_OF = sa.select(signatures.c.terms).where(
    signatures.c.article_id == _bind("article_id"))
_SET_STORY = articles.update().where(articles.c.id == _bind("where_id"))
_CANDIDATES = (sa.select(story_terms.c.article_id, sa.func.count().label("shared"))
               .where(story_terms.c.term.in_(_bind("terms", expanding=True)),
                      story_terms.c.article_id.not_in(_bind("exclude", expanding=True)))
               .group_by(story_terms.c.article_id)
               .order_by(sa.desc("shared"), story_terms.c.article_id).limit(_bind("limit")))
_CANDIDATES_IN_WINDOW = _CANDIDATES.where(sa.or_(
    story_terms.c.dated.is_(False), story_terms.c.published.between(_bind("since"),
                                                                    _bind("until"))))
_SIGNATURES_WITH_STORY = (
    sa.select(articles.c.id, articles.c.story_id, articles.c.content_hash, signatures.c.terms)
    .join(signatures, signatures.c.article_id == articles.c.id)
    .where(articles.c.id.in_(_bind("ids", expanding=True))))
_SIGNATURES = sa.select(signatures).where(
    signatures.c.article_id.in_(_bind("ids", expanding=True)))
_DOCUMENT_FREQUENCY = sa.select(term_counts.c.term, term_counts.c.articles).where(
    term_counts.c.term.in_(_bind("terms", expanding=True)))
_MEMBERS_OF = (sa.select(articles.c.id, articles.c.story_id, articles.c.published)
               .where(articles.c.story_id.in_(_bind("stories", expanding=True)))
               .order_by(articles.c.published, articles.c.id))


@dataclass(frozen=True)
class IndexStatements:
    """The writes of the term index in the database's dialect: each article's postings, and
    a transaction's document-frequency changes at its end.

    SQLite takes many rows of one statement cheaply (feeds.store.engine.BulkStatement).
    PostgreSQL runs each row of an executemany as a statement of its own (pipelined, but each
    parsed, planned and executed apart, ~22 µs of server time a row, 100 postings an
    article); there they go as two arrays in one INSERT ... SELECT FROM unnest(...)."""

    count_terms: Any  # rows {term, change}: INSERT ... ON CONFLICT (term) DO UPDATE + change
    post_terms: Any  # rows {term, article_id, weight, published, dated}
    arrays: bool  # True: one row {terms: [...], changes / weights: [...], ...} for all

    @classmethod
    def for_dialect(cls, dialect: str) -> IndexStatements:
        """A term's first count is never a decrease: it is counted before it can be
        forgotten."""
        if dialect == "sqlite":
            insert = sqlite_insert(term_counts)
            rows = insert.values(term=sa.bindparam("term"), articles=sa.bindparam("change"))
            return cls(rows.on_conflict_do_update(
                index_elements=[term_counts.c.term],
                set_={"articles": term_counts.c.articles + insert.excluded.articles}),
                story_terms.insert(), arrays=False)
        # imported here: on SQLite, every command would pay for importing them
        from sqlalchemy.dialects.postgresql import ARRAY
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert
        counts = sa.func.unnest(_bind("terms", type_=ARRAY(sa.String)),
                                _bind("changes", type_=ARRAY(sa.Integer))).table_valued(
            "term", "change", with_ordinality="place").render_derived()
        from_arrays = postgresql_insert(term_counts).from_select(
            ["term", "articles"],
            sa.select(counts.c.term, counts.c.change).order_by(counts.c.place))
        upsert = from_arrays.on_conflict_do_update(
            index_elements=[term_counts.c.term],
            set_={"articles": term_counts.c.articles + from_arrays.excluded.articles})
        postings = sa.func.unnest(_bind("terms", type_=ARRAY(sa.String)),
                                  _bind("weights", type_=ARRAY(sa.Float))).table_valued(
            "term", "weight").render_derived()
        post = story_terms.insert().from_select(
            ["term", "article_id", "weight", "published", "dated"],
            sa.select(postings.c.term, _bind("article_id", type_=sa.String), postings.c.weight,
                      _bind("published", type_=story_terms.c.published.type),
                      _bind("dated", type_=sa.Boolean)))
        return cls(upsert, post, arrays=True)

    def post(self, conn: Connection, statements: CompiledStatements, article_id: str,
             posted: Sequence[tuple[str, float]], published: datetime, dated: bool) -> None:
        """An article's postings: (term, weight) pairs."""
        if self.arrays:
            conn.execute(self.post_terms, {
                "terms": [t for t, _w in posted], "weights": [w for _t, w in posted],
                "article_id": article_id, "published": published, "dated": dated})
            return
        bulk = statements.bulk(self.post_terms)
        values = bulk.values(published=published, dated=dated)
        bulk.run(conn, [dict(values, term=term, article_id=article_id, weight=weight)
                        for term, weight in posted])

    def count(self, conn: Connection, statements: CompiledStatements,
              changed: Sequence[tuple[str, int]]) -> None:
        """Document-frequency changes: (term, change) pairs, in term order."""
        if self.arrays:
            conn.execute(self.count_terms, {"terms": [t for t, _n in changed],
                                            "changes": [n for _t, n in changed]})
            return
        statements.bulk(self.count_terms).run(
            conn, [{"term": term, "change": n} for term, n in changed])


class TermCounts:
    """Document frequencies within one write transaction: each term's stored count read
    once, the transaction's changes kept here and written at its end, one row per term. A
    batch of a backfill shares most of its terms, so one upsert per term of the batch
    replaces one per term of every article."""

    def __init__(self) -> None:
        self.stored: dict[str, int] = {}
        self.change: Counter[str] = Counter()


class SignatureCache:
    """The signatures grouping read most recently, decoded, by (article id, content hash): a
    backfill compares each new article with the same recent ones again and again. The content
    hash in the key means an article changed since is read again."""

    def __init__(self) -> None:
        self.decoded: OrderedDict[tuple[str, str], dict[str, float]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> dict[str, float] | None:
        found = self.decoded.get(key)
        if found is not None:
            self.decoded.move_to_end(key)
        return found

    def keep(self, key: tuple[str, str], terms: dict[str, float]) -> dict[str, float]:
        self.decoded[key] = terms
        if len(self.decoded) > SIGNATURES_KEPT:
            self.decoded.popitem(last=False)
        return terms


class StoryIndexWrites(Queries):
    """The story index as a write transaction sees it, its own changes included."""

    term_counts: TermCounts
    signature_cache: SignatureCache
    index_statements: IndexStatements

    def save_terms(self, article_id: str, content_hash: str, terms: tuple[tuple[str, float], ...],
                   published: datetime, *, dated: bool, fresh: bool,
                   stored: int | None) -> None:
        """The article's signature, its terms counted, and its postings in the term index.
        Candidates are looked up by terms found in at most 2 % of articles (and 100,
        stories.retrieval_terms); a term in more than 10 % (and 500) gets no posting: most
        postings were of such terms, and none was ever read. Such a term is used for look-ups
        again only once the store has grown fivefold, and then finds the articles posted
        before it became common and after; articles about one event are close in time, and
        each is found through any of twenty terms."""
        if not fresh:
            self.forget_terms(article_id)
        # a report's specifics (the day, counts, places: feeds.stories.facts) ride in its
        # signature for the story rules; they are no words, so they are neither counted nor
        # posted: no look-up reads them
        words = tuple((t, w) for t, w in terms if not t.startswith(FACT_PREFIX))
        for term, _weight in words:  # counted once more (written at commit)
            self.term_counts.change[term] += 1
        if not fresh:
            self.conn.execute(story_terms.delete().where(story_terms.c.article_id == article_id))
            self.conn.execute(signatures.delete().where(signatures.c.article_id == article_id))
        self.run(_INSERT_SIGNATURE, {"article_id": article_id, "terms": json.dumps(dict(terms))})
        self.signature_cache.keep((article_id, content_hash), dict(terms))
        posted = words
        if stored is not None and posted:
            common = max(COMMON_TERM_FLOOR, stored // 10)
            df = self.document_frequency([term for term, _weight in posted])
            posted = tuple((t, w) for t, w in posted if df.get(t, 0) <= common)
        if posted:
            self.index_statements.post(self.conn, self.statements, article_id, posted,
                                       published, dated)

    def forget_terms(self, article_id: str) -> None:
        """The article's terms (its signature's, posted or not) no longer count in the
        document frequencies."""
        signature = self.conn.execute(_SIGNATURE_OF, {"article_id": article_id}).scalar()
        for term in json.loads(signature) if signature else ():
            if not term.startswith(FACT_PREFIX):
                self.term_counts.change[term] -= 1

    def write_term_counts(self) -> None:
        """The transaction's changes to document frequencies, one row per term, in term order
        (two daemons' batches lock the terms they share in one order)."""
        changed = [(term, n) for term, n in sorted(self.term_counts.change.items()) if n]
        if changed:
            self.index_statements.count(self.conn, self.statements, changed)

    def set_story(self, article_id: str, story_id: str) -> None:
        self.run(_SET_STORY, {"where_id": article_id, "story_id": story_id})

    def story_candidates(self, terms: Iterable[str], window: tuple[datetime, datetime] | None,
                         exclude: Iterable[str], limit: int = 10) -> list[str]:
        """Articles sharing the most of `terms`, dated within `window` (or undated)."""
        terms = list(terms)
        if not terms:
            return []
        params = {"terms": terms, "exclude": list(exclude), "limit": limit}
        if window is None:
            return [row.article_id for row in self.conn.execute(_CANDIDATES, params)]
        return [row.article_id for row in self.conn.execute(
            _CANDIDATES_IN_WINDOW, {**params, "since": window[0], "until": window[1]})]

    def terms_of(self, ids: Iterable[str]) -> dict[str, tuple[dict[str, float], str]]:
        """id -> (its story signature, its story id)."""
        ids = list(ids)
        if not ids:
            return {}
        out = {}
        for row in self.conn.execute(_SIGNATURES_WITH_STORY, {"ids": ids}):
            key = (row.id, row.content_hash)
            terms = self.signature_cache.get(key)
            if terms is None:
                terms = self.signature_cache.keep(key, json.loads(row.terms))
            out[row.id] = (terms, row.story_id or row.id)
        return out

    def story_reports(self, story_ids: Iterable[str], known: Mapping[str, dict[str, float]]
                      ) -> dict[str, list[tuple[str, dict[str, float]]]]:
        """Story id -> its reports' (id, signature), the MAX_STORY_REPORTS newest of each;
        the signatures in `known` are not read again."""
        story_ids = list(story_ids)
        if not story_ids:
            return {}
        # newest first; the sort is stable, so reports of one date keep their id order
        out = {story: [row.id for row in sorted(members, key=lambda row: row.published,
                                                 reverse=True)[:MAX_STORY_REPORTS]]
               for story, members in story_members(self.conn, story_ids).items()}
        unread = [i for ids in out.values() for i in ids if i not in known]
        read = {row.article_id: json.loads(row.terms) for row in self.conn.execute(
            _SIGNATURES, {"ids": unread})} if unread else {}
        return {story: [(i, known[i] if i in known else read[i]) for i in ids if
                        i in known or i in read] for story, ids in out.items()}

    def document_frequency(self, terms: Iterable[str]) -> dict[str, int]:
        """How many stored articles have each term, with this transaction's changes so far.
        A report's specifics (FACT_PREFIX) are never counted: none is looked up (grouping asks
        about a signature whose words save_terms read already, so it costs no query)."""
        terms = [term for term in terms if not term.startswith(FACT_PREFIX)]
        counts = self.term_counts
        unread = [term for term in terms if term not in counts.stored]
        if unread:
            counts.stored.update(dict.fromkeys(unread, 0))
            counts.stored.update((term, int(n)) for term, n in self.conn.execute(
                _DOCUMENT_FREQUENCY, {"terms": unread}))
        out = {}
        for term in terms:
            n = counts.stored[term] + counts.change.get(term, 0)
            if n:
                out[term] = n
        return out


def story_members(conn: Connection, stories: Iterable[str]) -> dict[str, list[Any]]:
    """Each of these stories' reports (rows: id, story_id, published) in the order related
    links are chosen in, (published, id)."""
    members: dict[str, list[Any]] = {}
    stories = list(stories)
    if not stories:
        return members
    for row in conn.execute(_MEMBERS_OF, {"stories": stories}):
        members.setdefault(row.story_id, []).append(row)
    return members


def nearest_reports(row: Any, members: list[tuple[str, datetime]]) -> list[str]:
    """The MAX_RELATED other members nearest in time to `row` (id, published; ties: smaller
    id), oldest first. `members` is sorted by (published, id), so only a window around the
    row's place can hold them: MAX_RELATED + 1 on each side, widened over equal times at its
    edges."""
    if len(members) > 2 * MAX_RELATED + 3:
        place = bisect.bisect_left(members, (row.published, row.id),
                                   key=lambda m: (m[1], m[0]))
        low, high = max(0, place - MAX_RELATED - 1), min(len(members), place + MAX_RELATED + 2)
        while low > 0 and members[low - 1][1] == members[low][1]:
            low -= 1
        while high < len(members) and members[high][1] == members[high - 1][1]:
            high += 1
        members = members[low:high]
    others = [m for m in members if m[0] != row.id]
    if len(others) > MAX_RELATED:
        published = row.published
        others = sorted(others, key=lambda m: (abs((m[1] - published).total_seconds()),
                                               m[0]))[:MAX_RELATED]
        others.sort(key=lambda m: (m[1], m[0]))
    return [m[0] for m in others]
