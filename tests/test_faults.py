"""Faults and hostile clients: a locked database, a full disk, oversized and slow requests,
and pollers hammering the server during a backfill. Nothing is lost, nothing stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import feedparser
import httpx
import pytest

from feeds.models import article_id, article_key
from feeds.tokens import sign
from tests.conftest import FEEDS_BIN, Env, Process, SMTPRecorder, sqlite_only, wait_for

STORY = ("{title}\n\nDAMASCUS (Wire) - Negotiators met in Damascus on Monday as talks on "
         "Syria's new constitution resumed. Officials said aid convoys had reached {n} "
         "families in the north of Syria.\n")


def drop_stories(env: Env, names: range, prefix: str = "story") -> None:
    for n in names:
        part = env.inbox / f".{prefix}-{n}.part"
        part.write_text(STORY.format(title=f"{prefix.title()} number {n}", n=n + 2),
                        encoding="utf-8")
        part.rename(env.inbox / f"{prefix}-{n}.txt")


@contextmanager
def write_lock(database: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holding a write transaction on the database for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "db.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "time.sleep(float(sys.argv[2]))\n"
         "db.execute('COMMIT')\n",
         str(database), str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.wait(seconds + 10)
        if holder.stdout is not None:
            holder.stdout.close()


def sound_articles(env: Env) -> int:
    env.database_is_sound()
    return int(env.sql("select count(*) from articles")[0][0])


def test_a_locked_database_is_waited_for_then_reported_and_nothing_is_lost(env: Env) -> None:
    sqlite_only()  # the lock is taken with sqlite3; PostgreSQL waits on row locks instead
    drop_stories(env, range(2))
    env.feeds("ingest")
    # held briefly: the writer waits for the lock and carries on
    drop_stories(env, range(2, 5))
    with write_lock(env.state / "feeds.db", 1.5):
        started = time.monotonic()
        env.feeds("ingest")
        assert time.monotonic() - started >= 1.0  # it really waited
    assert sound_articles(env) == 5
    # held past store.busy_timeout_seconds: a clear message, no traceback, nothing half-done
    env.write_config(store={"busy_timeout_seconds": 0.5})
    drop_stories(env, range(5, 8))
    with write_lock(env.state / "feeds.db", 4):
        result = env.feeds("ingest", check=False)
    assert result.returncode == 1
    assert "feeds: the database is unavailable: database is locked" in result.stderr
    assert "Traceback" not in result.stderr
    assert sound_articles(env) == 5
    env.feeds("ingest")  # once the lock is gone, the same command picks everything up
    assert sound_articles(env) == 8
    titles = {e.title for e in feedparser.parse(env.public / "feeds" / "all.atom").entries}
    assert {f"Story number {n}" for n in range(8)} <= titles


def test_a_database_locked_while_digests_go_out_stops_the_run_and_loses_nothing(
        env: Env, smtp: SMTPRecorder) -> None:
    """Marking deliveries sent meets the lock past store.busy_timeout_seconds: the run stops
    with a clear message, the next one sends the rest, and only the messages the server had
    accepted without their mark (at most one per connection) went twice."""
    sqlite_only()
    connections = 2
    env.write_config(smtp={"host": "127.0.0.1", "port": smtp.port, "security": "none",
                           "connections": connections},
                     store={"busy_timeout_seconds": 0.5}, ingest={"settle_seconds": 0.0})
    readers = [f"reader{n}@example.org" for n in range(30)]
    (env.root / "readers.csv").write_text("".join(f"{r},syria\n" for r in readers),
                                          encoding="utf-8")
    env.feeds("subscribers", "import", str(env.root / "readers.csv"))
    drop_stories(env, range(3))
    env.feeds("ingest")
    smtp.block = lambda: time.sleep(0.05)
    sending = subprocess.Popen([FEEDS_BIN, "--config", str(env.config), "digest", "send", "--all"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: len(smtp.recipients) >= 4, 20)
    with write_lock(env.state / "feeds.db", 3):
        _out, err = sending.communicate(timeout=20)
    assert sending.returncode == 1
    assert "feeds: the database is unavailable: database is locked" in err
    assert "Traceback" not in err
    stopped_at = len(smtp.recipients)
    assert stopped_at < len(readers)
    smtp.block = None
    env.feeds("digest", "send", "--all")
    counts = {r: smtp.recipients.count(r) for r in readers}
    assert min(counts.values()) == 1
    assert sum(c - 1 for c in counts.values()) <= connections, counts
    assert env.sql("select count(*) from deliveries where status != 'sent'") == [(0,)]


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_keeps_the_served_feeds_and_publishes_once_there_is_room(
        env: Env) -> None:
    drop_stories(env, range(3))
    with small_disk(env.public, "2m"):
        process = Process(env, "run", ingest={"settle_seconds": 0.0, "rescan_seconds": 1.0})
        try:
            process.wait_up()
            served = f"{process.url}feeds/all.atom"
            assert wait_for(lambda: "Story number 2" in httpx.get(served).text, 10)
            filler = env.public / "filler"
            with open(filler, "wb", buffering=0) as handle:  # take every free block
                try:
                    while handle.write(b"\0" * 4096):
                        pass
                except OSError:
                    pass
            drop_stories(env, range(3, 4), prefix="late")
            assert wait_for(lambda: "No space left on device" in process.output(), 10), \
                process.output()
            # what was published before stays whole and served
            before = feedparser.parse(httpx.get(served).content)
            assert not before.bozo and "Story number 2" in {e.title for e in before.entries}
            assert "Late number 3" not in {e.title for e in before.entries}
            filler.unlink()
            # the next rescan owes a full publish, and now there is room
            assert wait_for(lambda: "Late number 3" in httpx.get(served).text, 10), \
                process.output()
            after = feedparser.parse(httpx.get(served).content)
            assert not after.bozo
            page = next(e.link for e in after.entries if e.title == "Late number 3")
            page = process.url + "articles/" + page.rpartition("/articles/")[2]
            assert httpx.get(page).status_code == 200
        finally:
            assert process.stop() == 0, process.output()


@pytest.fixture
def server(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Process]:
    monkeypatch.setenv("FEEDS_SECRET", "a-test-secret")
    drop_stories(env, range(3))
    env.feeds("ingest")
    env.feeds("subscribers", "add", "reader@example.org", "--topics", "syria")
    process = Process(env, "serve", server={"idle_timeout_seconds": 1.0,
                                            "body_timeout_seconds": 1.0})
    process.wait_up()
    yield process
    assert process.stop() == 0, process.output()


def raw(port: int, request: bytes, timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        return data


def test_oversized_requests_are_refused_and_the_server_goes_on(server: Process) -> None:
    huge_header = b"GET /feeds/syria.atom HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + \
        b"\r\n\r\n"
    reply = raw(server.port, huge_header)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:80]
    long_line = b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert raw(server.port, long_line).startswith(b"HTTP/1.1 414 ")
    many = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
        f"X-H{n}: v\r\n".encode() for n in range(1000)) + b"\r\n"
    assert raw(server.port, many).startswith(b"HTTP/1.1 431 ")
    # ordinary requests on the same server are answered as before
    assert raw(server.port, b"GET /feeds/syria.atom HTTP/1.1\r\nHost: x\r\n"
               b"Connection: close\r\n\r\n").startswith(b"HTTP/1.1 200 ")
    token = sign(b"a-test-secret", "reader@example.org")
    big_form = httpx.post(f"{server.url}unsubscribe/{token}", content=b"a=" + b"b" * 200_000,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert big_form.status_code == 413
    assert httpx.get(server.url + "feeds/syria.atom").status_code == 200
    # the refused form did not unsubscribe anyone
    assert "reader@example.org\tdaily\tactive" in server.env.feeds("subscribers", "list").stdout
    assert server.proc.poll() is None


def trickle(port: int, payload: bytes, closed: list[float], started: float) -> None:
    """Send one byte every 0.2 s until the server hangs up; note when it did."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        try:
            for byte in payload:
                conn.sendall(bytes([byte]))
                time.sleep(0.2)
                conn.setblocking(False)
                try:
                    if conn.recv(1024) == b"":
                        break
                except BlockingIOError:
                    pass
                finally:
                    conn.setblocking(True)
        except OSError:
            pass  # reset by the server
        closed.append(time.monotonic() - started)


