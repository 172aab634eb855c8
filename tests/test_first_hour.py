"""What an admin trips over in the first hour (issue 20, items 2, 3, 4, 5, 8, 9, 10, 11, 18),
each through the console script, HTTP or the files it writes."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from typing import Any

import httpx

from tests.conftest import FEEDS_BIN, HARBOUR, Env, Process, free_port, wait_for

SYRIA = ("Talks resume in Damascus\n\nDAMASCUS (Test Wire) - Officials in Syria said on Monday "
         "that talks in Damascus would resume next week.\n")
HARBOUR_ONLY = "---\ntitle: Harbour reopens\ntopics: [syria]\n---\n" + HARBOUR.split("\n\n", 1)[1]


def _config_without_base_url(env: Env, **extra: Any) -> None:
    """The repository's config.toml names base_url; a new site's may leave it out."""
    env.write_config(**extra)
    text = env.config.read_text(encoding="utf-8")
    env.config.write_text("\n".join(line for line in text.splitlines()
                                    if not line.startswith('"base_url"')) + "\n",
                          encoding="utf-8")


# --- item 2: a taken port -----------------------------------------------------------------
def test_a_taken_port_is_refused_in_one_line_before_the_startup_scan(env: Env) -> None:
    env.drop("first.txt", SYRIA)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env.write_config(server={"host": "127.0.0.1", "port": port})
        result = env.feeds("run", check=False, timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == (f"feeds: cannot listen on 127.0.0.1:{port} (server.host:port): the "
                        "address is already in use"), result.stderr
    assert lines[1].startswith("hint: ") and "server.port" in lines[1]
    assert len(lines) == 2 and "Traceback" not in result.stderr
    assert not (env.public / "index.html").exists()  # nothing scanned, nothing published


def test_serve_refuses_a_taken_port_the_same_way(env: Env) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = env.feeds("serve", "--port", str(port), check=False, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith(f"feeds: cannot listen on 127.0.0.1:{port}"), result.stderr
    assert "Traceback" not in result.stderr


# --- item 3: base_url follows the server, a reload says what needs a restart ---------------
def test_links_follow_server_port_when_base_url_is_not_set(env: Env) -> None:
    env.drop("first.txt", SYRIA)
    _config_without_base_url(env, server={"port": 9137})
    env.feeds("ingest")
    feed = (env.public / "feeds" / "all.atom").read_text(encoding="utf-8")
    assert 'href="http://127.0.0.1:9137/articles/' in feed and ":8080/" not in feed


def test_a_base_url_naming_another_local_port_is_warned_at_start(env: Env) -> None:
    env.drop("first.txt", SYRIA)
    process = Process(env, "run")  # config.toml's base_url names 8080; the port is free_port()
    try:
        process.wait_up()
        assert f"names port 8080, but server.port is {process.port}" in process.output()
    finally:
        process.stop()


def test_serve_on_another_port_says_the_published_links_name_the_configured_one(
        env: Env) -> None:
    env.drop("first.txt", SYRIA)
    configured = free_port()
    _config_without_base_url(env, server={"host": "127.0.0.1", "port": configured})
    env.feeds("ingest")
    port = free_port()
    log = env.root / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([FEEDS_BIN, "--config", str(env.config), "serve", "--port",
                                 str(port)], stdout=out, stderr=subprocess.STDOUT, cwd=env.root)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert wait_for(lambda: _answers(url + "healthz"), 20), log.read_text()
        said = log.read_text(encoding="utf-8")
        assert (f"the pages in public/ link to http://127.0.0.1:{configured}/ (server.port "
                f"{configured}), not to this server's port; set server.port = {port}") in said
        form = httpx.get(url + "subscribe", timeout=5).text  # a page made now names this port
        assert f"127.0.0.1:{port}/" in form and f":{configured}/" not in form
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_reload_says_which_changes_need_a_restart(env: Env) -> None:
    env.drop("first.txt", SYRIA)
    _config_without_base_url(env)
    process = Process(env, "run")
    try:
        process.wait_up()
        _config_without_base_url(env, server={"host": "127.0.0.1", "port": free_port()},
                                 ingest={"settle_seconds": 0.0, "rescan_seconds": 3600},
                                 paths={"public": "elsewhere"})
        process.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "configuration reloaded" in process.output(), 10)
        output = process.output()
        for key in ("server.port", "paths.public"):
            assert f"needs a restart; until then the old value stays key={key}" in output, output
        page = httpx.get(process.url + "feeds/all.atom", timeout=5)  # same port, same links
        assert page.status_code == 200 and f"127.0.0.1:{process.port}/articles/" in page.text
    finally:
        process.stop()


# --- item 4: a missing inbox --------------------------------------------------------------
def test_the_daemon_refuses_a_missing_inbox_as_ingest_does(env: Env) -> None:
    env.write_config(paths={"inbox": "inbxo"}, server={"port": free_port()})
    started = time.monotonic()
    result = env.feeds("run", check=False, timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines()[0] == f"feeds: the inbox {env.root / 'inbxo'} does not exist"
    assert "hint: create it, or set paths.inbox" in result.stderr
    assert not (env.root / "inbxo").exists() and time.monotonic() - started < 30
    assert env.feeds("ingest", check=False).stderr == result.stderr


# --- item 5: failures of deleted files ------------------------------------------------------
def test_a_deleted_failed_file_is_forgotten_by_the_next_scan(env: Env) -> None:
    env.drop("good.txt", SYRIA)
    broken = env.drop("broken.json", "{not json")
    env.feeds("ingest")
    assert [f["path"] for f in env.status()["failed"]] == ["broken.json"]
    broken.unlink()
    env.feeds("ingest")
    status = env.status()
    assert status["failed"] == [] and status["counts"]["files_failed"] == 0
    assert status["counts"]["files_ok"] == 1  # a deleted good file's record stays (and its article)


def test_healthz_and_metrics_stop_counting_a_deleted_failed_file(env: Env) -> None:
    env.drop("good.txt", SYRIA)
    broken = env.drop("broken.json", "{not json")
    process = Process(env, "run", ingest={"rescan_seconds": 0.5})
    try:
        process.wait_up()
        assert httpx.get(process.url + "healthz", timeout=5).json()["failed_files"] == 1
        broken.unlink()
        assert wait_for(lambda: httpx.get(process.url + "healthz", timeout=5)
                        .json()["failed_files"] == 0, 15), process.output()
        metrics = httpx.get(process.url + "metrics", timeout=5).text
        assert 'feeds_files{status="failed"} 0.0' in metrics
    finally:
        process.stop()


# --- item 8: explain applies ingest's limits ------------------------------------------------
def test_explain_refuses_a_file_over_max_bytes_as_ingest_does(env: Env) -> None:
    env.write_config(ingest={"max_bytes": 100})
    big = env.drop("big.txt", SYRIA * 3)
    [result] = env.explain(big)
    assert result["articles"] == []
    assert result["error"].startswith("too large: ") and "(ingest.max_bytes)" in result["error"]
    ingest = env.feeds("ingest").stdout
    assert f"failed: big.txt: {result['error']}" in ingest


# --- item 9: unknown keys suggest the closest known one -------------------------------------
def test_unknown_config_keys_suggest_the_closest_known_key(env: Env) -> None:
    cases = {
        "[server]\nprot = 8080\n": "config.toml: server.prot: unknown key; did you mean port?",
        "[sever]\nport = 8080\n": "config.toml: sever: unknown key; did you mean server?",
        "[topics.syria]\ntitle = 'Syria'\nterm = {syria = 1.0}\n":
            "config.toml: topics.syria.term: unknown key; did you mean terms?",
        "[smtp]\nhost = 'mail'\npasword_env = 'X'\n":
            "config.toml: smtp.pasword_env: unknown key; did you mean password_env?",
        "[server]\nzzz = 1\n": "config.toml: server.zzz: unknown key",
    }
    for text, message in cases.items():
        env.config.write_text(text, encoding="utf-8")
        result = env.feeds("status", check=False)
        assert result.returncode == 2
        assert result.stderr.splitlines()[0] == f"feeds: {message}", (text, result.stderr)


# --- item 10: topics named in front matter ---------------------------------------------------
def test_an_unknown_front_matter_topic_is_warned_and_listed_in_status(env: Env) -> None:
    env.drop("named.md", "---\ntitle: Talks resume\ntopics: [syira]\n---\n"
             + SYRIA.split("\n\n", 1)[1])
    result = env.feeds("ingest")
    assert "front matter names an unknown topic path=named.md" in result.stderr
    [warning] = env.status()["warnings"]
    assert warning["path"] == "named.md"
    assert "unknown topic 'syira' (did you mean syria?)" in warning["reason"]
    assert "  named.md: front matter names unknown topic 'syira'" in env.feeds("status").stdout
    [explained] = env.explain(env.inbox / "named.md")
    assert any("'syira'" in note for note in explained["articles"][0]["notes"])


def test_explain_marks_a_topic_named_in_front_matter(env: Env) -> None:
    path = env.drop("harbour.md", HARBOUR_ONLY)
    out = env.feeds("explain", str(path)).stdout
    [line] = [line for line in out.splitlines() if line.strip().startswith("topic + syria")]
    assert "named in the article's front matter" in line, out
    [explained] = env.explain(path)
    [syria] = [t for t in explained["articles"][0]["scores"] if t["slug"] == "syria"]
    assert syria["evidence"][0] == "named in the article's front matter"


# --- item 11: files of types ingest does not read ---------------------------------------------
def test_unsupported_files_are_listed_as_skipped_with_the_reason(env: Env) -> None:
    env.drop("good.txt", SYRIA)
    rtf = env.drop("memo.rtf", "{\\rtf1 hello}")
    env.drop("NOTES", "no extension")
    env.drop(".hidden.docx", "x")
    env.drop("draft.txt.part", "x")
    env.drop("sub/letter.docx", "x")
    env.feeds("ingest")
    status = env.status()
    reasons = {f["path"]: f["reason"] for f in status["skipped"]}
    assert sorted(reasons) == ["NOTES", "memo.rtf", "sub/letter.docx"]
    # the reason `feeds ingest FILE` and `feeds explain FILE` give
    assert env.explain(rtf)[0]["error"] == reasons["memo.rtf"]
    assert reasons["NOTES"].startswith("unsupported file type (none); expected one of ")
    assert "skipped files: 3" in env.feeds("status").stdout
    assert status["failed"] == [] and status["counts"]["files_failed"] == 0


def test_a_skipped_file_removed_leaves_the_list(env: Env) -> None:
    env.drop("good.txt", SYRIA)
    rtf = env.drop("memo.rtf", "{\\rtf1 hello}")
    env.feeds("ingest")
    assert [f["path"] for f in env.status()["skipped"]] == ["memo.rtf"]
    rtf.unlink()
    env.feeds("ingest")
    assert env.status()["skipped"] == []


# --- item 18: log noise ------------------------------------------------------------------------
def test_a_rescan_that_finds_nothing_logs_nothing_at_info(env: Env) -> None:
    env.drop("good.txt", SYRIA)
    first = env.feeds("--log-level", "info", "ingest", "--no-publish")
    assert "ingest finished new=1" in first.stderr
    again = env.feeds("--log-level", "info", "ingest", "--no-publish")
    assert "ingest finished" not in again.stderr, again.stderr
    debug = env.feeds("--log-level", "debug", "ingest", "--no-publish")
    assert "ingest finished new=0" in debug.stderr
