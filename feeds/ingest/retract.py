"""`feeds retract`: taking articles down, and bringing them back (`--undo`).

The target names one or more stored articles: an inbox file (inbox-relative, or a path as
given; every article of the file, or `FILE#N` for its Nth, from 0), an article id (as in its
page's address, or that address itself) or an Atom id (`urn:uuid:…`). The store keeps the
article and records the retraction; the caller publishes the `PublishScope` returned, which
takes it out of the feeds, pages and archives and puts its tombstone where it was listed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from feeds.errors import FeedsError
from feeds.ingest.publishing import PublishScope
from feeds.ingest.scan import relative_name
from feeds.store import Store
from feeds.store.retractions import Retraction, StoredArticle

_ARTICLE_ID = re.compile(r"(?:^|(?:^|/)articles/)([0-9a-f]{16})(?:\.html)?$")


@dataclass(slots=True)
class RetractReport:
    done: list[Retraction] = field(default_factory=list)  # retracted (or brought back) now
    unchanged: list[StoredArticle] = field(default_factory=list)  # already so

    def scope(self) -> PublishScope:
        """What to publish: the articles, and every feed that listed them (their
        neighbours' pages follow from the publish itself)."""
        return PublishScope({r.article_id for r in self.done}, None)


def find_articles(store: Store, target: str, inbox: Path) -> list[StoredArticle]:
    """The stored articles `target` names; a FeedsError saying what was tried when none."""
    with store.read() as tx:
        if target.startswith("urn:uuid:"):
            found = tx.articles_named(entry_ids=[target])
        elif (match := _ARTICLE_ID.search(target)) is not None:
            found = tx.articles_named(ids=[match.group(1)])
        else:
            path, _, index = target.rpartition("#") if "#" in target else (target, "", "")
            names = sorted({path, relative_name(Path(path), inbox)})
            if index:
                found = tx.articles_named(keys=[f"{name}#{index}" for name in names])
            else:
                found = tx.articles_named(paths=names)
    if not found:
        raise FeedsError(f"no stored article is named {target}",
                         hint="give an inbox file (as ingested), an article id from its page "
                              "address, or its Atom id (urn:uuid:…)")
    return found


def retract(store: Store, articles: Sequence[StoredArticle], reason: str,
            now: datetime) -> RetractReport:
    report = RetractReport()
    with store.write() as tx:
        for article in articles:
            done = tx.retract(article, reason, now)
            if done is None:
                report.unchanged.append(article)
            else:
                report.done.append(done)
    return report


def undo(store: Store, articles: Sequence[StoredArticle]) -> RetractReport:
    report = RetractReport()
    with store.write() as tx:
        for article in articles:
            done = tx.unretract(article.id)
            if done is None:
                report.unchanged.append(article)
            else:
                report.done.append(done)
    return report
