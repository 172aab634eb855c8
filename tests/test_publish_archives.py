"""RFC 5005 archive pages: every entry stays reachable, full pages never change, and an
edit rewrites exactly the pages that hold it."""

from __future__ import annotations

import shutil
from xml.etree import ElementTree

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.publish.archives import consecutive_runs
from tests.conftest import DATA, Env
from tests.publishing import FILLERS, story


def test_archives_keep_every_entry_reachable_and_full_pages_never_change(env: Env) -> None:
    env.write_config(feeds={"entries": 3}, ingest={"settle_seconds": 0.0})
    for n in range(1, 8):
        env.drop(f"s{n}.txt", story(f"Story number {n} from Syria", f"Town{n}", n))
        env.feeds("ingest", str(env.inbox / f"s{n}.txt"))
    feed_path = env.public / "feeds" / "syria.atom"
    parsed = feedparser.parse(feed_path.read_bytes())
    assert len(parsed.entries) == 3
    prev = {link.rel: link.href for link in parsed.feed.links}["prev-archive"]
    assert prev.endswith("/feeds/syria/archive-2.atom")
    seen = {e.id for e in parsed.entries}
    page = env.public / "feeds" / "syria" / "archive-2.atom"
    pages = []
    while True:
        tree = ElementTree.parse(page)
        assert tree.getroot().find("{http://purl.org/syndication/history/1.0}archive") is not None
        archive = feedparser.parse(page.read_bytes())
        assert not archive.bozo and len(archive.entries) == 3
        seen |= {e.id for e in archive.entries}
        pages.append(page)
        links = {link.rel: link.href for link in archive.feed.links}
        assert links["current"].endswith("/feeds/syria.atom")
        assert links["next-archive"].endswith(f"/archive-{int(page.stem.split('-')[1]) + 1}.atom")
        if "prev-archive" not in links:
            break
        page = env.public / links["prev-archive"].split("8080/")[1]
    assert len(seen) == 7
    full = {p: p.read_bytes() for p in pages}
    env.drop("s8.txt", story("Story number 8 from Syria", "Town8", 8))
    env.feeds("ingest")
    assert {p: p.read_bytes() for p in pages} == full


@given(st.lists(st.integers(1, 200), unique=True).map(sorted), st.integers(1, 25))
def test_archive_pages_are_read_in_runs_that_cover_each_page_once(
        pages: list[int], longest: int) -> None:
    runs = list(consecutive_runs(pages, longest))
    assert [first + n for first, count in runs for n in range(count)] == pages
    assert all(1 <= count <= longest for _, count in runs)


@pytest.mark.parametrize("edited", [1, 10])  # one by one, and many at once (one numbered pass)
def test_an_edit_rewrites_exactly_the_archive_pages_holding_it(env: Env, edited: int) -> None:
    env.write_config(feeds={"entries": 3}, ingest={"settle_seconds": 0.0})
    for n in range(1, 21):
        env.drop(f"s{n}.txt", story(f"Story number {n} from Syria", f"Town{n}", n))
    env.feeds("ingest")
    archive = env.public / "feeds" / "syria"
    before = {p.name: p.read_bytes() for p in archive.iterdir()}
    assert len(before) == 6  # 20 stories: 6 full pages of 3, 2 in the current feed
    changed = range(2, 2 + 2 * edited, 2)[:edited]
    for n in changed:
        env.drop(f"s{n}.txt", story(f"Story number {n} from Syria, revised", f"Town{n}", n))
    env.feeds("ingest")
    after = {p.name: p.read_bytes() for p in archive.iterdir()}
    revised = {name for name, data in after.items() if b"revised" in data}
    rewritten = {name for name in after if after[name] != before[name]}
    assert revised == rewritten
    everything = [*after.values(), (env.public / "feeds" / "syria.atom").read_bytes()]
    for n in changed:  # each edit is in the feed or on its page (the newest page overlaps it)
        assert any(f"Story number {n} from Syria, revised</title>".encode() in data
                   for data in everything), n


def test_a_full_archive_page_stays_the_same_when_a_later_report_joins_its_story(
        env: Env) -> None:
    """Full archive pages never change unless one of their own articles is edited, so their
    entries carry no story links (those grow as later reports join); the current feed does."""
    env.write_config(feeds={"entries": 2}, ingest={"settle_seconds": 0.0})
    shutil.copy2(DATA / "stories" / "1-talks.txt", env.inbox / "talks.txt")
    env.feeds("ingest")
    for n, text in enumerate(FILLERS):
        env.drop(f"filler-{n}.txt", text)
    env.feeds("ingest")
    first = env.public / "feeds" / "all" / "archive-1.atom"
    before = first.read_bytes()
    assert b"Qatar hosts new round" in before
    shutil.copy2(DATA / "stories" / "4-deal-again.txt", env.inbox / "deal.txt")
    env.feeds("ingest")
    current = (env.public / "feeds" / "all.atom").read_bytes()
    assert b'rel="related"' in current  # the new report links the talks report
    assert first.read_bytes() == before
    env.feeds("publish")  # a full rebuild writes the same
    assert first.read_bytes() == before

