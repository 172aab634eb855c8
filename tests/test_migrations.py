"""The frozen migrations build exactly the live schema: step by step from an empty database,
and from a database left at every earlier version. On SQLite by default, on PostgreSQL under
`scripts/test --postgres`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from feeds.store import Store
from feeds.store import schema as live
from feeds.store.engine import Database, connect
from feeds.store.migrations import MIGRATIONS, migrate, version_of
from tests.conftest import POSTGRES, new_database

Schema = dict[str, dict[str, Any]]


@pytest.fixture
def urls(tmp_path: Path) -> Iterator[Any]:
    """A factory of empty databases of the kind this run tests."""
    count = 0

    def make() -> str:
        nonlocal count
        count += 1
        if POSTGRES:
            return new_database(POSTGRES)
        return f"sqlite:///{tmp_path / f'db-{count}.sqlite'}"

    yield make


def migrated(url: str, upto: int) -> None:
    """Run only the first `upto` migrations on the database at `url`."""
    database = Database(connect(url, busy_timeout=15.0))
    try:
        with database.writing() as conn:
            migrate(conn, upto=upto)
    finally:
        database.close()


def version(url: str) -> int:
    database = Database(connect(url, busy_timeout=15.0))
    try:
        with database.reading() as conn:
            return version_of(conn)
    finally:
        database.close()


def reflected(url: str) -> Schema:
    """Every table's columns (name, type, nullable), primary key, indexes, unique
    constraints and foreign keys, as the database itself reports them."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        out: Schema = {}
        for table in sorted(inspector.get_table_names()):
            out[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"])
                            for c in inspector.get_columns(table)],
                "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in inspector.get_indexes(table)),
                "unique": sorted(tuple(u["column_names"])
                                 for u in inspector.get_unique_constraints(table)),
                "foreign keys": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"],
                     tuple(f["referred_columns"]), (f.get("options") or {}).get("ondelete"))
                    for f in inspector.get_foreign_keys(table)),
            }
        return out
    finally:
        engine.dispose()


def created_from(metadata: sa.MetaData, url: str) -> Schema:
    """The schema `metadata` describes, as a database reports it once created from it."""
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    return reflected(url)


@pytest.fixture
def live_schema(urls: Any) -> Schema:
    return created_from(live.metadata, urls())


def test_migrating_step_by_step_from_empty_builds_the_live_schema(
        urls: Any, live_schema: Schema) -> None:
    url = urls()
    assert version(url) == 0
    for number in range(1, len(MIGRATIONS) + 1):
        migrated(url, number)
        assert version(url) == number
    assert reflected(url) == live_schema


@pytest.mark.parametrize("start", range(len(MIGRATIONS)))
def test_a_database_at_an_earlier_version_is_brought_to_the_live_schema(
        urls: Any, live_schema: Schema, start: int) -> None:
    url = urls()
    migrated(url, start)
    assert version(url) == start
    Store.open(url).close()  # what every feeds command that writes does
    assert version(url) == len(MIGRATIONS)
    assert reflected(url) == live_schema


def test_the_comparison_sees_a_column_added_without_a_migration(urls: Any) -> None:
    """What the tests above would see if a live table grew a column and no migration did."""
    grown = sa.MetaData()
    for table in live.metadata.sorted_tables:
        copy = table.to_metadata(grown)
        if table.name == "articles":
            copy.append_column(sa.Column("reading_minutes", sa.Integer))
    url = urls()
    migrated(url, len(MIGRATIONS))
    assert reflected(url) != created_from(grown, urls())


def test_articles_stored_at_version_1_are_carried_into_the_later_tables(urls: Any) -> None:
    """Versions 2-4 fill their tables from what version 1 stored: sequence numbers in the
    order articles were stored, each article's signature, each term's document frequency."""
    url = urls()
    migrated(url, 1)
    engine = sa.create_engine(url)
    stamp = datetime(2025, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    try:
        with engine.begin() as conn:
            for n, article in enumerate(["b", "a"]):
                conn.execute(sa.text(
                    "INSERT INTO articles (id, key, path, idx, entry_id, title, body, captions,"
                    " summary, content_hash, published, updated, created) VALUES (:id, :id,"
                    " :id, 0, :id, 'T', '[]', '[]', 'S', 'h', :at, :at, :created)"),
                    {"id": article, "at": stamp,
                     "created": stamp.replace(second=n)})
                for term in ("harbour", article):
                    conn.execute(sa.text(
                        "INSERT INTO story_terms (term, article_id, weight, published, dated)"
                        " VALUES (:term, :id, 0.5, :at, :dated)"),
                        {"term": term, "id": article, "at": stamp, "dated": True})
    finally:
        engine.dispose()
    Store.open(url).close()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            seq = conn.execute(sa.text("SELECT article_id, seq FROM article_seq ORDER BY seq"))
            assert [tuple(row) for row in seq] == [("b", 1), ("a", 2)]
            signatures = {str(k): json.loads(v) for k, v in conn.execute(
                sa.text("SELECT article_id, terms FROM signatures"))}
            assert signatures == {
                "a": {"harbour": 0.5, "a": 0.5}, "b": {"harbour": 0.5, "b": 0.5}}
            counts = {str(t): int(n) for t, n in conn.execute(
                sa.text("SELECT term, articles FROM term_counts"))}
            assert counts == {"harbour": 2, "a": 1, "b": 1}
    finally:
        engine.dispose()


def test_a_database_newer_than_this_feeds_is_refused(urls: Any) -> None:
    from feeds.errors import StoreError
    url = urls()
    migrated(url, len(MIGRATIONS))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE schema_version SET version = :v"),
                         {"v": len(MIGRATIONS) + 1})
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="newer than this feeds"):
        Store.open(url)
    with pytest.raises(StoreError, match="newer than this feeds"):
        Store.open(url, migrate=False)
