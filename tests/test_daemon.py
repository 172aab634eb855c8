"""`feeds run` as a subprocess: watch, publish, serve, reload, refuse a twin, stop cleanly."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from feeds.models import article_id, article_key
from tests.conftest import HARBOUR, ROOT, TWO_STORIES, Env, Process, wait_for

STORY = ("{title}\n\nDAMASCUS (Test Wire) - Officials in Syria said on Monday that talks in "
         "Damascus would resume next week. The Syrian delegation is expected on Tuesday.\n")


@pytest.fixture
def daemon(env: Env) -> Iterator[tuple[Env, Process]]:
    env.drop("first.txt", STORY.format(title="First Syria story"))
    process = Process(env, "run")
    process.wait_up()
    yield env, process
    if process.proc.poll() is None:
        process.stop()


def served(process: Process, text: str, path: str = "feeds/syria.atom") -> bool:
    response = httpx.get(process.url + path, timeout=5)
    return response.status_code == 200 and text in response.text


def test_startup_scans_publishes_and_logs_where_it_serves(daemon: tuple[Env, Process]) -> None:
    _, process = daemon
    assert served(process, "First Syria story")
    assert f"serving http://127.0.0.1:{process.port}/" in process.output()


def test_files_renamed_or_written_in_place_appear_in_the_feed(
        daemon: tuple[Env, Process]) -> None:
    env, process = daemon
    tmp = env.inbox / ".renamed.txt.part"
    tmp.write_text(STORY.format(title="Renamed into place"), encoding="utf-8")
    tmp.rename(env.inbox / "renamed.txt")
    assert wait_for(lambda: served(process, "Renamed into place"), 5), process.output()
    with open(env.inbox / "inplace.txt", "w", encoding="utf-8") as handle:
        handle.write(STORY.format(title="Written in place")[:30])
        handle.flush()
        time.sleep(0.3)
        handle.write(STORY.format(title="Written in place")[30:])
    assert wait_for(lambda: served(process, "Written in place"), 5), process.output()
    assert not served(process, "Written in p</title>")


def test_a_file_moved_in_from_another_folder_appears(daemon: tuple[Env, Process]) -> None:
    env, process = daemon
    staging = env.root / "staging"
    staging.mkdir()
    (staging / "moved.txt").write_text(STORY.format(title="Moved from staging"),
                                       encoding="utf-8")
    (staging / "moved.txt").rename(env.inbox / "moved.txt")
    assert wait_for(lambda: served(process, "Moved from staging"), 5), process.output()


def test_bad_file_shows_in_status_while_the_daemon_goes_on(daemon: tuple[Env, Process]) -> None:
    env, process = daemon
    env.drop("broken.json", "{not json")
    assert wait_for(lambda: any(f["path"] == "broken.json" for f in env.status()["failed"]), 5)
    env.drop("after.txt", STORY.format(title="After the bad file"))
    assert wait_for(lambda: served(process, "After the bad file"), 5), process.output()
    # each batch's ingest run is recorded (once its publish is done): the last one read the
    # good file
    assert wait_for(lambda: env.status()["runs"]["ingest"]["new"] == 1, 5)
    assert env.status()["runs"]["ingest"]["ok"] is True


def test_second_daemon_on_the_same_state_refuses(daemon: tuple[Env, Process]) -> None:
    env, process = daemon
    result = env.feeds("run", check=False, timeout=20)
    assert result.returncode == 1
    assert f"another feeds daemon (pid {process.proc.pid})" in result.stderr
    assert process.proc.poll() is None


def _metric(client: httpx.Client, name: str) -> float:
    return next(sample.value for family in text_string_to_metric_families(
        client.get("metrics").text) for sample in family.samples if sample.name == name)


def test_the_new_version_of_a_feed_a_reader_polls_is_handed_to_the_server(
        daemon: tuple[Env, Process]) -> None:
    """The server holds the feed a reader polls; the publisher hands it each new version as it
    is put in place (compressed and hashed on the publisher's thread), and only the files the
    server holds: the new article's page, never asked for, is not. What a reader gets is the
    file's bytes, with validators of them."""
    env, process = daemon
    with httpx.Client(base_url=process.url, timeout=5) as client:
        assert client.get("feeds/all.atom").status_code == 200  # now held
        handed = _metric(client, "feeds_http_files_handed_total")
        env.drop("second.txt", STORY.format(title="Handed over story"))
        assert wait_for(lambda: _metric(client, "feeds_http_files_handed_total") > handed, 5)
        assert _metric(client, "feeds_http_memory_files") == 1
        fresh = client.get("feeds/all.atom")
        assert "Handed over story" in fresh.text
        assert fresh.headers["content-encoding"] == "gzip"
        assert fresh.content == (env.public / "feeds" / "all.atom").read_bytes()
        again = client.get("feeds/all.atom", headers={"If-None-Match": fresh.headers["ETag"]})
        assert again.status_code == 304


def test_a_feed_never_links_to_a_page_not_yet_served(daemon: tuple[Env, Process]) -> None:
    """Readers follow an entry's link as soon as they see it: article pages are published
    before the feeds that list them. Polled like a reader (conditional GET) during a burst."""
    env, process = daemon
    for n in range(120):
        part = env.inbox / f".linked-{n}.txt.part"
        part.write_text(STORY.format(title=f"Linked story number {n}"), encoding="utf-8")
        part.rename(env.inbox / f"linked-{n}.txt")
    etag, versions, deadline = "", 0, time.monotonic() + 40
    with httpx.Client(base_url=process.url, timeout=5) as client:
        while time.monotonic() < deadline:
            feed = client.get("feeds/all.atom", headers={"If-None-Match": etag} if etag else {})
            if feed.status_code == 200:
                etag, versions = feed.headers["ETag"], versions + 1
                links = re.findall(r'<link href="[^"]+/(articles/[0-9a-f]+\.html)"', feed.text)
                for link in links:  # every page the feed names is there already
                    assert client.get(link).status_code == 200, link
                if feed.text.count("<title>Linked story number") == 50:
                    break  # the burst fills the feed (50 entries)
            time.sleep(0.002)
    assert feed.text.count("<title>Linked story number") == 50 and versions >= 2, versions


def test_what_the_running_daemon_publishes_is_what_a_full_rebuild_writes(
        daemon: tuple[Env, Process]) -> None:
    """The daemon publishes incrementally with one long-lived publisher (feed entries built
    once and reused; pages that list articles put off while files keep arriving). Files
    arriving during publishes, same-event reports and edits must still leave public/ exactly
    as `feeds publish` rebuilds it from scratch."""
    env, process = daemon
    gaza = ("{title}\n\nGAZA (Test Wire) - Mediators from Qatar and Egypt said the Gaza truce "
            "talks would resume in Cairo. Israel and Hamas sent negotiators.\n")
    for n in range(40):
        template = gaza if n % 3 == 0 else STORY
        name = f"burst-{n % 30}.txt"  # the last ten are edits of earlier files
        part = env.inbox / f".{name}.part"
        title = f"Burst story {n % 30}" + (" (updated)" if n >= 30 else "")
        part.write_text(template.format(title=title), encoding="utf-8")
        part.rename(env.inbox / name)
        time.sleep(0.004)  # files keep arriving while earlier ones are published
    for n in range(5):  # copies change nothing, so no publish follows to write what was put off
        (env.inbox / f"copy-{n}.txt").write_bytes((env.inbox / "burst-1.txt").read_bytes())
        time.sleep(0.004)

    def snapshot() -> dict[str, bytes]:
        return {str(p.relative_to(env.public)): p.read_bytes()
                for p in sorted(env.public.rglob("*")) if p.is_file()}

    assert wait_for(lambda: served(process, "Burst story 9 (updated)", "feeds/all.atom"), 20)
    settled = snapshot()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # quiet: nothing changes for a second
        time.sleep(1.0)
        now = snapshot()
        if now == settled:
            break
        settled = now
    assert process.stop() == 0
    assert "(pages pending)" in process.output()  # the burst did make publishes give way
    env.feeds("publish")
    rebuilt = snapshot()
    assert sorted(rebuilt) == sorted(settled)
    assert [name for name in rebuilt if rebuilt[name] != settled[name]] == []


def test_once_started_the_daemon_keeps_its_start_up_heap_out_of_full_collections(
        env: Env) -> None:
    """What start-up loaded is frozen (gc.freeze): a full collection no longer walks it while
    an arriving article waits; /metrics shows how much, and the collector's own counts. After
    a reload the worker thaws, collects the old services and freezes again."""
    env.drop("first.txt", STORY.format(title="First Syria story"))
    process = Process(env, "--log-level", "debug", "run")
    process.wait_up()
    try:
        with httpx.Client(base_url=process.url, timeout=5) as client:
            assert wait_for(lambda: _metric(client, "feeds_gc_frozen_objects") > 10_000, 10)
            assert _metric(client, "python_gc_collections_total") >= 1  # start-up's collect
            frozen = _metric(client, "feeds_gc_frozen_objects")
            env.drop("second.txt", STORY.format(title="Second Syria story"))
            assert wait_for(lambda: served(process, "Second Syria story"), 10)
            # frozen once, not per file (frozen objects let go of are freed as before)
            assert _metric(client, "feeds_gc_frozen_objects") <= frozen
            assert process.output().count("heap settled") == 1
            process.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: process.output().count("heap settled") == 2, 10), \
                process.output()
            assert _metric(client, "feeds_gc_frozen_objects") > 10_000
    finally:
        process.stop()


