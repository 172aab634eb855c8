"""`/healthz` (JSON, 503 until public/ has a front page or while the store fails) and
`/metrics` (Prometheus text), both rendered from one `feeds.status` snapshot. Each app has its
own metrics registry: two sites in one process (tests, several daemons) never share counts."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, GCCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from feeds.config import Config
from feeds.cron import next_runs
from feeds.status import Snapshot, take_snapshot
from feeds.store import Store
from feeds.web.static import PublicFiles

NO_STORE = {"Cache-Control": "no-store"}
FILE_STATES = ("ok", "failed", "duplicate")
DELIVERY_STATES = ("pending", "sent", "failed")
# shown even at zero, so a dashboard's series exist before the first one
SUBSCRIBER_STATES = ("active", "paused", "pending", "bounced", "complained", "unsubscribed")
BOUNCE_KINDS = ("hard", "soft", "complaint", "unrecognized", "kept", "unsubscribe")


def health_of(snapshot: Snapshot) -> tuple[bool, dict[str, Any]]:
    """Healthy once something is published; the body says what a monitor wants to see."""
    healthy = snapshot.published
    return healthy, {
        "status": "ok" if healthy else "unhealthy",
        "published": snapshot.published,
        "last_ingest": _iso(snapshot.last_finished("ingest")),
        "last_publish": _iso(snapshot.last_finished("publish")),
        "last_digest": _iso(snapshot.last_finished("digest")),
        "counts": snapshot.counts,
        "failed_files": len(snapshot.failed),
        "pending_deliveries": snapshot.pending_deliveries,
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


class SiteCollector(Collector):
    """The metrics of one site, read when scraped: the store's snapshot, the server's
    in-memory files and its responses by status code."""

    def __init__(self, snapshot: Callable[[], Snapshot], files: PublicFiles,
                 responses: Counter[int]) -> None:
        self.snapshot = snapshot
        self.files = files
        self.responses = responses

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot()
        counts = snapshot.counts
        yield GaugeMetricFamily("feeds_articles", "Articles stored.", value=counts["articles"])
        yield GaugeMetricFamily("feeds_stories", "Stories (same-event groups).",
                                value=counts["stories"])
        files = GaugeMetricFamily("feeds_files", "Inbox files by status.", labels=["status"])
        for state in FILE_STATES:
            files.add_metric([state], counts[f"files_{state}"])
        yield files
        topics = GaugeMetricFamily("feeds_topic_articles", "Articles per topic.",
                                   labels=["topic"])
        for slug, value in snapshot.topic_counts().items():
            topics.add_metric([slug], value)
        yield topics
        publish = snapshot.runs.get("publish")
        yield GaugeMetricFamily("feeds_publish_duration_seconds",
                                "Duration of the last publish.",
                                value=publish.get("seconds", 0) if publish else 0)
        deliveries = GaugeMetricFamily("feeds_deliveries", "Digest deliveries by status.",
                                       labels=["status"])
        for state in DELIVERY_STATES:
            deliveries.add_metric([state], snapshot.deliveries.get(state, 0))
        yield deliveries
        subscribers = GaugeMetricFamily("feeds_subscribers", "Subscribers by state.",
                                        labels=["state"])
        for state in sorted({*SUBSCRIBER_STATES, *snapshot.subscribers}):
            subscribers.add_metric([state], snapshot.subscribers.get(state, 0))
        yield subscribers
        bounces = CounterMetricFamily(
            "feeds_bounce_messages", "Messages read from the bounce mailbox, by kind.",
            labels=["kind"])
        for kind in sorted({*BOUNCE_KINDS, *snapshot.bounces}):
            bounces.add_metric([kind], snapshot.bounces.get(kind, 0))
        yield bounces
        next_runs = GaugeMetricFamily("feeds_digest_next_run_timestamp_seconds",
                                      "When each digest schedule runs next (Unix time).",
                                      labels=["schedule"])
        for name, when in snapshot.next_runs.items():
            if when is not None:
                next_runs.add_metric([name], when.timestamp())
        yield next_runs
        held = self.files
        yield GaugeMetricFamily("feeds_http_memory_bytes",
                                "Public files held in memory by the server.", value=held.held)
        yield GaugeMetricFamily("feeds_http_memory_files",
                                "Public files held in memory by the server.", value=len(held))
        yield CounterMetricFamily("feeds_http_files_read",
                                  "Public files read from disk by requests.", value=held.reads)
        yield CounterMetricFamily(
            "feeds_http_files_handed",
            "New versions of files held, handed over by the publisher.", value=held.handed)
        responses = CounterMetricFamily("feeds_http_responses",
                                        "HTTP responses by status code.", labels=["code"])
        for code, n in sorted(self.responses.items()):
            responses.add_metric([str(code)], n)
        yield responses
        yield GaugeMetricFamily(
            "feeds_gc_frozen_objects", "Objects moved out of the cyclic garbage collector's "
            "reach once the daemon started (gc.freeze).", value=gc.get_freeze_count())


class HealthRoutes:
    def __init__(self, config: Config, store: Store, files: PublicFiles,
                 responses: Counter[int]) -> None:
        self.config = config
        self.store = store
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SiteCollector(self.snapshot, files, responses))
        GCCollector(registry=self.registry)  # python_gc_*: collections per generation

    def routes(self) -> list[Route]:
        return [Route("/healthz", self.healthz), Route("/metrics", self.metrics)]

    def snapshot(self) -> Snapshot:
        # no topics: /healthz and /metrics show no stranded subscribers, and a scrape should
        # not read every subscriber to find them
        return take_snapshot(self.store, self.config.paths.public,
                             next_runs=next_runs(self.config.digests, datetime.now(UTC)))

    def health(self) -> tuple[bool, dict[str, Any]]:
        try:
            snapshot = self.snapshot()
        except Exception as exc:  # any store failure is what health must report
            return False, {"status": "unhealthy", "error": f"store: {exc}"}
        return health_of(snapshot)

    async def healthz(self, request: Request) -> Response:
        healthy, data = await asyncio.get_running_loop().run_in_executor(None, self.health)
        return JSONResponse(data, status_code=200 if healthy else 503, headers=NO_STORE)

    async def metrics(self, request: Request) -> Response:
        text = await asyncio.get_running_loop().run_in_executor(
            None, generate_latest, self.registry)
        return Response(text, media_type=CONTENT_TYPE_LATEST, headers=NO_STORE)
