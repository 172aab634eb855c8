"""Logging set-up, once, by the CLI: human-readable lines or JSON, one logger per module."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class RepeatFilter(logging.Filter):
    """Let the same warning (one logger, one message template) through five times a minute
    and hold back the rest of that minute: a backfill of thousands of bad files, or a mail
    server down for every digest, does not flood the journal, and a warning of an hour later
    is not lost to the ones before it. The first let through after some were held says how
    many (`feeds status` lists each failure whatever the log showed)."""

    BURST = 5
    WINDOW_SECONDS = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self._lock = threading.Lock()  # loggers are called from several threads
        self._seen: dict[tuple[str, str], _Window] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        with self._lock:
            window = self._seen.get(key)
            if window is None or now - window.started >= self.WINDOW_SECONDS:
                self._seen[key] = _Window(now)
                if window is not None and window.held:  # no "%" in it: the record's own
                    # arguments still fill its message
                    record.msg = (f"{record.msg} ({window.held} more like it earlier were "
                                  "not shown)")
                return True
            window.shown += 1
            if window.shown <= self.BURST:
                return True
            window.held += 1
            return False


@dataclass(slots=True)
class _Window:
    """One warning's current minute: when it began, how many were shown and held back."""

    started: float
    shown: int = 1
    held: int = 0


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "watchdog", "uvicorn", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
