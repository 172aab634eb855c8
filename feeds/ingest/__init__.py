"""Ingest: file -> parse -> summarize -> classify -> group -> store, for one file or a whole
inbox, and what to publish afterwards.

Input files are only ever read. A file is read when its size or mtime changed since the last
run, and its bytes are hashed: the same bytes under another name are recorded as a duplicate,
the same bytes under the same name change nothing. A file that fails is recorded with the
reason and read again once it changes. Work is done in batches, one transaction each.

    scan        the inbox: candidates, names, reading a settled file
    pipeline    the pure stages configured once; a file's articles ready to store
    parallel    parsing in worker processes during a backfill
    record      a batch applied to the store; failure and duplicate records
    grouping    story grouping against the index
    ingestor    one run: changed files, batches, claims
    explain     `feeds explain` (the --json contract)
    publishing  the publish-after-ingest policy the daemon and the CLI share
"""

from feeds.ingest.explain import explain_file
from feeds.ingest.ingestor import Clock, Ingestor, utcnow
from feeds.ingest.pipeline import ParsedFile, Pipeline, drafts_for, parse_reads
from feeds.ingest.publishing import IngestedChanges, PublishScope
from feeds.ingest.record import IngestReport
from feeds.ingest.scan import FileRead, received, relative_name, scan

__all__ = ["Clock", "FileRead", "IngestReport", "IngestedChanges", "Ingestor", "ParsedFile",
           "Pipeline", "PublishScope", "drafts_for", "explain_file", "parse_reads", "received",
           "relative_name", "scan", "utcnow"]
