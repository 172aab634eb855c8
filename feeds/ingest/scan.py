"""The inbox: which files are candidates, their names (a file's identity), and reading one
whole and settled (not still being written)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from feeds.articles import is_candidate, skip_reason
from feeds.config import IngestConfig
from feeds.errors import FeedsError


@dataclass(frozen=True, slots=True)
class FileRead:
    """One inbox file as read: its bytes, or the reason there are none."""

    path: Path
    rel: str
    size: int
    mtime_ns: int
    data: bytes | None = None
    reason: str | None = None
    skipped: bool = False  # a type ingest does not read: recorded as skipped, not failed


def received(mtime_ns: int) -> datetime:
    """When a file arrived: its mtime, the date an undated article is given."""
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC)


def relative_name(path: Path, inbox: Path) -> str:
    """A file's identity: inbox-relative with forward slashes (absolute when outside)."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(inbox).as_posix()
    except ValueError:
        return absolute.as_posix()


def require_inbox(inbox: Path) -> None:
    """Refuse a missing inbox: a typo in paths.inbox would otherwise give a healthy-looking
    daemon that never sees an article."""
    if not inbox.is_dir():
        raise FeedsError(f"the inbox {inbox} does not exist",
                         hint="create it, or set paths.inbox in the config")


def scan(inbox: Path, unsupported: list[Path] | None = None) -> Iterator[Path]:
    """Every candidate file under the inbox, in a stable order; hidden folders are skipped.
    Files of a type ingest does not read go to `unsupported` (hidden and temporary names
    nowhere: producers write those, then rename)."""
    for root, dirs, names in os.walk(inbox, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if is_candidate(name):
                yield Path(root) / name
            elif unsupported is not None and skip_reason(name) is not None:
                unsupported.append(Path(root) / name)


def skipped_file(path: Path, rel: str) -> FileRead:
    """A file of a type ingest does not read, with the reason `feeds ingest FILE` gives."""
    try:
        st = path.lstat()
    except OSError:
        return FileRead(path, rel, 0, 0, reason="vanished")
    return FileRead(path, rel, st.st_size, st.st_mtime_ns, reason=skip_reason(path.name),
                    skipped=True)


def outside(path: Path, inbox: Path) -> bool:
    """Does `path` (a symlink, say) lead outside the inbox?"""
    try:
        path.resolve().relative_to(inbox.resolve())
    except ValueError:
        return True
    return False


def read_file(path: Path, rel: str, inbox: Path, limits: IngestConfig) -> FileRead:
    """The file's bytes, unless it is too large, a symlink out of the inbox (unless
    followed), gone, unreadable or changing while read ("unsettled")."""
    try:
        if path.is_symlink() and not limits.follow_symlinks and outside(path, inbox):
            st = path.lstat()
            return FileRead(path, rel, st.st_size, st.st_mtime_ns, reason=(
                "symlink to a file outside the inbox; not followed "
                "(set ingest.follow_symlinks = true to read it)"))
        before = path.stat()
        if before.st_size > limits.max_bytes:
            return FileRead(path, rel, before.st_size, before.st_mtime_ns, reason=(
                f"too large: {before.st_size:,} bytes, the limit is "
                f"{limits.max_bytes:,} (ingest.max_bytes)"))
        data = path.read_bytes()
        after = path.stat()
    except FileNotFoundError:
        return FileRead(path, rel, 0, 0, reason="vanished")
    except IsADirectoryError:
        return FileRead(path, rel, 0, 0, reason="vanished")
    except OSError as exc:
        return FileRead(path, rel, 0, 0, reason=f"cannot read: {exc.strerror or exc}")
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) \
            or len(data) != after.st_size:
        return FileRead(path, rel, after.st_size, after.st_mtime_ns, reason="unsettled")
    return FileRead(path, rel, after.st_size, after.st_mtime_ns, data=data)


def settled(reads: list[FileRead], settle: float) -> list[FileRead]:
    """A file modified moments ago may still be growing: wait once, then re-check all."""
    fresh_after = time.time_ns() - int(settle * 1e9)
    if settle <= 0 or not any(r.data is not None and r.mtime_ns > fresh_after for r in reads):
        return reads
    time.sleep(settle)
    out = []
    for read in reads:
        if read.data is not None and read.mtime_ns > fresh_after:
            try:
                st = read.path.stat()
            except OSError:
                out.append(FileRead(read.path, read.rel, 0, 0, reason="vanished"))
                continue
            if (st.st_size, st.st_mtime_ns) != (read.size, read.mtime_ns):
                out.append(FileRead(read.path, read.rel, st.st_size, st.st_mtime_ns,
                                    reason="unsettled"))
                continue
        out.append(read)
    return out