def test_the_daemon_loads_the_sentence_segmenter_before_the_first_article(env: Env) -> None:
    """Started on an empty inbox, the daemon has the segmenter (blingfire's library) loaded
    once it has settled, so the first article to arrive does not wait ~110 ms for it. A file
    in the templates folder that no page uses, and that does not compile, changes nothing."""
    templates = env.root / "my-templates"
    shutil.copytree(ROOT / "templates", templates)
    (templates / "old-notes.html").write_text("{{ unfinished", encoding="utf-8")
    process = Process(env, "--log-level", "debug", "run", paths={"templates": str(templates)})
    process.wait_up()
    try:
        assert wait_for(lambda: "heap settled" in process.output(), 10), process.output()
        maps = Path(f"/proc/{process.proc.pid}/maps").read_text()
        assert "libblingfiretokdll" in maps
        assert " ERROR " not in process.output(), process.output()
        env.drop("second.txt", STORY.format(title="Second Syria story"))
        assert wait_for(lambda: served(process, "Second Syria story"), 10), process.output()
    finally:
        process.stop()


def test_sighup_reloads_topics_and_refuses_a_bad_config(daemon: tuple[Env, Process]) -> None:
    env, process = daemon
    env.drop("harbour.txt", "Harbour reopens\n\nThe harbour reopened on Monday after the storm."
             " Ships docked at the harbour within hours.\n")
    port = process.port
    def max_age() -> str:
        return httpx.get(process.url + "feeds/syria.atom", timeout=5).headers["cache-control"]
    assert max_age() == "public, max-age=60"
    env.write_config(server={"host": "127.0.0.1", "port": port, "max_age_seconds": 300},
                     ingest={"settle_seconds": 0.0, "rescan_seconds": 3600},
                     topics={"harbour": {"title": "Harbour", "threshold": 1.0,
                                         "terms": {"harbour": 1.0}}})
    process.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: served(process, "Harbour reopens", "feeds/harbour.atom"), 10), \
        process.output()
    assert max_age() == "public, max-age=300"  # a file already served gets the new header
    env.config.write_text("[server]\nport = 'not a port'\n", encoding="utf-8")
    process.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "reload refused" in process.output(), 5)
    assert "server.port: expected an integer" in process.output()
    assert served(process, "First Syria story") and process.proc.poll() is None
    env.write_config(server={"host": "127.0.0.1", "port": port},
                     digests={"daily": {"cron": "0 25 * * *"}})  # five fields, one out of range
    process.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "digests.daily.cron: the hour field" in process.output(), 5), \
        process.output()
    assert process.output().count("reload refused") == 2
    assert httpx.get(process.url + "healthz", timeout=5).status_code == 200
    assert httpx.get(process.url + "metrics", timeout=5).status_code == 200


