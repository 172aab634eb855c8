"""`feeds serve` over real HTTP on loopback: what polling feed readers rely on."""

from __future__ import annotations

import gzip
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, Env, Process

ATOM = "feeds/syria.atom"


def sample_value(metrics: str, name: str) -> float:
    """A sample's value, read the way a Prometheus scraper reads the text."""
    values = [sample.value for family in text_string_to_metric_families(metrics)
              for sample in family.samples if sample.name == name]
    assert len(values) == 1, (name, values)
    return values[0]


@pytest.fixture
def server(env: Env) -> Iterator[tuple[Env, Process, httpx.Client]]:
    for path in (ROOT / "samples" / "inbox").iterdir():
        shutil.copy2(path, env.inbox / path.name)
    env.feeds("ingest")
    process = Process(env, "serve")
    process.wait_up()
    with httpx.Client(base_url=process.url, timeout=5) as client:
        yield env, process, client
    assert process.stop() == 0, process.output()


def test_content_types_and_cache_headers(server: tuple[Env, Process, httpx.Client]) -> None:
    _, _, client = server
    expected = {ATOM: "application/atom+xml", "feeds/syria.json": "application/feed+json",
                "feeds.opml": "text/x-opml", "index.html": "text/html; charset=utf-8",
                "": "text/html; charset=utf-8", "topics/gaza.html": "text/html; charset=utf-8"}
    for path, content_type in expected.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == content_type
        assert response.headers["etag"].startswith('"')
        assert response.headers["last-modified"].endswith("GMT")
        assert "max-age=60" in response.headers["cache-control"]


