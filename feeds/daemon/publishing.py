"""What the daemon publishes after an ingest batch.

A business rule, not wiring: at merge it becomes the one publish-after-ingest policy of
`feeds/ingest/publishing.py`, which `feeds ingest` shares.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from feeds.config import Config
from feeds.ingest import IngestReport
from feeds.publish import Publisher
from feeds.store import Store

log = logging.getLogger(__name__)

# an article stored this long ago without its page is published by any daemon's rescan
ORPHAN_GRACE_SECONDS = 30.0


@dataclass
class BatchChanges:
    """What the ingests of one batch changed."""

    changed: set[str] = field(default_factory=set)  # article ids new or updated
    topics: set[str] | None = field(default_factory=set)  # None: any topic may have changed
    removed: bool = False  # an article left a file: it leaves the feeds, archives shift

    def add(self, report: IngestReport) -> None:
        self.changed |= report.changed
        self.topics = (None if self.topics is None or report.topics is None
                       else self.topics | report.topics)
        self.removed = self.removed or report.removed > 0


class PublishAfterIngest:
    """Publishes what a batch changed, or everything when an article was removed or when a
    publish failed (disk full, folder unwritable): what that publish should have written is
    not known any more, so it is owed until a full one succeeds."""

    def __init__(self, news_waiting: Callable[[], bool]) -> None:
        self.news_waiting = news_waiting
        self.owed = False

    def add_orphans(self, store: Store, config: Config, changes: BatchChanges) -> None:
        """Add the articles a daemon sharing the store stored and was stopped before
        publishing."""
        grace = min(config.ingest.rescan_seconds, ORPHAN_GRACE_SECONDS)
        orphans = store.unpublished(before=datetime.now(UTC) - timedelta(seconds=grace))
        orphans -= changes.changed
        if orphans:
            log.info("publishing articles stored and never published count=%d", len(orphans))
            changes.changed |= orphans
            changes.topics = None

    def publish_batch(self, publisher: Publisher, changes: BatchChanges, *,
                      stopping: bool) -> None:
        if stopping:
            # what this batch stored still reaches the feeds (other daemons sharing the
            # store publish only their own); the full publish waits for the next start
            if changes.changed:
                publisher.publish(changed=changes.changed, topics=changes.topics)
        elif changes.removed:
            self.publish(publisher)
        elif changes.changed or self.owed:
            self.publish(publisher, changes.changed, changes.topics)

    def publish(self, publisher: Publisher, changed: set[str] | None = None,
                topics: set[str] | None = None) -> None:
        """Publish what changed, or everything when asked to or when a publish is owed."""
        full = changed is None or self.owed
        with self._owed_until_done():
            if full:
                publisher.publish()
            else:
                # pages that list articles give way to a file that has arrived meanwhile
                publisher.publish(changed=changed, topics=topics, pause=self.news_waiting)

    def finish(self, publisher: Publisher) -> None:
        """Write the pages the last publish put off."""
        with self._owed_until_done():
            publisher.finish()

    @contextmanager
    def _owed_until_done(self) -> Iterator[None]:
        self.owed = True
        yield
        self.owed = False
