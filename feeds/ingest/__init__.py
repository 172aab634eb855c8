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

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names as the type checker sees them; at run time, __getattr__
    from feeds.ingest.explain import explain_file
    from feeds.ingest.ingestor import Clock, Ingestor, utcnow
    from feeds.ingest.pipeline import ParsedFile, Pipeline, drafts_for, parse_reads
    from feeds.ingest.publishing import IngestedChanges, PublishScope
    from feeds.ingest.record import IngestReport
    from feeds.ingest.scan import FileRead, received, relative_name, scan

# What the package offers, and the module each lives in. They are imported when first asked
# for (PEP 562), so `feeds explain`, which needs the pipeline, does not import the store.
_EXPORTS = {
    "explain_file": "explain", "Clock": "ingestor", "Ingestor": "ingestor",
    "utcnow": "ingestor", "ParsedFile": "pipeline", "Pipeline": "pipeline",
    "drafts_for": "pipeline", "parse_reads": "pipeline", "IngestedChanges": "publishing",
    "PublishScope": "publishing", "IngestReport": "record", "FileRead": "scan",
    "received": "scan", "relative_name": "scan", "scan": "scan",
}
__all__ = ["Clock", "FileRead", "IngestReport", "IngestedChanges", "Ingestor", "ParsedFile",
           "Pipeline", "PublishScope", "drafts_for", "explain_file", "parse_reads", "received",
           "relative_name", "scan", "utcnow"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
