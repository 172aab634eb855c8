"""The inbox watcher: watchdog events become `InboxEvent`s on the worker's queue.

The kernel drops inotify events when its queue (fs.inotify.max_queued_events) fills, as a burst
of thousands of files can make it. watchdog tells each watch group through its
`on_queue_overflow` callback; ours turns that into a full rescan, so no dropped file waits for
the periodic one. The inotify emitter and observer are subclassed for that hook alone, which is
why pyproject.toml pins watchdog below its next major version.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.api import BaseObserver

from feeds.articles import is_candidate
from feeds.daemon.events import EventQueue, FileSeen, InboxRequest

# how long the observer waits for events before checking whether it was stopped
OBSERVER_TIMEOUT = 0.01


class InboxHandler(FileSystemEventHandler):
    """Queues the files worth a look. A file closed after writing, or renamed within the inbox,
    is complete; a file that merely appeared may be a move from another folder (complete) or a
    new file still being written, so it is read only once it settles."""

    def __init__(self, events: EventQueue) -> None:
        self.events = events

    def _push(self, path: str | bytes, complete: bool) -> None:
        text = os.fsdecode(path)
        if is_candidate(os.path.basename(text)):
            self.events.put(FileSeen(text, complete))

    def on_closed(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._push(event.src_path, True)

    def on_moved(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._push(event.dest_path, True)
        else:
            self.events.put(InboxRequest.RESCAN)

    def on_created(self, event: FileSystemEvent) -> None:
        # A new folder may arrive with files already in it (mv of a whole folder).
        if event.is_directory:
            self.events.put(InboxRequest.RESCAN)
        else:
            self._push(event.src_path, False)


def watch_inbox(inbox: Path, events: EventQueue) -> BaseObserver:
    """A started observer queueing what arrives anywhere below `inbox`."""
    observer: BaseObserver
    if sys.platform.startswith("linux"):
        observer = InboxObserver(lambda: events.put(InboxRequest.RESCAN))
    else:  # no inotify, no overflow to hear of: the periodic rescan is the safety net
        from watchdog.observers import Observer
        observer = Observer(timeout=OBSERVER_TIMEOUT)
    observer.schedule(InboxHandler(events), str(inbox), recursive=True)
    observer.start()
    return observer


if sys.platform.startswith("linux"):
    from watchdog.observers.inotify import InotifyEmitter, InotifyWatchGroup
    from watchdog.observers.inotify_c import InotifyFD

    @dataclass
    class OverflowReportingGroup(InotifyWatchGroup):
        on_overflow: Callable[[], None] = field(default=lambda: None, kw_only=True)

        def on_queue_overflow(self) -> None:
            super().on_queue_overflow()  # watchdog re-adds its recursive watches
            self.on_overflow()

    class OverflowReportingEmitter(InotifyEmitter):
        def __init__(self, *args: Any, on_overflow: Callable[[], None], **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.on_overflow = on_overflow

        def on_thread_start(self) -> None:
            self._inotify = OverflowReportingGroup(
                self._inotify_fd, os.fsencode(self.watch.path),
                is_recursive=self.watch.is_recursive,
                event_mask=self.get_event_mask_from_filter(),
                follow_symlink=self.watch.follow_symlink, on_overflow=self.on_overflow)

    class InboxObserver(BaseObserver):
        """watchdog's inotify observer, with emitters that report a queue overflow."""

        def __init__(self, on_overflow: Callable[[], None]) -> None:
            self.inotify = InotifyFD()
            self.inotify.start()
            super().__init__(OverflowReportingEmitter, timeout=OBSERVER_TIMEOUT,
                             inotify_fd=self.inotify, on_overflow=on_overflow)

        def on_thread_stop(self) -> None:
            super().on_thread_stop()
            self.inotify.stop()
            self.inotify.join()