def test_conditional_get_gives_304_and_never_a_false_one(
        server: tuple[Env, Process, httpx.Client]) -> None:
    env, _, client = server
    first = client.get(ATOM)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    again = client.get(ATOM)
    assert (again.headers["etag"], again.headers["last-modified"]) == (etag, modified)
    assert again.content == first.content
    not_modified = client.get(ATOM, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert client.get(ATOM, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(ATOM, headers={"If-None-Match": '"stale"'}).status_code == 200
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get(ATOM, headers={"If-Modified-Since": old}).status_code == 200
    # a change moves both validators at once
    time.sleep(1.1)
    env.drop("late.txt", "Late Syria news\n\nOfficials in Damascus said Syria would hold talks."
             "\n\nThe Syrian delegation arrived on Monday.\n")
    env.feeds("ingest")
    changed = client.get(ATOM, headers={"If-None-Match": etag, "If-Modified-Since": modified})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag and changed.headers["last-modified"] != modified
    assert b"Late Syria news" in changed.content


def test_gzip_when_asked_with_vary(server: tuple[Env, Process, httpx.Client]) -> None:
    _, _, client = server
    plain = client.get(ATOM, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    with client.stream("GET", ATOM, headers={"Accept-Encoding": "gzip"}) as packed:
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.headers["vary"] == "Accept-Encoding"
        raw = b"".join(packed.iter_raw())
    assert gzip.decompress(raw) == plain.content and len(raw) < len(plain.content)
    etag = packed.headers["etag"]
    assert client.get(ATOM, headers={"If-None-Match": etag,
                                     "Accept-Encoding": "gzip"}).status_code == 304


def test_head_has_headers_and_no_body(server: tuple[Env, Process, httpx.Client]) -> None:
    _, _, client = server
    head = client.head(ATOM)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "application/atom+xml"
    assert head.headers["etag"] == client.get(ATOM).headers["etag"]


@pytest.mark.parametrize("path", [
    "/../config.toml", "/%2e%2e/config.toml", "/feeds/..%2f..%2fconfig.toml",
    "/feeds/%2e%2e/%2e%2e/state/feeds.db", "/..%5cconfig.toml", "/nothing-here.html",
    "/feeds/", "/%00", "/.hidden", "/feeds/.syria.atom.tmp",
])
def test_nothing_outside_public_is_reachable(server: tuple[Env, Process, httpx.Client],
                                             path: str) -> None:
    env, process, _ = server
    (env.public / "feeds" / ".syria.atom.tmp").write_text("partial")
    (env.public / ".hidden").write_text("secret")
    response = httpx.get(process.url.rstrip("/") + path, timeout=5)
    assert response.status_code in (400, 404)
    assert b"[paths]" not in response.content and b"secret" not in response.content


def test_404_is_a_page(server: tuple[Env, Process, httpx.Client]) -> None:
    _, _, client = server
    response = client.get("missing.html")
    assert response.status_code == 404 and b"Not found" in response.content


def test_a_public_file_takes_only_get_and_head(server: tuple[Env, Process, httpx.Client]) -> None:
    _, _, client = server
    for method in ("POST", "PUT", "DELETE"):
        response = client.request(method, ATOM, content=b"x")
        assert response.status_code == 405, method
        assert response.headers["allow"] == "GET, HEAD"
    assert client.get(ATOM).status_code == 200
    plain = {"Accept-Encoding": "identity"}
    head = client.head(ATOM, headers=plain)
    assert int(head.headers["content-length"]) == len(client.get(ATOM, headers=plain).content)


def test_a_served_file_that_changes_or_goes_is_seen_on_the_next_request(
        server: tuple[Env, Process, httpx.Client]) -> None:
    env, _, client = server
    target = env.public / "feeds.opml"
    first = client.get("feeds.opml")
    assert first.status_code == 200 and client.get("feeds.opml").content == first.content
    changed = b'<?xml version="1.0"?>\n<opml version="2.0"><head/><body/></opml>\n'
    target.write_bytes(changed)  # in place: same inode, new size and mtime
    response = client.get("feeds.opml")
    assert response.content == changed and response.headers["etag"] != first.headers["etag"]
    target.unlink()
    assert client.get("feeds.opml").status_code == 404
    # another spelling of a served path is the same file
    assert client.get("/feeds//syria.atom").content == client.get(ATOM).content


def test_requests_of_one_event_loop_pass_share_one_check_of_the_file(tmp_path: Path) -> None:
    """Under load the requests a pass of the event loop reads share one stat(); the next pass
    checks again, so a change is still seen by the next request a client sends."""
    from feeds.web import PublicFiles

    (tmp_path / "feed.atom").write_bytes(b"<feed>one</feed>")
    files = PublicFiles(tmp_path)
    first = files.get("/feed.atom", tick=1)
    assert first is not None and first.body == b"<feed>one</feed>"
    (tmp_path / "feed.atom").write_bytes(b"<feed>two, longer</feed>")
    same_pass = files.get("/feed.atom", tick=1)
    assert same_pass is first  # no second stat() in the same pass
    next_pass = files.get("/feed.atom", tick=2)
    assert next_pass is not None and next_pass.body == b"<feed>two, longer</feed>"
    (tmp_path / "feed.atom").unlink()
    assert files.get("/feed.atom", tick=3) is None
    assert files.get("/feed.atom") is None  # no tick: always checked


def test_healthz_and_metrics(server: tuple[Env, Process, httpx.Client]) -> None:
    _, _, client = server
    health = client.get("healthz")
    assert health.status_code == 200
    data = health.json()
    assert data["status"] == "ok" and data["counts"]["articles"] == 9
    assert data["last_ingest"] and data["last_publish"] and data["failed_files"] == 0
    client.get(ATOM)
    metrics = client.get("metrics").text
    assert "feeds_articles 9" in metrics
    assert 'feeds_files{status="ok"} 8' in metrics
    assert 'feeds_http_responses_total{code="200"}' in metrics
    assert "feeds_publish_duration_seconds" in metrics


def test_the_server_holds_at_most_memory_mb_of_files(env: Env) -> None:
    """Past server.memory_mb, the files served least recently are let go (and read again when
    asked for): serving every page of a big archive does not grow the daemon without end."""
    for path in (ROOT / "samples" / "inbox").iterdir():
        shutil.copy2(path, env.inbox / path.name)
    env.feeds("ingest")
    bulk = env.public / "bulk"
    bulk.mkdir()
    bodies = {f"bulk/{n}.bin": os.urandom(100_000) for n in range(40)}  # 4 MB, incompressible
    for name, body in bodies.items():
        (env.public / name).write_bytes(body)
    process = Process(env, "serve", server={"memory_mb": 1})
    try:
        process.wait_up()
        with httpx.Client(base_url=process.url, timeout=5) as client:
            for _ in range(2):
                for name, body in bodies.items():
                    assert client.get(name).content == body
            (env.public / "bulk/0.bin").write_bytes(b"changed")  # let go long ago: read anew
            assert client.get("bulk/0.bin").content == b"changed"
            metrics = client.get("metrics").text
        held, files = (int(sample_value(metrics, name))
                       for name in ("feeds_http_memory_bytes", "feeds_http_memory_files"))
        assert 0 < held <= 1 << 20 and 1 <= files <= 11, (held, files)
    finally:
        assert process.stop() == 0, process.output()


def test_healthz_is_503_before_anything_is_published(env: Env) -> None:
    process = Process(env, "serve")
    try:
        process.wait_up()
        response = httpx.get(process.url + "healthz", timeout=5)
        assert response.status_code == 503 and response.json()["status"] == "unhealthy"
    finally:
        process.stop()