def test_sigterm_stops_cleanly_and_a_restart_reingests_nothing(
        daemon: tuple[Env, Process]) -> None:
    env, process = daemon
    started = time.monotonic()
    assert process.stop(signal.SIGTERM) == 0, process.output()
    assert time.monotonic() - started < 10
    output = process.output()
    for step in ("watcher", "worker", "scheduler", "http server", "store"):
        assert f"stopping: {step}" in output
    env.database_is_sound()
    before = env.sql("select id, updated from articles order by id")
    again = Process(env, "run")
    try:
        again.wait_up()
        # an ingest that changed nothing logs its line at debug only (issue 20, item 18)
        assert "startup scan finished" in again.output()
        assert "ingest finished" not in again.output(), again.output()
    finally:
        assert again.stop(signal.SIGINT) == 0
    assert env.sql("select id, updated from articles order by id") == before
    assert os.path.exists(env.state / "feeds.lock")


def test_a_burst_of_files_is_ingested_in_batches_with_few_publishes(
        daemon: tuple[Env, Process]) -> None:
    env, process = daemon
    before = process.output().count("publish finished")
    for n in range(300):
        part = env.inbox / f".burst-{n}.txt.part"
        part.write_text(STORY.format(title=f"Burst story number {n}"), encoding="utf-8")
        part.rename(env.inbox / f"burst-{n}.txt")
    assert wait_for(lambda: env.status()["counts"]["articles"] == 301, 30), process.output()
    page = f"articles/{article_id(article_key('burst-299.txt', 0))}.html"
    assert wait_for(lambda: served(process, "Burst story number 299", page), 10)
    # the page is served as soon as its file is written; the log line follows the run record
    def publishes() -> int:
        return process.output().count("publish finished") - before
    assert wait_for(lambda: publishes() >= 1, 10), process.output()
    assert publishes() <= 15, publishes()


