"""Parsing batches in worker processes while this process stores the batch before (a
backfill, on a machine with a CPU to spare). Either way the batches are stored in the same
order, so the stories come out the same. (Workers: see feeds.workers.)

The first batch is parsed here, when it is to be stored: a spawned worker spends its first
half second importing, and this process would only wait for it. The worker meanwhile starts
on the second batch."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence

from feeds.config import Config
from feeds.ingest.pipeline import ParsedFile, Pipeline, parse_reads
from feeds.ingest.scan import FileRead
from feeds.workers import worker_pool

log = logging.getLogger("feeds.ingest")  # see feeds.ingest.pipeline

FILES_PER_TASK = 50  # a batch is shared by the workers


def parse_in_worker(config: Config, reads: Sequence[FileRead]) -> list[ParsedFile | FileRead]:
    """parse_reads in a worker process, with a pipeline of its own."""
    pipeline = Pipeline(config)
    try:
        return parse_reads(pipeline, reads)
    finally:
        pipeline.close()


class BatchParsers:
    """Where batches are parsed: here, or in `workers` worker processes."""

    def __init__(self, config: Config, pipeline: Pipeline, workers: int) -> None:
        self.config = config
        self.pipeline = pipeline
        self._pool = worker_pool(workers) if workers else None
        self._parse_here = True  # the first batch, or every batch without workers
        if workers:
            log.info("parsing in worker processes count=%d", workers)

    @property
    def ahead(self) -> int:
        """Batches parsed ahead of the one being stored."""
        return 0 if self._pool is None else 1

    def submit(self, reads: list[FileRead]) -> Callable[[], list[ParsedFile | FileRead]]:
        """Start parsing; the returned call gives the result (waiting for it)."""
        if self._parse_here:
            self._parse_here = self._pool is None
            return functools.cache(functools.partial(parse_reads, self.pipeline, reads))
        tasks = [self._pool.submit(parse_in_worker, self.config, reads[n:n + FILES_PER_TASK])
                 for n in range(0, len(reads), FILES_PER_TASK)]
        return lambda: [parsed for task in tasks for parsed in task.result()]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
