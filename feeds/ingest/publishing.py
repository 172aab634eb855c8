"""What to publish after an ingest: the one policy `feeds ingest` and the daemon share.

In full when an article left a file (it leaves the feeds, and the archive pages after it
shift); otherwise what changed, limited to the new articles' topics while no article was
edited (an edit may have left a topic). Articles stored and never published (a run killed
between storing and publishing, `--no-publish`, a daemon sharing the store stopped) go too;
their topics are not known, so then every topic's pages are rebuilt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from feeds.ingest.record import IngestReport
from feeds.store import Store

log = logging.getLogger("feeds.ingest")  # see feeds.ingest.pipeline


@dataclass(frozen=True, slots=True)
class PublishScope:
    """What a publish should cover: `changed` None means everything; `topics` None means
    every topic's feeds (else those and "all")."""

    changed: set[str] | None
    topics: set[str] | None


@dataclass(slots=True)
class IngestedChanges:
    """What one or more ingest runs left to publish."""

    changed: set[str] = field(default_factory=set)
    topics: set[str] | None = field(default_factory=set)
    removed: bool = False  # an article left a file

    @classmethod
    def of(cls, report: IngestReport) -> IngestedChanges:
        changes = cls()
        changes.absorb(report)
        return changes

    def absorb(self, report: IngestReport) -> None:
        self.changed.update(report.changed)
        self.topics = (None if self.topics is None or report.topics is None
                       else self.topics | report.topics)
        self.removed = self.removed or report.removed > 0

    def include_unpublished(self, store: Store, *, before: datetime | None = None) -> None:
        """Add the articles stored and never published (`before`: stored before then, so
        not the ones another daemon is publishing now)."""
        orphans = store.unpublished(before=before) - self.changed
        if orphans:
            log.info("publishing articles stored and never published count=%d", len(orphans))
            self.changed |= orphans
            self.topics = None

    def worth_publishing(self) -> bool:
        """Did anything change that the published files show?"""
        return self.removed or bool(self.changed)

    def scope(self) -> PublishScope:
        if self.removed:
            return PublishScope(None, None)
        return PublishScope(set(self.changed),
                            None if self.topics is None else set(self.topics))
