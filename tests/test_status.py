"""One snapshot behind `feeds status`, /healthz and /metrics: the three agree."""

from __future__ import annotations

import shutil

import httpx
from prometheus_client.parser import text_string_to_metric_families

from feeds.config import load_config
from feeds.status import status_lines, take_snapshot
from feeds.store import Store
from tests.conftest import ROOT, Env, Process


def samples(metrics: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(metrics) for s in family.samples}


def test_status_healthz_and_metrics_show_the_same_installation(env: Env) -> None:
    for path in (ROOT / "samples" / "inbox").iterdir():
        shutil.copy2(path, env.inbox / path.name)
    env.drop("broken.json", "{not json")
    env.feeds("ingest")
    for address in ("ann@example.org", "bob@example.org", "cy@example.org"):
        env.feeds("subscribers", "add", address, "--topics", "syria")
    store = Store.for_config(load_config(env.config))
    try:
        assert store.set_subscriber_status("cy@example.org", "unsubscribed")
    finally:
        store.close()
    status = env.status()
    assert status["counts"]["articles"] == 9 and status["pending_deliveries"] == 0
    assert [f["path"] for f in status["failed"]] == ["broken.json"]
    assert status["subscribers"] == {"active": 2, "unsubscribed": 1}
    text = env.feeds("status").stdout
    assert "subscribers: 2 active, 1 unsubscribed" in text and "failed files: 1" in text
    process = Process(env, "serve")
    try:
        process.wait_up()
        health = httpx.get(process.url + "healthz", timeout=5).json()
        metrics = samples(httpx.get(process.url + "metrics", timeout=5).text)
    finally:
        assert process.stop() == 0, process.output()
    assert health["counts"] == status["counts"]
    assert health["failed_files"] == len(status["failed"])
    assert health["pending_deliveries"] == status["pending_deliveries"]
    assert metrics[("feeds_articles", ())] == status["counts"]["articles"]
    assert metrics[("feeds_files", (("status", "failed"),))] == 1
    assert metrics[("feeds_subscribers", (("state", "active"),))] == 2
    assert metrics[("feeds_subscribers", (("state", "unsubscribed"),))] == 1
    for key, value in status["counts"].items():
        if key.startswith("topic:"):
            assert metrics[("feeds_topic_articles", (("topic", key[6:]),))] == value


def test_a_new_installation_is_unpublished_with_nothing_run(env: Env) -> None:
    config = load_config(env.config)
    store = Store.for_config(config)
    try:
        snapshot = take_snapshot(store, config.paths.public)
    finally:
        store.close()
    assert not snapshot.published and snapshot.runs == {} and snapshot.failed == []
    assert snapshot.pending_deliveries == 0 and snapshot.subscribers == {}
    lines = status_lines(snapshot)
    assert "last ingest: never" in lines and "subscribers: none" in lines
