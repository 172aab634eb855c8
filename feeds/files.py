"""Durable writes: the one place that writes files durably.

A file is written under a temporary name beside its place, fsynced, then renamed (or linked)
into place, so a reader sees it whole, old or new, and never one whose data a crash lost.
`StagedFiles` does that for a batch: written on several threads at once, put in place together.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, NoReturn

WRITE_THREADS = 8  # staged files written and fsynced at once (see StagedFiles)
MAX_STAGED = 256  # files staged before a commit, at most


def write_new_file(path: str | Path, data: bytes, *, mode: int = 0o644) -> None:
    """A new file holding `data`, on disk when this returns, with `mode` whatever the umask;
    FileExistsError when `path` exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, *, mode: int = 0o644, replace: bool = True) -> None:
    """`path` holds `data` when this returns, on disk, and no reader ever saw part of it.

    `replace=False` keeps a file that is already there (FileExistsError), even one another
    process puts there meanwhile: the first writer wins, as a shared secret key needs."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    write_new_file(tmp, data, mode=mode)
    try:
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # unlike a rename, fails when the place is taken
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class StagingError(Exception):
    """A staged file could not be written: reading what is there ("read"), making its folder
    ("folder"), or writing and renaming it into place ("write", after which nothing of the
    batch that was not in place yet is left)."""

    def __init__(self, step: Literal["read", "folder", "write"], path: Path,
                 error: OSError) -> None:
        super().__init__(f"cannot {'read' if step == 'read' else 'write'} {path}: "
                         f"{error.strerror}")
        self.step = step
        self.path = path
        self.strerror = error.strerror


class StagedFiles:
    """Files written beside their places (temporary names), then committed together: made
    durable and renamed into place in the order staged, so a reader sees each file whole, old
    or new. Writing and the fsync of each file run on several threads at once: the
    filesystem's journal takes the fsyncs in one commit, where one after another waited for
    the disk each time, and the thread that renders the next page does not wait for the last
    one's write. Past `max_staged` files a commit happens by itself (memory stays bounded)."""

    def __init__(self, *, threads: int = WRITE_THREADS, max_staged: int = MAX_STAGED,
                 thread_name_prefix: str = "publish-write") -> None:
        self._writer = ThreadPoolExecutor(threads, thread_name_prefix=thread_name_prefix)
        self.max_staged = max_staged
        self.files: list[tuple[str, Path, Future[None]]] = []  # (temporary, place, its write)
        self._folders: set[Path] = set()
        self._names = itertools.count()  # temporary names: this stage's token and a number
        self._token = secrets.token_hex(6)

    def add(self, path: Path, data: bytes) -> bool:
        """Stage `data` for `path`, unless the file already holds exactly that (False)."""
        try:
            if path.read_bytes() == data:
                return False
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StagingError("read", path, exc) from None
        folder = path.parent
        if folder not in self._folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StagingError("folder", path, exc) from None
            self._folders.add(folder)
        tmp = str(folder / f".{path.name}.{self._token}{next(self._names)}.tmp")
        self.files.append((tmp, path, self._writer.submit(write_new_file, tmp, data)))
        if len(self.files) >= self.max_staged:
            self.commit()
        return True

    def commit(self) -> None:
        """Wait until every staged file is durable, then put each in its place, in order."""
        for _tmp, path, write in self.files:
            try:
                write.result()
            except OSError as exc:
                self._failed(path, exc)
        for done, (tmp, path, _write) in enumerate(self.files):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                del self.files[:done]
                self._failed(path, exc)
        self.files = []

    def discard(self) -> None:
        """Remove what was staged and not committed (once its write has ended)."""
        files, self.files = self.files, []
        futures_wait([write for _tmp, _path, write in files])
        for tmp, _path, _write in files:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    @contextmanager
    def committed(self) -> Iterator[None]:
        """What the block staged is in place when it ends; nothing of it when it fails."""
        try:
            yield
            self.commit()
        finally:
            self.discard()

    def close(self) -> None:
        """Stop the writer threads (after the writes they have started)."""
        self._writer.shutdown()

    def _failed(self, path: Path, exc: OSError) -> NoReturn:
        self.discard()
        raise StagingError("write", path, exc) from None
