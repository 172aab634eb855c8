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

# Nothing is imported here: each caller imports the module it uses, so `feeds explain`
# (the pipeline) does not import the store.
