"""Schema version 7: what came back to the envelope sender (bounce reports, one row per
message read from the bounce mailbox, kept whether or not it named a subscriber) and each
subscriber's soft bounces in a row. Needs nothing from version 6: the subscriber a report
names is kept by its lowercased address, not by a reference."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Frozen: this table as version 7 created it. Never edit; add a migration instead.
_metadata = sa.MetaData()

bounce_reports = sa.Table(
    "bounce_reports", _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received", sa.DateTime, nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False, index=True),
    sa.Column("email_key", sa.String(320), index=True),
    sa.Column("token", sa.String(64)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("message", sa.String(255)),
)


def migrate(conn: Connection) -> None:
    bounce_reports.create(conn)
    conn.execute(sa.text(
        "ALTER TABLE subscribers ADD COLUMN soft_bounces INTEGER NOT NULL DEFAULT 0"))
