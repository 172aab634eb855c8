"""The public folder as a publish writes it: files staged and committed together (see
feeds.files), each counted in the publish's report as written or unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from feeds.errors import PublishError
from feeds.files import StagedFiles, StagingError

_HINTS = {"read": None, "folder": "check that the public folder is writable",
          "write": "check free space and permissions of the public folder; "
                   "the previous file is intact"}


@dataclass(slots=True)
class PublishReport:
    written: int = 0
    unchanged: int = 0
    removed: int = 0  # files a full publish no longer writes (see feeds.publish.prune)
    seconds: float = 0.0
    changed_feeds: list[str] = field(default_factory=list)  # Atom URLs whose bytes changed


class Served(Protocol):
    """Who is told of the files a commit put in place (the server of `feeds run`: see
    feeds.web.static.HandOver)."""

    def wants(self, relative: Path) -> bool: ...

    def committed(self, written: dict[Path, bytes]) -> None: ...


class PublicFolder:
    def __init__(self, public: Path, served: Served | None = None) -> None:
        """`served`: told of each new file version it wants once the version is in place."""
        self.root = public
        self._files = StagedFiles()
        self.served = served
        self._handed: dict[Path, bytes] = {}  # staged versions `served` wants, by path

    def write(self, relative: Path, data: bytes, report: PublishReport) -> bool:
        """Stage a file (put in place by the next commit, at the latest when the publish
        ends); False when it already holds `data`."""
        try:
            staged = self._files.add(self.root / relative, data)
        except StagingError as exc:
            raise _publish_error(exc) from None
        if staged:
            report.written += 1
            if self.served is not None and self.served.wants(relative):
                self._handed[relative] = data
            return True
        report.unchanged += 1
        return False

    def exists(self, relative: Path) -> bool:
        return (self.root / relative).exists()

    def needs_rebuild(self, slug: str, wanted: set[str] | None, relative: Path) -> bool:
        """Rebuild this topic's output? Yes when the topic is `wanted` (None: all are), and
        whenever the file does not exist."""
        return wanted is None or slug in wanted or not self.exists(relative)

    def commit(self) -> None:
        """Put what is staged in place now (durable first)."""
        try:
            self._files.commit()
        except StagingError as exc:
            self._handed.clear()
            raise _publish_error(exc) from None
        self._hand_over()

    @contextmanager
    def committed(self) -> Iterator[None]:
        """What the block wrote is in place when it ends; nothing of it when it fails."""
        try:
            with self._files.committed():
                yield
        except StagingError as exc:
            self._handed.clear()
            raise _publish_error(exc) from None
        except BaseException:
            self._handed.clear()
            raise
        self._hand_over()

    def _hand_over(self) -> None:
        if self._handed and self.served is not None:
            handed, self._handed = self._handed, {}
            self.served.committed(handed)

    def close(self) -> None:
        self._files.close()


def _publish_error(exc: StagingError) -> PublishError:
    return PublishError(str(exc), hint=_HINTS[exc.step])
