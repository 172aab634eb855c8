"""Several daemons on one PostgreSQL database, sharing the inbox and public/: every file is
ingested once, publishing stays valid, each digest slot runs once and each subscriber gets
one digest, even when a daemon is killed halfway. Runs under `scripts/test --postgres`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from typing import Any

import feedparser
import pytest

from feeds.store.migrations import MIGRATIONS
from tests.conftest import (
    FEEDS_BIN,
    POSTGRES,
    ROOT,
    Env,
    Process,
    SMTPRecorder,
    _merge,
    dump_toml,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.skipif(not POSTGRES, reason="needs scripts/test --postgres")

STORY = ("{title}\n\n{place} (Wire) - Negotiators met in {place} on Monday as talks on "
         "Syria's future resumed for round {n}. Officials said aid convoys had reached {n} "
         "families, and that a further meeting would follow within the week.\n")
PLACES = ["DAMASCUS", "ALEPPO", "HOMS", "IDLIB", "DOHA"]

CONNECTIONS = 4  # each daemon's SMTP connections


class Daemon(Process):
    """`feeds run` with its own state folder and port, on the shared database and folders."""

    def __init__(self, env: Env, number: int, **settings: Any) -> None:
        import tomllib
        self.port = free_port()
        self.state = env.root / f"state-{number}"
        self.config = env.root / f"config-{number}.toml"
        base = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
        data = _merge(base, {"paths": {"inbox": "inbox", "public": "public",
                                       "state": self.state.name},
                             "store": {"url": env.database_url},
                             "server": {"host": "127.0.0.1", "port": self.port}})
        self.config.write_text(dump_toml(_merge(data, settings)), encoding="utf-8")
        self.log = env.root / f"daemon-{number}.log"
        self.handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([FEEDS_BIN, "--config", str(self.config), "run"],
                                     stdout=self.handle, stderr=subprocess.STDOUT,
                                     cwd=env.root, env={**os.environ, "FEEDS_SECRET": "shared"})
        self.env = env
        self.url = f"http://127.0.0.1:{self.port}/"


def new_articles(output: str) -> int:
    return sum(int(n) for n in re.findall(r"ingest finished new=(\d+)", output))


def test_daemons_starting_together_migrate_once(env: Env) -> None:
    started = [subprocess.Popen([FEEDS_BIN, "--config", str(env.config), "status", "--json"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for _ in range(4)]
    for proc in started:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    versions = env.sql("select version from schema_version")
    assert versions == [(len(MIGRATIONS),)]


@pytest.mark.slow
def test_three_daemons_share_the_work_and_survive_a_kill(env: Env,
                                                         smtp: SMTPRecorder) -> None:
    readers = [f"reader{n}@example.org" for n in range(1000)]
    (env.root / "readers.csv").write_text("".join(f"{r},syria\n" for r in readers),
                                          encoding="utf-8")
    env.feeds("subscribers", "import", str(env.root / "readers.csv"))
    smtp.block = lambda: time.sleep(0.004)  # a few seconds for the thousand
    settings = {
        "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                 "connections": CONNECTIONS},
        "ingest": {"settle_seconds": 0.0, "rescan_seconds": 5.0},
        "mail": {"retry_seconds": 2.0},
        "digests": {"daily": {"cron": "* * * * *", "timezone": "UTC", "grace_seconds": 600}},
    }
    daemons = [Daemon(env, n, **settings) for n in range(3)]
    try:
        assert wait_for(lambda: all(d.up() for d in daemons), 30), daemons[0].output()
        for n in range(1000):
            part = env.inbox / f".story-{n}.part"
            part.write_text(STORY.format(title=f"Round {n} of talks", place=PLACES[n % 5],
                                         n=n), encoding="utf-8")
            part.rename(env.inbox / f"story-{n}.txt")
        # kill one daemon halfway through the ingest: its claims die with its connection and
        # the files it was reading are stored by the others at their next rescan
        assert wait_for(lambda: env.sql("select count(*) from articles")[0][0] >= 500, 180)
        daemons[2].proc.send_signal(signal.SIGKILL)
        daemons[2].proc.wait(10)
        assert wait_for(lambda: env.sql("select count(*) from articles") == [(1000,)], 180)
        # the next minute's slot: one daemon claims it, both left send; kill one halfway
        assert wait_for(lambda: len(smtp.recipients) >= 400, 120), \
            [d.output()[-2000:] for d in daemons]
        victim = daemons[1]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        at_kill = len(smtp.recipients)
        assert wait_for(lambda: env.sql(
            "select count(*) from deliveries where status = 'sent'") == [(1000,)], 120), \
            env.sql("select status, count(*) from deliveries group by status")
        time.sleep(1)  # nothing more arrives
        assert daemons[0].proc.poll() is None, daemons[0].output()[-3000:]
    finally:
        codes = [d.stop() for d in daemons]
    assert codes[0] == 0, codes
    outputs = [d.output() for d in daemons]
    # every file ingested once, by whichever daemon claimed it: one article each, given one
    # sequence number each (a second insert would have taken another), none removed again
    assert env.sql("select count(*) from files where status = 'ok'") == [(1000,)]
    assert env.sql("select count(*), max(seq) from article_seq") == [(1000, 1000)]
    assert sum(new_articles(o) for o in outputs) <= 1000  # the killed one never logged its
    # the slot ran once across the cluster
    assert len(env.sql("select slot from digest_runs where schedule = 'daily'")) == 1
    counts: dict[str, int] = {}
    for rcpt in smtp.recipients:
        counts[rcpt] = counts.get(rcpt, 0) + 1
    assert set(counts) == set(readers)
    twice = sorted(r for r, c in counts.items() if c > 1)
    print(f"\n3 daemons, 1,000 files, 1,000 digests; daemon 2 killed halfway through the "
          f"ingest, daemon 1 after {at_kill} messages; sent twice: {len(twice)} (the ones in "
          f"flight at the kill, at most 2 x {CONNECTIONS} connections)")
    assert max(counts.values()) == 2 if twice else max(counts.values()) == 1
    # at most one message in flight per connection of each sender in the killed daemon: the
    # slot's run and the leftovers job may both be sending
    assert len(twice) <= 2 * CONNECTIONS
    for feed in (env.public / "feeds").glob("*.atom"):
        parsed = feedparser.parse(feed.read_bytes())
        assert not parsed.bozo, (feed, parsed.get("bozo_exception"))
    assert len(feedparser.parse((env.public / "feeds" / "all.atom").read_bytes()).entries) == 50
    assert len(list((env.public / "articles").glob("*.html"))) == 1000
