"""Worker processes for the big jobs of a `feeds` command: parsing a backfill, rendering the
article pages of a big publish. On a machine with a CPU to spare they run beside the process
that stores and publishes.

Workers are spawned, not forked: a forked worker would keep copies of this process's database
connections, and so its claims, alive after this process was killed. A spawned worker imports
the caller's main module again, which a script without a `__main__` guard does not survive, so
only the `feeds` command asks for them (`workers_allowed` in Ingestor, `helpers` in
Publisher)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor


def worker_pool(count: int) -> ProcessPoolExecutor:
    """`count` spawned worker processes that leave when this process is gone."""
    return ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_leave_with, initargs=(os.getpid(),))


def spare_cpus(wanted: int | None) -> int:
    """Workers to start: `wanted`, or by default one per CPU beyond the first, at most 4."""
    if wanted is not None:
        return wanted
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count() or 1
    return min(4, cpus - 1)


def _leave_with(parent: int) -> None:
    """In a worker: exit once the process that started it is gone. A killed `feeds ingest`
    cannot stop its workers, and they would wait for work forever. Ctrl-C reaches the whole
    process group; the worker leaves stopping to its parent (which finishes or drops the work
    in hand) instead of dying in the middle of a task."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