def test_a_story_dropped_from_a_file_leaves_the_served_feed(
        daemon: tuple[Env, Process]) -> None:
    env, process = daemon
    path = env.drop("pair.txt", TWO_STORIES)
    page = f"articles/{article_id(article_key('pair.txt', 1))}.html"
    assert wait_for(lambda: served(process, "Airport terminal plan", "feeds/all.atom"), 10)
    assert wait_for(lambda: served(process, "Airport terminal plan", page), 10)
    path.write_text(HARBOUR, encoding="utf-8")  # its first story is unchanged
    assert wait_for(lambda: not served(process, "Airport terminal plan", "feeds/all.atom"), 10)
    assert served(process, "Harbour reopens", "feeds/all.atom")
    # its page goes too: a reader following an old link gets 404, not the dropped story
    assert wait_for(lambda: httpx.get(process.url + page, timeout=5).status_code == 404, 10)


def test_articles_stored_and_never_published_are_published_by_the_next_rescan(
        env: Env) -> None:
    """Another process stored articles and stopped before publishing them (killed, or
    `--no-publish`; in a cluster, a daemon killed between a batch and its publish): the
    running daemon's rescan finds their missing pages and publishes them."""
    env.drop("first.txt", STORY.format(title="First Syria story"))
    process = Process(env, "run", ingest={"rescan_seconds": 1.0})
    process.wait_up()
    try:
        outside = env.root / "elsewhere"
        outside.mkdir()
        late = outside / "late.txt"
        late.write_text(STORY.format(title="Stored elsewhere, never published"),
                        encoding="utf-8")
        env.feeds("ingest", "--no-publish", str(late))  # outside the inbox the daemon watches
        page = f"articles/{article_id(article_key(late.as_posix(), 0))}.html"
        assert wait_for(lambda: served(process, "Stored elsewhere, never published"), 15), \
            process.output()[-3000:]
        assert served(process, "Stored elsewhere, never published", page)
        assert "publishing articles stored and never published count=1" in process.output()
    finally:
        process.stop()
