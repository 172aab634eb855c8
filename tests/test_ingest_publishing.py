"""The publish-after-ingest policy `feeds ingest` and the daemon share (IngestedChanges),
on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from feeds.ingest.publishing import IngestedChanges, PublishScope
from feeds.ingest.record import IngestReport
from feeds.store import Store
from tests.conftest import POSTGRES, new_database
from tests.test_store import NOW, draft


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = new_database(POSTGRES) if POSTGRES else f"sqlite:///{tmp_path / 'feeds.db'}"
    opened = Store.open(url)
    yield opened
    opened.close()


def test_new_articles_publish_their_topics_only() -> None:
    changes = IngestedChanges.of(IngestReport(new=1, changed={"a"}, topics={"ports"}))
    changes.absorb(IngestReport(new=1, changed={"b"}, topics={"weather"}))
    assert changes.worth_publishing()
    assert changes.scope() == PublishScope({"a", "b"}, {"ports", "weather"})


def test_an_edit_publishes_every_topic_of_what_changed() -> None:
    changes = IngestedChanges.of(IngestReport(new=1, changed={"a"}, topics={"ports"}))
    changes.absorb(IngestReport(updated=1, changed={"b"}, topics=None))
    assert changes.scope() == PublishScope({"a", "b"}, None)


def test_a_removed_article_publishes_everything() -> None:
    changes = IngestedChanges.of(IngestReport(new=1, changed={"a"}, topics={"ports"}))
    changes.absorb(IngestReport(removed=1))
    assert changes.worth_publishing()
    assert changes.scope() == PublishScope(None, None)


def test_nothing_changed_is_not_worth_publishing() -> None:
    changes = IngestedChanges.of(IngestReport(unchanged=3))
    assert not changes.worth_publishing()
    assert changes.scope() == PublishScope(set(), set())


def test_articles_stored_and_never_published_go_too(store: Store) -> None:
    with store.write() as tx:
        tx.save_articles("old.txt", [draft("old.txt", {"harbour": 1.0})], NOW, NOW)
        tx.save_articles("new.txt", [draft("new.txt", {"harbour": 1.0})],
                         NOW + timedelta(hours=1), NOW)
    changes = IngestedChanges.of(IngestReport(new=1, changed={"mine"}, topics={"ports"}))
    # `before`: not the ones another daemon may be publishing right now
    changes.include_unpublished(store, before=NOW + timedelta(minutes=30))
    assert changes.scope() == PublishScope({"mine", "old.txt"}, None)
    changes.include_unpublished(store)
    assert changes.scope() == PublishScope({"mine", "old.txt", "new.txt"}, None)


def test_with_nothing_unpublished_the_topics_stay_known(store: Store) -> None:
    changes = IngestedChanges.of(IngestReport(new=1, changed={"mine"}, topics={"ports"}))
    changes.include_unpublished(store)
    assert changes.scope() == PublishScope({"mine"}, {"ports"})
