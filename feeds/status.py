"""One snapshot of an installation's state, read from the store in one place: `feeds status`
(text and --json), `/healthz` and `/metrics` all render from it, so they cannot disagree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feeds.config import DigestConfig
from feeds.models import FileRecord
from feeds.store import Store

RUN_KINDS = ("ingest", "publish", "digest")


@dataclass(frozen=True, slots=True)
class Snapshot:
    counts: dict[str, int]  # articles, stories, files by status, "topic:<slug>" per topic
    runs: dict[str, dict[str, Any]]  # the last run of each kind: started, finished, ok, detail
    failed: list[FileRecord]  # inbox files that could not be read, with the reason
    deliveries: dict[str, int]  # digest deliveries by status
    subscribers: dict[str, int]  # subscribers by state
    published: bool  # public/ has a front page
    bounces: dict[str, int] = field(default_factory=dict)  # bounce mailbox messages by kind
    failures: dict[str, int] = field(default_factory=dict)  # failed deliveries by reason
    next_runs: dict[str, datetime | None] = field(default_factory=dict)  # per schedule

    @property
    def pending_deliveries(self) -> int:
        return self.deliveries.get("pending", 0)

    def topic_counts(self) -> dict[str, int]:
        """Articles per topic, by slug, in slug order."""
        return {key.removeprefix("topic:"): value for key, value in sorted(self.counts.items())
                if key.startswith("topic:")}

    def last_finished(self, kind: str) -> datetime | None:
        run = self.runs.get(kind)
        return run["finished"] if run else None


def take_snapshot(store: Store, public: Path,
                  digests: Mapping[str, DigestConfig] | None = None,
                  now: datetime | None = None) -> Snapshot:
    """The installation's state; with `digests`, the next run of each schedule too."""
    from feeds.digest.schedule import cron_trigger
    when = now or datetime.now(UTC)
    next_runs: dict[str, datetime | None] = {}
    for name, digest in (digests or {}).items():
        fire = cron_trigger(digest).get_next_fire_time(None, when)
        next_runs[name] = fire.astimezone(UTC) if fire is not None else None
    with store.read() as tx:
        states, bounces, failures = (tx.subscriber_states(), tx.bounce_counts(),
                                     tx.failures_by_reason())
    return Snapshot(
        counts=store.counts(),
        runs=store.last_runs(),
        failed=store.failed_files(),
        deliveries=store.delivery_counts(),
        subscribers=dict(sorted(states.items())),
        published=(public / "index.html").exists(),
        bounces=dict(sorted(bounces.items())),
        failures=dict(sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))),
        next_runs=next_runs,
    )


def shown_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(value, datetime) else "never"


def status_json(snapshot: Snapshot) -> dict[str, Any]:
    """`feeds status --json`: a shape scripts rely on."""
    return {
        "counts": snapshot.counts, "pending_deliveries": snapshot.pending_deliveries,
        "runs": {kind: {**run, "started": shown_time(run["started"]),
                        "finished": shown_time(run["finished"])}
                 for kind, run in snapshot.runs.items()},
        "failed": [{"path": f.path, "reason": f.reason} for f in snapshot.failed],
        "subscribers": snapshot.subscribers,
        "bounces": snapshot.bounces,
        "delivery_failures": snapshot.failures,
        "next_runs": {name: shown_time(when) if when else None
                      for name, when in snapshot.next_runs.items()},
    }


def status_lines(snapshot: Snapshot) -> list[str]:
    """`feeds status`: what a person reads first."""
    counts = snapshot.counts
    lines = [f"articles: {counts['articles']} in {counts['stories']} stories; files: "
             f"{counts['files_ok']} ok, {counts['files_failed']} failed, "
             f"{counts['files_duplicate']} duplicate"]
    lines += [f"  {slug}: {value} articles" for slug, value in snapshot.topic_counts().items()]
    for kind in RUN_KINDS:
        run = snapshot.runs.get(kind)
        lines.append(f"last {kind}: " + (f"{shown_time(run['finished'])}"
                                         f"{'' if run['ok'] else ' (with problems)'}"
                                         if run else "never"))
    lines.append(f"pending deliveries: {snapshot.pending_deliveries}")
    lines.append("subscribers: " + (", ".join(f"{n} {state}" for state, n
                                               in snapshot.subscribers.items()) or "none"))
    if snapshot.failures:
        lines.append("delivery failures:")
        lines += [f"  {count} x {reason}" for reason, count in snapshot.failures.items()]
    if snapshot.bounces:
        lines.append("bounce mailbox: " + ", ".join(
            f"{n} {kind}" for kind, n in snapshot.bounces.items()))
    for name, when in snapshot.next_runs.items():
        lines.append(f"next {name} digest: {shown_time(when) if when else 'never'}")
    lines.append(f"failed files: {len(snapshot.failed)}")
    lines += [f"  {record.path}: {record.reason}" for record in snapshot.failed]
    return lines