def test_slow_clients_are_cut_off_and_do_not_hold_up_others(server: Process) -> None:
    payload = b"GET /feeds/syria.atom HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 200
    closed: list[float] = []
    started = time.monotonic()
    threads = [threading.Thread(target=trickle, args=(server.port, payload, closed, started))
               for _ in range(40)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    for _ in range(20):  # an ordinary reader is served promptly all the while
        began = time.monotonic()
        assert httpx.get(server.url + "feeds/syria.atom", timeout=2).status_code == 200
        assert time.monotonic() - began < 1.0
    for thread in threads:
        thread.join(15)
    # every slow client was hung up on near idle_timeout_seconds (1 s), long before it was done
    assert len(closed) == 40 and max(closed) < 5, closed
    # a form body that never finishes arriving gets 408 after body_timeout_seconds
    token = sign(b"a-test-secret", "reader@example.org")
    head = (f"POST /unsubscribe/{token} HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
            "List-Unsubscribe=One").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(head)
        began = time.monotonic()
        reply = conn.recv(65536)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:80]
    assert time.monotonic() - began < 5


def poll(url: str, stop: threading.Event, errors: list[str], counts: list[int],
         slowest: list[float]) -> None:
    etag = None
    done = 0
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            began = time.monotonic()
            try:
                response = client.get(url, headers={"If-None-Match": etag} if etag else {})
            except httpx.HTTPError as exc:
                errors.append(repr(exc))
                continue
            slowest.append(time.monotonic() - began)
            if response.status_code == 200:
                etag = response.headers["etag"]
                if feedparser.parse(response.content).bozo:
                    errors.append("a served feed did not parse")
            elif response.status_code != 304:
                errors.append(f"status {response.status_code}")
            done += 1
            time.sleep(0.02)
    counts.append(done)


