"""Schema version 6: subscriptions readers manage themselves. Subscribers gain the lowercased
address every look-up goes through (`Grace@x` and `grace@x` are one subscriber), an opaque
token for their links, and their consent (when, from where, confirmed when); `signups` keeps
each double opt-in request. Existing subscribers each get a token; two rows whose addresses
differ only in case are merged into the oldest, and the others logged and removed."""

from __future__ import annotations

import logging
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

# Frozen: these columns and tables as version 6 created them. Never edit; add a migration.
_metadata = sa.MetaData()

_subscribers = sa.Table(
    "subscribers", _metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("email_key", sa.String(320)),
    sa.Column("token", sa.String(64)),
)

_ADDED = (("email_key", sa.String(320)), ("token", sa.String(64)), ("consent_at", sa.DateTime()),
          ("consent_ip", sa.String(64)), ("confirmed_at", sa.DateTime()))

signups = sa.Table(
    "signups", _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email_key", sa.String(320), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("topics", sa.Text, nullable=False),
    sa.Column("schedule", sa.String(64), nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("created", sa.DateTime, nullable=False, index=True),
    sa.Column("mailed_at", sa.DateTime),
    sa.Column("confirmed_at", sa.DateTime),
)


def migrate(conn: Connection) -> None:
    for name, kind in _ADDED:
        conn.execute(sa.text(f"ALTER TABLE subscribers ADD COLUMN {name} "
                             f"{kind.compile(dialect=conn.dialect)}"))
    kept: set[str] = set()
    rows = conn.execute(sa.select(_subscribers.c.email).order_by(
        _subscribers.c.created, _subscribers.c.email)).scalars().all()
    for email in rows:
        key = str(email).lower()
        if key in kept:
            log.warning("subscriber merged into an older spelling email=%s key=%s", email, key)
            conn.execute(_subscribers.delete().where(_subscribers.c.email == email))
            continue
        kept.add(key)
        conn.execute(_subscribers.update().where(_subscribers.c.email == email)
                     .values(email_key=key, token=secrets.token_urlsafe(18)))
    sa.Index("ix_subscribers_email_key", _subscribers.c.email_key, unique=True).create(conn)
    sa.Index("ix_subscribers_token", _subscribers.c.token, unique=True).create(conn)
    signups.create(conn)
