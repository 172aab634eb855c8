"""A big publish shared with helper processes writes the files one process would."""

from __future__ import annotations

import shutil

import pytest

from feeds.config import load_config
from feeds.publish import Publisher
from feeds.publish.sharing import ArchivePages, ArticlePages, do_job_in_helper
from feeds.store import Store
from tests.conftest import Env
from tests.publishing import snapshot, story


def test_a_big_publish_shared_with_a_helper_process_writes_what_one_process_would(
        env: Env) -> None:
    """A big publish (a backfill, a full rebuild) shares its article and archive pages with
    a worker process: the files are the ones a single process writes, byte for byte."""
    shared_config = {"feeds": {"entries": 10}, "ingest": {"settle_seconds": 0.0,
                                                          "processes": 1}}
    env.write_config(**shared_config)
    places = ["Damascus", "Aleppo", "Homs", "Latakia", "Idlib", "Hama", "Raqqa", "Tartus"]
    for n in range(1100):
        env.drop(f"r{n:04}.txt", story(f"Report {n} from {places[n % 8]}",
                                       place=places[n % 8], day=1 + n % 28))
    assert "publish jobs shared" in env.feeds("--log-level", "debug", "ingest").stderr
    shared = snapshot(env.public)
    assert len([name for name in shared if "/archive-" in name]) >= 200

    env.write_config(feeds={"entries": 10}, ingest={"settle_seconds": 0.0, "processes": 0})
    env.feeds("publish")  # one process, everything: finds every file as it would write it
    assert snapshot(env.public) == shared

    # what a helper runs, here: its pages are the same bytes, so it writes none
    config = load_config(env.config)
    ids = sorted(name.split("/")[1].removesuffix(".html") for name in shared
                 if name.startswith("articles/"))
    assert do_job_in_helper(config, ArticlePages(tuple(ids[:30])))[:2] == (0, 30)
    assert do_job_in_helper(config, ArchivePages("syria", 2, 5))[:2] == (0, 5)

    # a full rebuild from nothing, shared again
    for folder in ("articles", "feeds"):
        shutil.rmtree(env.public / folder)
    env.write_config(**shared_config)
    env.feeds("publish")
    assert {name: digest for name, (digest, _mtime) in snapshot(env.public).items()} == {
        name: digest for name, (digest, _mtime) in shared.items()}


def test_a_publish_does_the_jobs_of_a_helper_that_fails_itself(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """A helper that cannot do its jobs (here it cannot open the store) costs time, not
    pages: the publishing process does them."""
    env.write_config(feeds={"entries": 10}, ingest={"settle_seconds": 0.0, "processes": 0})
    for n in range(1050):
        env.drop(f"r{n:04}.txt", story(f"Report {n} from Homs", place="Homs", day=1 + n % 28))
    env.feeds("ingest")
    alone = {name: digest for name, (digest, _mtime) in snapshot(env.public).items()}
    for folder in ("articles", "feeds"):
        shutil.rmtree(env.public / folder)
    config = load_config(env.config)
    store = Store.for_config(config)
    try:
        elsewhere = config.model_copy(update={"store": config.store.model_copy(
            update={"url": f"sqlite:///{env.root / 'nowhere' / 'feeds.db'}"})})
        publisher = Publisher(elsewhere, store, helpers=1)
        try:
            publisher.publish()
        finally:
            publisher.close()
    finally:
        store.close()
    assert "a publish helper failed" in caplog.text
    assert {name: digest for name, (digest, _mtime) in snapshot(env.public).items()} == alone

