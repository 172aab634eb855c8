"""Schema version 8: each article's language (ISO 639-1, as the parser detected it), for the
`lang` of its page and the `xml:lang` of its feed entries. Articles stored before keep NULL
(unknown: shown in the site's language) until their file changes."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Frozen: the DDL of version 8, the same on SQLite and PostgreSQL. Never edit; add a migration.
_ADD_LANGUAGE = "ALTER TABLE articles ADD COLUMN language VARCHAR(8)"


def migrate(conn: Connection) -> None:
    conn.execute(sa.text(_ADD_LANGUAGE))
