"""Parsing batches in worker processes while this process stores the batch before (a
backfill, on a machine with a CPU to spare). Either way the batches are stored in the same
order, so the stories come out the same. (Workers: see feeds.workers.)

A batch is cut into tasks. The workers take a batch's tasks from its end; when this process
needs the batch, it parses the tasks no worker has started yet itself, from the start, instead
of waiting. So neither side idles while the other is behind: this process parses most of the
first batch while a spawned worker spends its first half second importing, and helps whenever
storing is the faster side."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from feeds.config import Config
from feeds.ingest.pipeline import ParsedFile, Pipeline, parse_reads
from feeds.ingest.scan import FileRead
from feeds.workers import worker_pool

log = logging.getLogger("feeds.ingest")  # see feeds.ingest.pipeline

FILES_PER_TASK = 25  # a batch is shared by the workers and this process


def parse_in_worker(config: Config, reads: Sequence[FileRead]) -> list[ParsedFile | FileRead]:
    """parse_reads in a worker process, with a pipeline of its own."""
    pipeline = Pipeline(config)
    try:
        return parse_reads(pipeline, reads)
    finally:
        pipeline.close()


class BatchParsers:
    """Where batches are parsed: here, or in `workers` worker processes and here."""

    def __init__(self, config: Config, pipeline: Pipeline, workers: int) -> None:
        self.config = config
        self.pipeline = pipeline
        self._pool = worker_pool(workers) if workers else None
        if workers:
            log.info("parsing in worker processes count=%d", workers)

    @property
    def ahead(self) -> int:
        """Batches parsed ahead of the one being stored."""
        return 0 if self._pool is None else 1

    def submit(self, reads: list[FileRead]) -> Callable[[], list[ParsedFile | FileRead]]:
        """Start parsing; the returned call gives the result (parsing what no worker took)."""
        if self._pool is None:
            done = parse_reads(self.pipeline, reads)
            return lambda: done
        chunks = [reads[n:n + FILES_PER_TASK] for n in range(0, len(reads), FILES_PER_TASK)]
        pool, config = self._pool, self.config
        tasks = [pool.submit(parse_in_worker, config, chunk) for chunk in reversed(chunks)]
        tasks.reverse()

        def result() -> list[ParsedFile | FileRead]:
            parsed: list[ParsedFile | FileRead] = []
            for chunk, task in zip(chunks, tasks, strict=True):
                parsed += parse_reads(self.pipeline, chunk) if task.cancel() else task.result()
            return parsed
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
