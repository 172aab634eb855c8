"""What the watcher and the scheduler tell the worker: whole-inbox requests and files seen."""

from __future__ import annotations

import queue
from dataclasses import dataclass
from enum import Enum


class InboxRequest(Enum):
    STARTUP = "startup"  # the first batch: scan, publish everything, then missed digests
    RESCAN = "rescan"  # scan the whole inbox (periodic, a folder moved in, dropped events)
    RECLASSIFY = "reclassify"  # the topics changed: classify every article again


@dataclass(frozen=True)
class FileSeen:
    """A file in the inbox. `complete` when it was closed after writing or renamed in: it is read
    at once. Otherwise it merely appeared and is read only once its size and mtime hold still."""

    path: str
    complete: bool


InboxEvent = InboxRequest | FileSeen
EventQueue = queue.Queue[InboxEvent]
