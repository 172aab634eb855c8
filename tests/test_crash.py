"""Kill -9 at random moments: nothing half-written is published, nothing is lost, the
database stays sound. A few trials by default; `scripts/test --all` runs 50 of each."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import feedparser
import pytest

from tests.conftest import FEEDS_BIN, POSTGRES, Env, SMTPRecorder, wait_for

TRIALS = 3
SLOW_TRIALS = 50


def fill(env: Env, count: int, seed: int) -> None:
    rng = random.Random(seed)
    places = ["Damascus", "Aleppo", "Gaza", "Rafah", "Kyiv", "Istanbul", "Homs", "Doha"]
    for n in range(count):
        place = rng.choice(places)
        env.drop(f"batch/{n:04d}.txt",
                 f"Report {n} from {place}\n\n{place.upper()} (Wire) - Officials in {place} said "
                 f"on Monday that talks on item {n} would resume. Syria, Gaza and Ukraine were "
                 f"discussed by negotiators. Aid reached {rng.randint(2, 900)} families.\n")


def published_files_are_whole(public: Path) -> None:
    for path in public.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue  # a temp file a killed writer left behind is never served
        data = path.read_bytes()
        if path.suffix == ".atom":
            parsed = feedparser.parse(data)
            assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        elif path.suffix == ".html":
            assert data.rstrip().endswith(b"</html>"), path
        elif path.suffix == ".json":
            import json
            json.loads(data)


def database_is_sound(env: Env) -> int:
    if not POSTGRES and not (env.state / "feeds.db").exists():
        return 0  # killed before the store was created: nothing to check
    env.database_is_sound()
    tables = {name for (name,) in env.sql(
        "select table_name from information_schema.tables where table_schema = 'public'"
        if POSTGRES else "select name from sqlite_master")}
    if "articles" not in tables:
        # killed between creating the file and committing the schema: the migration is
        # one transaction, so nothing of it may be left behind
        assert not tables, tables
        return 0
    return int(env.sql("select count(*) from articles")[0][0])


def kill_at_random(env: Env, command: list[str], rng: random.Random) -> None:
    proc = subprocess.Popen([FEEDS_BIN, "--config", str(env.config), "--log-level", "error",
                             *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.3, 2.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def trial(env: Env, seed: int) -> None:
    rng = random.Random(seed)
    env.write_config(ingest={"settle_seconds": 0.0, "batch_size": 40})
    fill(env, 120, seed)
    kill_at_random(env, ["ingest"], rng)
    published_files_are_whole(env.public)
    database_is_sound(env)
    kill_at_random(env, ["publish"], rng)
    published_files_are_whole(env.public)
    env.feeds("ingest")
    assert database_is_sound(env) == 120
    published_files_are_whole(env.public)
    all_entries = feedparser.parse((env.public / "feeds" / "all.atom").read_bytes()).entries
    assert len(all_entries) == 50
    assert len(list((env.public / "articles").glob("*.html"))) == 120


def digest_trial(env: Env, smtp: SMTPRecorder, seed: int) -> tuple[int, int]:
    """Kill `feeds digest send` at a random moment, send again: every subscriber has their
    digest, and at most the messages in flight at the kill (one per connection) went twice.
    Returns how many messages had arrived when it was killed, and how many went twice."""
    rng = random.Random(seed)
    readers = [f"reader{n}@example.org" for n in range(30)]
    connections = rng.choice([1, 4])
    env.write_config(smtp={"host": "127.0.0.1", "port": smtp.port, "security": "none",
                           "connections": connections},
                     ingest={"settle_seconds": 0.0})
    (env.root / "readers.csv").write_text("".join(f"{r},syria\n" for r in readers),
                                          encoding="utf-8")
    env.feeds("subscribers", "import", str(env.root / "readers.csv"))
    fill(env, 10, seed)
    env.feeds("ingest")
    # about a second for all thirty, whichever the number of connections
    smtp.block = lambda: time.sleep(0.03 * connections)
    kill_at_random(env, ["digest", "send", "--all"], rng)
    before_kill = len(smtp.recipients)
    smtp.block = None
    env.feeds("digest", "send", "--all")
    database_is_sound(env)
    counts = {r: smtp.recipients.count(r) for r in readers}
    assert all(counts[r] >= 1 for r in readers), counts
    twice = [r for r in readers if counts[r] > 1]
    assert len(twice) <= connections and all(counts[r] == 2 for r in twice), counts
    assert env.sql("select count(*) from deliveries where status != 'sent'") == [(0,)]
    return before_kill, len(twice)


@pytest.mark.parametrize("seed", range(2))
def test_sigkill_during_digest_delivery(tmp_path: Path, smtp: SMTPRecorder, seed: int) -> None:
    digest_trial(Env(tmp_path), smtp, seed)


@pytest.mark.slow
def test_sigkill_during_digest_delivery_many(tmp_path_factory: pytest.TempPathFactory,
                                             smtp: SMTPRecorder) -> None:
    midway = twice = 0
    for seed in range(TRIALS, TRIALS + SLOW_TRIALS):
        smtp.messages.clear()
        smtp.recipients.clear()
        arrived, again = digest_trial(Env(tmp_path_factory.mktemp(f"digest{seed}")), smtp,
                                      seed)
        midway += 0 < arrived < 30
        twice += again
    print(f"\n{SLOW_TRIALS} kills of `feeds digest send`, {midway} in the middle of delivery: "
          f"{twice} messages in flight went twice, nothing lost")
    assert midway >= SLOW_TRIALS // 5  # the kills really land during delivery


@pytest.mark.parametrize("seed", range(TRIALS))
def test_sigkill_during_ingest_and_publish(tmp_path: Path, seed: int) -> None:
    trial(Env(tmp_path), seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(TRIALS, TRIALS + SLOW_TRIALS))
def test_sigkill_during_ingest_and_publish_many(tmp_path: Path, seed: int) -> None:
    trial(Env(tmp_path), seed)


def _children(pid: int) -> dict[int, str]:
    """Live processes whose parent is `pid`: pid -> command line."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_text()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] \
            != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_killed_backfill_leaves_no_worker_processes_and_loses_nothing(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.write_config(ingest={"settle_seconds": 0.0, "batch_size": 20, "processes": 1})
    fill(env, 400, 1)
    proc = subprocess.Popen([FEEDS_BIN, "--config", str(env.config), "--log-level", "error",
                             "ingest"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: any("spawn_main" in c for c in _children(proc.pid).values()), 30)
    helpers = _children(proc.pid)  # the parse worker and multiprocessing's resource tracker
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert wait_for(lambda: not any(_alive(pid) for pid in helpers), 5), helpers
    env.feeds("ingest")  # nothing the killed run held (PostgreSQL: its claims) stays held
    assert database_is_sound(env) == 400
