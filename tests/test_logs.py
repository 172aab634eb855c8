"""The log's repeat filter, on real records through a real handler."""

from __future__ import annotations

import io
import logging

from feeds.logs import RepeatFilter


def test_a_repeated_warning_is_held_back_within_a_minute_and_counted_after() -> None:
    now = [0.0]
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RepeatFilter(clock=lambda: now[0]))
    log = logging.getLogger("feeds.test_repeats")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        for n in range(8):
            log.warning("file failed path=%s", f"bad-{n}.txt")
        log.warning("another warning")  # a warning of its own kind is not held
        log.info("info lines pass %d", 1)
        now[0] = 3600.0  # an hour later the same warning shows again, with the count
        log.warning("file failed path=%s", "late.txt")
    finally:
        log.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert lines == [*(f"file failed path=bad-{n}.txt" for n in range(5)), "another warning",
                     "info lines pass 1",
                     "file failed path=late.txt (3 more like it earlier were not shown)"]
