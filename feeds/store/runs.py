"""Named queries for run records and the status counts (`feeds status`, /healthz)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from feeds.store.engine import Queries
from feeds.store.schema import article_topics, articles, files, runs


class RunReads(Queries):
    def last_runs(self) -> dict[str, dict[str, Any]]:
        """Each kind of run's latest record: started, finished, ok and its details."""
        return {row.kind: {"started": row.started, "finished": row.finished, "ok": row.ok,
                           **json.loads(row.detail)}
                for row in self.conn.execute(sa.select(runs))}

    def counts(self) -> dict[str, int]:
        conn = self.conn
        by_status: dict[str, int] = dict(conn.execute(sa.select(files.c.status, sa.func.count())
                                                      .group_by(files.c.status)).all())
        topic_counts: dict[str, int] = dict(conn.execute(
            sa.select(article_topics.c.slug, sa.func.count())
            .group_by(article_topics.c.slug)).all())
        stories = conn.execute(sa.select(sa.func.count(sa.distinct(articles.c.story_id))))
        result = {
            "articles": int(conn.execute(sa.select(sa.func.count()).select_from(articles))
                            .scalar() or 0),
            "stories": int(stories.scalar() or 0),
            "files": sum(by_status.values()),
            "files_ok": by_status.get("ok", 0),
            "files_failed": by_status.get("failed", 0),
            "files_duplicate": by_status.get("duplicate", 0),
        }
        result.update({f"topic:{slug}": int(n) for slug, n in topic_counts.items()})
        return result


class RunWrites(RunReads):
    def record_run(self, kind: str, started: datetime, finished: datetime, ok: bool,
                   detail: dict[str, Any]) -> None:
        """The run's record replaces the last one of its kind."""
        self.conn.execute(runs.delete().where(runs.c.kind == kind))
        self.conn.execute(runs.insert().values(kind=kind, started=started, finished=finished,
                                               ok=ok, detail=json.dumps(detail)))
