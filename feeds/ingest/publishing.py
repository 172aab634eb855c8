"""What to publish after an ingest: the one policy `feeds ingest` and the daemon share.

In full when an article left a file (it leaves the feeds, and the archive pages after it
shift); otherwise what changed, limited to the new articles' topics while no article was
edited (an edit may have left a topic). Articles stored and never published (a run killed
between storing and publishing, `--no-publish`, a daemon sharing the store stopped) go too;
their topics are not known, so then every topic's pages are rebuilt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from feeds.config import Config
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


# an article stored this long ago without its page is published by any daemon's rescan
ORPHAN_GRACE_SECONDS = 30.0


class Publishing(Protocol):
    """What the policy needs of a publisher (`feeds.publish.Publisher`, a layer beside this one)."""

    def publish(self, changed: Iterable[str] | None = None,
                topics: Iterable[str] | None = None, *,
                pause: Callable[[], bool] | None = None) -> object: ...

    def finish(self, pause: Callable[[], bool] | None = None) -> object: ...


class PublishAfterIngest:
    """The daemon's side of the policy: publish what a batch changed, or everything when an
    article was removed or when a publish failed (disk full, folder unwritable): what that
    publish should have written is not known any more, so it is owed until a full one
    succeeds."""

    def __init__(self, news_waiting: Callable[[], bool]) -> None:
        self.news_waiting = news_waiting
        self.owed = False

    def add_orphans(self, store: Store, config: Config, changes: IngestedChanges) -> None:
        """Add the articles a daemon sharing the store stored and was stopped before
        publishing (stored a while ago: not the ones another daemon is publishing now)."""
        grace = min(config.ingest.rescan_seconds, ORPHAN_GRACE_SECONDS)
        changes.include_unpublished(store, before=datetime.now(UTC) - timedelta(seconds=grace))

    def publish_batch(self, publisher: Publishing, changes: IngestedChanges, *,
                      stopping: bool) -> None:
        if stopping:
            # what this batch stored still reaches the feeds (other daemons sharing the
            # store publish only their own); the full publish waits for the next start
            if changes.changed:
                publisher.publish(changed=changes.changed, topics=changes.topics)
        elif changes.worth_publishing() or self.owed:
            scope = changes.scope()
            self.publish(publisher, scope.changed, scope.topics)

    def publish(self, publisher: Publishing, changed: set[str] | None = None,
                topics: set[str] | None = None) -> None:
        """Publish what changed, or everything when asked to or when a publish is owed."""
        full = changed is None or self.owed
        with self._owed_until_done():
            if full:
                publisher.publish()
            else:
                # pages that list articles give way to a file that has arrived meanwhile
                publisher.publish(changed=changed, topics=topics, pause=self.news_waiting)

    def finish(self, publisher: Publishing) -> None:
        """Write the pages the last publish put off (giving way to a file, as they did)."""
        with self._owed_until_done():
            publisher.finish(pause=self.news_waiting)

    @contextmanager
    def _owed_until_done(self) -> Iterator[None]:
        self.owed = True
        yield
        self.owed = False
