"""WebSub: feeds name the hub, and a publish that changes a feed pings it (with retries)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import feedparser
import pytest

from tests.conftest import Env, wait_for

STORY = ("Damascus talks resume\n\nDAMASCUS (Wire) - Syrian officials said on Monday that talks "
         "in Damascus on Syria's constitution would resume next week.\n")


class Hub:
    def __init__(self) -> None:
        self.pings: list[dict[str, list[str]]] = []
        self.fail_next = 1
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                if hub.fail_next:
                    hub.fail_next -= 1
                    self.send_response(500)
                else:
                    hub.pings.append(form)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[Hub]:
    server = Hub()
    yield server
    server.close()


def test_changed_feeds_are_announced_to_the_hub(env: Env, hub: Hub) -> None:
    env.write_config(websub={"hub": hub.url}, ingest={"settle_seconds": 0.0})
    env.drop("a.txt", STORY)
    env.feeds("ingest")
    feed = feedparser.parse((env.public / "feeds" / "syria.atom").read_bytes())
    assert {link.rel: link.href for link in feed.feed.links}["hub"] == hub.url
    assert wait_for(lambda: len(hub.pings) == 4, 10)  # the first answer was a 500: retried
    urls = sorted(p["hub.url"][0] for p in hub.pings)
    assert all(p["hub.mode"] == ["publish"] for p in hub.pings)
    assert urls == sorted(f"http://127.0.0.1:8080/feeds/{s}.atom"
                          for s in ("all", "gaza", "syria", "ukraine-mediation"))
    hub.pings.clear()
    env.drop("b.txt", STORY.replace("talks resume", "talks resume again"))
    env.feeds("ingest")
    assert wait_for(lambda: len(hub.pings) == 2, 10)
    assert sorted(p["hub.url"][0] for p in hub.pings) == [
        "http://127.0.0.1:8080/feeds/all.atom", "http://127.0.0.1:8080/feeds/syria.atom"]
    hub.pings.clear()
    env.feeds("publish")  # nothing changed: no ping
    assert hub.pings == []


def test_an_unreachable_hub_never_blocks_publishing(env: Env) -> None:
    env.write_config(websub={"hub": "http://127.0.0.1:9/hub"}, ingest={"settle_seconds": 0.0})
    env.drop("a.txt", STORY)
    result = env.feeds("ingest", timeout=60)
    assert "1 new" in result.stdout
    assert "websub ping failed" in result.stderr
    assert (env.public / "feeds" / "syria.atom").exists()
