"""The store facade in process: transactions, the named queries they carry, and the story
index's bookkeeping within and across write transactions. SQLite by default, PostgreSQL
under `scripts/test --postgres`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feeds.models import TopicMatch
from feeds.store import ArticleDraft, ReadTransaction, Store, WriteTransaction
from tests.conftest import POSTGRES, new_database, transactions_begun

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = new_database(POSTGRES) if POSTGRES else f"sqlite:///{tmp_path / 'feeds.db'}"
    opened = Store.open(url)
    yield opened
    opened.close()


def draft(name: str, terms: dict[str, float], *, title: str = "Harbour reopens",
          published: datetime | None = NOW, topics: tuple[str, ...] = ()) -> ArticleDraft:
    key = f"{name}#0"
    return ArticleDraft(
        id=name, key=key, path=name, idx=0, entry_id=f"urn:{name}", title=title,
        author=None, source=None, dateline=None, standfirst=None, url=None,
        body=("The harbour reopened on Monday.",), captions=(), summary="Reopened.",
        content_hash=f"{name}:{title}", published=published,
        topics=tuple(TopicMatch(t, 1.0, 0.5, ("harbour",)) for t in topics),
        terms=tuple(terms.items()))


def record(tx: WriteTransaction, path: str, count: int) -> None:
    tx.record_file(path=path, sha256="ab" * 32, size=10, mtime_ns=1, status="ok",
                   reason=None, duplicate_of=None, count=count, now=NOW)


def test_a_write_block_that_raises_stores_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as tx:
        record(tx, "harbour.txt", 1)
        tx.save_articles("harbour.txt", [draft("harbour.txt", {"harbour": 1.0})], NOW, NOW)
        raise RuntimeError("stop")
    assert store.file_records() == {}
    assert store.article_count() == 0
    with store.write() as tx:  # and the next write starts clean
        tx.save_articles("harbour.txt", [draft("harbour.txt", {"harbour": 1.0})], NOW, NOW)
        assert tx.document_frequency(["harbour"]) == {"harbour": 1}


def test_a_read_transaction_carries_no_writes() -> None:
    for write in ("record_file", "save_articles", "replace_topics", "set_story",
                  "add_subscriber", "record_failure", "pages_written"):
        assert hasattr(WriteTransaction, write)
        assert not hasattr(ReadTransaction, write), write


def test_one_shot_reads_and_a_read_transaction_agree(store: Store) -> None:
    with store.write() as tx:
        record(tx, "a.txt", 1)
        tx.save_articles("a.txt", [draft("a.txt", {"harbour": 1.0}, topics=("ports",))],
                         NOW, NOW)
    with store.read() as tx:
        assert tx.article_count() == store.article_count() == 1
        assert tx.items() == store.items()
        assert tx.counts() == store.counts()
        assert tx.file_records(["a.txt"]) == store.file_records()
        assert tx.unpublished() == store.unpublished() == {"a.txt"}
    assert store.counts()["topic:ports"] == 1


def test_reads_together_share_one_transaction_and_writes_in_it_commit_on_their_own(
        store: Store) -> None:
    with store.write() as tx:  # PostgreSQL counts the stored articles once (PlannerStatistics)
        tx.save_articles("b.txt", [draft("b.txt", {"quay": 1.0})], NOW, NOW)
    begun = transactions_begun(store)
    with store.reads_together():
        assert store.article_count() == 1
        with store.reads_together():  # nested: still the same transaction
            assert [item.id for item in store.items()] == ["b.txt"]
        with store.write() as tx:  # its own transaction, committed when the block ends
            record(tx, "a.txt", 1)
            tx.save_articles("a.txt", [draft("a.txt", {"harbour": 1.0})], NOW, NOW)
        other = Store.open(store.database.engine.url.render_as_string(hide_password=False))
        try:  # another reader sees the write before the reading block ends
            assert other.article_count() == 2
        finally:
            other.close()
        store.counts()
    assert begun == [False, True]
    assert store.article_count() == 2  # a fresh read transaction after the block
    with pytest.raises(RuntimeError), store.reads_together():
        raise RuntimeError("stop")
    assert begun[2:] == [False, False]
    assert store.article_count() == 2  # the block let its connection go
    assert begun[2:] == [False, False, False]


def test_document_frequencies_include_the_transactions_own_changes_and_persist(
        store: Store) -> None:
    with store.write() as tx:
        tx.save_articles("a.txt", [draft("a.txt", {"harbour": 1.0, "storm": 0.5})], NOW, NOW)
        tx.save_articles("b.txt", [draft("b.txt", {"harbour": 1.0})], NOW, NOW)
        assert tx.document_frequency(["harbour", "storm", "airport"]) == {
            "harbour": 2, "storm": 1}
    with store.write() as tx:
        assert tx.document_frequency(["harbour", "storm"]) == {"harbour": 2, "storm": 1}
        # the file now holds none of its articles: its terms stop counting
        removed = tx.save_articles("a.txt", [], NOW, NOW)
        assert [(s.id, s.change) for s in removed] == [("a.txt", "removed")]
        assert tx.document_frequency(["harbour", "storm"]) == {"harbour": 1}
    with store.write() as tx:
        assert tx.document_frequency(["harbour", "storm"]) == {"harbour": 1}


def test_story_candidates_share_terms_within_the_window_or_are_undated(store: Store) -> None:
    week = timedelta(days=7)
    with store.write() as tx:
        tx.save_articles("near.txt", [draft("near.txt", {"harbour": 1.0, "storm": 1.0})],
                         NOW, NOW)
        tx.save_articles("far.txt", [draft("far.txt", {"harbour": 1.0, "storm": 1.0},
                                           published=NOW - 4 * week)], NOW, NOW)
        tx.save_articles("undated.txt", [draft("undated.txt", {"harbour": 1.0},
                                               published=None)], NOW, NOW - 8 * week)
        tx.save_articles("other.txt", [draft("other.txt", {"airport": 1.0})], NOW, NOW)
        window = (NOW - week, NOW + week)
        found = tx.story_candidates(["harbour", "storm"], window, exclude=["new"])
        assert found == ["near.txt", "undated.txt"]  # most shared terms first
        assert tx.story_candidates(["harbour", "storm"], None, exclude=["near.txt"]) == [
            "far.txt", "undated.txt"]
        tx.set_story("near.txt", "near.txt")
        tx.set_story("far.txt", "near.txt")
        signatures = tx.terms_of(["near.txt", "far.txt"])
        assert signatures["far.txt"] == ({"harbour": 1.0, "storm": 1.0}, "near.txt")
        reports = tx.story_reports(["near.txt"], {})  # newest first, with their signatures
        assert reports == {"near.txt": [("near.txt", {"harbour": 1.0, "storm": 1.0}),
                                        ("far.txt", {"harbour": 1.0, "storm": 1.0})]}


def test_an_edited_article_gets_a_later_updated_and_is_unpublished_again(
        store: Store) -> None:
    with store.write() as tx:
        tx.save_articles("a.txt", [draft("a.txt", {"harbour": 1.0})], NOW, NOW)
    first = store.items()[0]
    store.pages_written([(first.id, first.updated)])
    assert store.unpublished() == set()
    with store.write() as tx:
        saved = tx.save_articles("a.txt", [draft("a.txt", {"harbour": 1.0}, title="Edited")],
                                 NOW, NOW)
    assert [s.change for s in saved] == ["updated"]
    edited = store.items()[0]
    assert (edited.id, edited.title) == (first.id, "Edited")
    assert edited.updated > first.updated
    assert store.unpublished() == {first.id}
    store.pages_written([(first.id, first.updated)])  # the old version's page: still owed
    assert store.unpublished() == {first.id}
