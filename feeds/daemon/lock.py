"""One daemon per state folder."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from feeds.errors import FeedsError


class StateLock:
    """An exclusive flock on state/feeds.lock holding our pid, so a second daemon can name it."""

    def __init__(self, state: Path) -> None:
        self.path = state / "feeds.lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise FeedsError(
                f"another feeds daemon (pid {holder}) is already running on {self.path.parent}",
                hint="stop it first, or give this one another paths.state") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
