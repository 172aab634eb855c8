"""The append-only list of migrations that builds the schema: its length is the schema
version. Each step carries its own frozen DDL (its own table copies), so a change to the live
tables in `feeds.store.schema` never changes what an earlier step creates; a change there
needs a new step here (tests/test_migrations.py fails until both agree)."""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feeds.errors import StoreError

# Append-only: the schema version is the length of this list. Never edit a shipped entry.
# Named, not imported: a command on a current database (`feeds status`) only counts them,
# and importing the steps' frozen tables cost it ~8 ms of start-up.
MIGRATIONS: tuple[str, ...] = (
    "v1_initial", "v2_digests", "v3_signatures", "v4_term_counts", "v5_unpublished",
    "v6_subscriptions", "v7_bounces", "v8_language", "v9_retractions")


def _run_step(number: int, conn: Connection) -> None:
    """Migration step `number` (0-based) of MIGRATIONS, imported when it is needed."""
    importlib.import_module(f"{__name__}.{MIGRATIONS[number]}").migrate(conn)

# the version record, as every step since the first has kept it
_versions = sa.MetaData()
schema_version = sa.Table(
    "schema_version", _versions,
    sa.Column("version", sa.Integer, nullable=False),
)


def version_of(conn: Connection) -> int:
    """The schema version of the database `conn` is on (0: empty)."""
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)


def migrate(conn: Connection, *, upto: int | None = None) -> None:
    """Bring the database up to version `upto` (default: the newest), inside the caller's
    write transaction; a database newer than this feeds is refused."""
    target = len(MIGRATIONS) if upto is None else upto
    schema_version.create(conn, checkfirst=True)
    have = int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)
    if have > len(MIGRATIONS):
        raise StoreError(
            f"the database is at schema version {have}, newer than this feeds "
            f"({len(MIGRATIONS)})", hint="upgrade feeds")
    for number in range(have, target):
        _run_step(number, conn)
        conn.execute(schema_version.delete())
        conn.execute(schema_version.insert().values(version=number + 1))