def pollers_during_backfill(env: Env, files: int, clients: int) -> None:
    process = Process(env, "run")
    try:
        process.wait_up()
        stop = threading.Event()
        errors: list[str] = []
        counts: list[int] = []
        slowest: list[float] = []
        urls = [f"{process.url}feeds/{slug}.atom" for slug in ("all", "syria", "gaza")]
        threads = [threading.Thread(target=poll, args=(urls[n % 3], stop, errors, counts,
                                                       slowest)) for n in range(clients)]
        for thread in threads:
            thread.start()
        drop_stories(env, range(files), prefix="backfill")
        def all_stored() -> bool:
            return bool(env.status()["counts"]["articles"] == files)
        assert wait_for(all_stored, files / 5 + 60, interval=1.0), process.output()
        stop.set()
        for thread in threads:
            thread.join(30)
        assert errors == [], errors[:5]
        assert len(counts) == clients and min(counts) >= 5, counts
        assert max(slowest) < 5, max(slowest)
        newest = article_id(article_key(f"backfill-{files - 1}.txt", 0))
        last = f"{process.url}articles/{newest}.html"
        # the last batch's pages follow once its publish finishes
        assert wait_for(lambda: httpx.get(last).status_code == 200, 30 + files / 50), \
            process.output()[-3000:]
    finally:
        assert process.stop() == 0, process.output()


def test_the_daemon_parses_a_big_inbox_in_workers_and_ctrl_c_stops_it_cleanly(
        env: Env) -> None:
    """An inbox of several batches is parsed in worker processes, as `feeds ingest` does,
    while the server already answers. Ctrl-C reaches the whole process group: the workers
    leave stopping to the daemon, which stops cleanly mid-backfill; what it had not stored
    yet is stored at the next run."""
    drop_stories(env, range(2000))
    process = Process(env, "run", new_session=True, ingest={"batch_size": 100, "processes": 1})
    try:
        assert wait_for(lambda: "parsing in worker processes count=1" in process.output(), 30), \
            process.output()[-3000:]
        assert wait_for(process.up, 10)  # serving (503 until the first publish) meanwhile
        assert env.sql("select count(*) from articles")[0][0] < 2000
        # a batch stored (read from the database directly: `feeds status` takes longer than
        # the rest of this backfill may)
        assert wait_for(lambda: env.sql("select count(*) from articles")[0][0] >= 100, 60)
        os.killpg(process.proc.pid, signal.SIGINT)  # mid-backfill
        assert process.stop(timeout=30) == 0, process.output()[-3000:]
    finally:
        if process.proc.poll() is None:
            os.killpg(process.proc.pid, signal.SIGKILL)
    output = process.output()
    assert "Traceback" not in output and "crashed" not in output, output[-3000:]
    assert "KeyboardInterrupt" not in output and "stopped" in output
    stored = env.status()["counts"]["articles"]
    assert stored < 2000, "the backfill was not interrupted: make the inbox bigger"
    # what it stored before stopping was published before it stopped
    assert len(list((env.public / "articles").glob("*.html"))) == stored
    env.feeds("ingest")  # the rest, from the inbox that was never touched
    assert env.status()["counts"]["articles"] == 2000


def test_pollers_keep_getting_answers_during_a_backfill(env: Env) -> None:
    pollers_during_backfill(env, files=300, clients=20)


@pytest.mark.slow
def test_fifty_pollers_during_a_ten_thousand_file_backfill(env: Env) -> None:
    pollers_during_backfill(env, files=10_000, clients=50)
