"""Named queries for inbox files: what was read, when, with what result."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from feeds.models import FileRecord
from feeds.store.engine import Queries
from feeds.store.schema import files

# Run for every file read, built once with bound parameters: building a statement costs more
# than running it.
_ORIGINAL = sa.select(files.c.path).where(files.c.sha256 == sa.bindparam("sha256"),
                                          files.c.path != sa.bindparam("path"),
                                          files.c.status == "ok").limit(1)
_UPDATE_FILE = files.update().where(files.c.path == sa.bindparam("where_path"))  # SET: params
_INSERT_FILE = files.insert()


class FileReads(Queries):
    def file_records(self, paths: Sequence[str] | None = None) -> dict[str, FileRecord]:
        """Every file's record, or only those of `paths` (a few files: the watcher's case)."""
        query = sa.select(files)
        if paths is not None:
            if not paths:
                return {}
            query = query.where(files.c.path.in_(list(paths)))
        return {row.path: file_record(row) for row in self.conn.execute(query)}

    def original_for(self, sha256: str, path: str) -> str | None:
        """The stored file (other than `path`) whose bytes are exactly these."""
        row = self.conn.execute(_ORIGINAL, {"sha256": sha256, "path": path}).first()
        return row.path if row else None

    def failed_files(self) -> list[FileRecord]:
        return self.files_with_status("failed")

    def files_with_status(self, status: str) -> list[FileRecord]:
        """The records of one status (failed, skipped), by path."""
        rows = self.conn.execute(sa.select(files).where(files.c.status == status)
                                 .order_by(files.c.path))
        return [file_record(row) for row in rows]

    def noted_files(self) -> list[FileRecord]:
        """Files read whose record carries a warning (a topic the front matter names that
        the config does not have), by path."""
        rows = self.conn.execute(sa.select(files).where(files.c.status == "ok",
                                                        files.c.reason.is_not(None))
                                 .order_by(files.c.path))
        return [file_record(row) for row in rows]


class FileWrites(FileReads):
    def record_file(self, *, path: str, sha256: str, size: int, mtime_ns: int, status: str,
                    reason: str | None, duplicate_of: str | None, count: int,
                    now: datetime, exists: bool | None = None) -> None:
        """`exists`: whether the path has a record, when the caller knows (it read it in this
        transaction, the file claimed): one statement instead of an UPDATE that finds no row
        and then an INSERT."""
        values = dict(sha256=sha256, size=size, mtime_ns=mtime_ns, status=status, reason=reason,
                      duplicate_of=duplicate_of, articles=count, last_seen=now)
        if exists is False or not self.run(_UPDATE_FILE, {"where_path": path, **values}):
            self.run(_INSERT_FILE, {"path": path, "first_seen": now, **values})

    def forget_files(self, paths: Sequence[str], statuses: Sequence[str]) -> None:
        """Drop the records of these paths that have one of `statuses` (files gone)."""
        self.conn.execute(files.delete().where(files.c.path.in_(list(paths)),
                                               files.c.status.in_(list(statuses))))

    def touch_file(self, path: str, mtime_ns: int, now: datetime) -> None:
        """The file was read again and its bytes had not changed."""
        self.conn.execute(files.update().where(files.c.path == path)
                          .values(mtime_ns=mtime_ns, last_seen=now))


def file_record(row: Any) -> FileRecord:
    return FileRecord(path=row.path, status=row.status, reason=row.reason, sha256=row.sha256,
                      size=row.size, mtime_ns=row.mtime_ns, duplicate_of=row.duplicate_of,
                      articles=row.articles, seen=row.last_seen)
