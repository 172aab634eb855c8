"""The inbox watcher: what it queues for the worker, and a rescan after an inotify overflow."""

from __future__ import annotations

import queue
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver

from feeds.daemon.events import FileSeen, InboxEvent, InboxRequest
from feeds.daemon.watcher import InboxObserver, watch_inbox
from tests.conftest import wait_for


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, queue.Queue[InboxEvent], BaseObserver]]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    events: queue.Queue[InboxEvent] = queue.Queue()
    observer = watch_inbox(inbox, events)
    yield inbox, events, observer
    observer.stop()
    observer.join(timeout=5)


def drain(events: queue.Queue[InboxEvent]) -> list[InboxEvent]:
    found = []
    while True:
        try:
            found.append(events.get(timeout=0.3))
        except queue.Empty:
            return found


def test_a_written_file_is_complete_a_new_folder_asks_for_a_rescan(
        watched: tuple[Path, queue.Queue[InboxEvent], BaseObserver], tmp_path: Path) -> None:
    inbox, events, _ = watched
    (inbox / "story.txt").write_text("Harbour reopens\n\nShips docked.\n", encoding="utf-8")
    (inbox / ".hidden.txt").write_text("never read\n", encoding="utf-8")
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "inside.txt").write_text("Moved in with its folder\n", encoding="utf-8")
    shutil.move(str(staging), str(inbox / "batch"))
    found = drain(events)
    story = str(inbox / "story.txt")
    assert FileSeen(story, complete=True) in found, found
    assert FileSeen(story, complete=False) in found, found  # created, then closed
    assert not any(isinstance(e, FileSeen) and "hidden" in e.path for e in found), found
    assert InboxRequest.RESCAN in found, found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
def test_an_inotify_queue_overflow_asks_for_a_full_rescan(
        watched: tuple[Path, queue.Queue[InboxEvent], BaseObserver]) -> None:
    from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent
    _, events, observer = watched
    assert isinstance(observer, InboxObserver)
    assert drain(events) == []
    # what the kernel sends when its queue fills: wd -1, IN_Q_OVERFLOW, through watchdog's
    # own dispatch to every watch group
    observer.inotify.handle_event(InotifyEvent(-1, InotifyConstants.IN_Q_OVERFLOW, 0, b""))
    assert wait_for(lambda: not events.empty(), 2)
    assert drain(events) == [InboxRequest.RESCAN]
