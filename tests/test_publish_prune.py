"""A full publish removes what it no longer writes, and only that; an incremental one
removes an article's page as soon as the article goes."""

from __future__ import annotations

import tomllib
from pathlib import Path

from feeds.models import article_id, article_key
from tests.conftest import HARBOUR, TWO_STORIES, Env, dump_toml
from tests.publishing import FILLERS, tree


def test_a_story_dropped_from_a_file_leaves_the_feeds_at_once(env: Env) -> None:
    """A file that loses one of its stories (or becomes a copy of another file) loses those
    articles: the feeds stop listing them at once and their pages go, as a full rebuild
    would have it."""
    path = env.drop("pair.txt", TWO_STORIES)
    other = env.drop("other.txt", FILLERS[2])
    env.feeds("ingest")
    assert b"Airport terminal plan" in (env.public / "feeds" / "all.atom").read_bytes()
    airport = env.public / "articles" / f"{article_id(article_key('pair.txt', 1))}.html"
    museum = env.public / "articles" / f"{article_id(article_key('other.txt', 0))}.html"
    assert airport.exists() and museum.exists()
    path.write_text(HARBOUR, encoding="utf-8")  # the airport story is dropped
    assert "0 new, 0 updated, 2 unchanged" in env.feeds("ingest").stdout
    feeds = env.public / "feeds"
    assert b"Airport terminal plan" not in (feeds / "all.atom").read_bytes()
    assert not airport.exists() and museum.exists()
    other.write_text(HARBOUR, encoding="utf-8")  # now a copy of pair.txt: its article goes
    assert "1 duplicate" in env.feeds("ingest").stdout
    assert not museum.exists()
    incremental = tree(env.public)
    assert b"Museum reopens" not in incremental[Path("feeds/all.atom")]
    env.feeds("publish")
    assert tree(env.public) == incremental


def test_a_topic_taken_out_of_the_config_leaves_public(env: Env) -> None:
    """The feeds, archive pages and page of a topic no longer configured are removed by the
    next full publish; what else is in public/ stays."""
    for n in range(4):
        env.drop(f"gaza-{n}.txt", f"Gaza talks, day {n}\n\nHamas and Israel resumed talks on "
                 f"Gaza in Cairo on day {n}, mediators said. Gaza aid was discussed.\n")
    env.write_config(feeds={"entries": 2})
    env.feeds("ingest")
    own = [Path("feeds/gaza.atom"), Path("feeds/gaza.json"), Path("topics/gaza.html"),
           Path("feeds/gaza/archive-1.atom")]
    assert all((env.public / p).exists() for p in own)
    (env.public / "robots.txt").write_text("User-agent: *\n")  # not feeds' own: kept
    config = tomllib.loads(env.config.read_text(encoding="utf-8"))
    del config["topics"]["gaza"]
    config["digests"]["daily"]["topics"] = ["syria"]
    env.config.write_text(dump_toml(config), encoding="utf-8")
    env.feeds("publish")
    assert not any((env.public / p).exists() for p in own)
    assert not (env.public / "feeds" / "gaza").exists()
    assert (env.public / "robots.txt").exists() and (env.public / "feeds/syria.atom").exists()
    pages = {p.name for p in (env.public / "articles").iterdir()}
    assert len(pages) == 4  # the articles stay: they are still stored, and in feeds/all.atom

