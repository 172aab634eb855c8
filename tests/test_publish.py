"""Published outputs, read the way feed readers read them (feedparser), plus byte stability."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from xml.etree import ElementTree

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.config import load_config
from feeds.errors import PublishError
from feeds.ingest.ingestor import Ingestor
from feeds.ingest.pipeline import Pipeline
from feeds.ingest.record import IngestReport
from feeds.models import article_id, article_key
from feeds.publish import Publisher
from feeds.store import Store
from feeds.store.story_index import MAX_RELATED, nearest_reports
from tests.conftest import (
    DATA,
    HARBOUR,
    ROOT,
    SEEDS,
    TWO_STORIES,
    Env,
    needs_shared,
    transactions_begun,
)
from tests.publishing import FILLERS, snapshot, story, tree

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def samples(env: Env) -> Env:
    for path in (ROOT / "samples" / "inbox").iterdir():
        shutil.copy2(path, env.inbox / path.name)
    env.feeds("ingest")
    return env


def test_every_feed_parses_cleanly_with_unique_stable_ids(samples: Env) -> None:
    feeds = sorted((samples.public / "feeds").glob("*.atom"))
    assert [f.stem for f in feeds] == ["all", "gaza", "syria", "ukraine-mediation"]
    for path in feeds:
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert parsed.version == "atom10"
        ids = [e.id for e in parsed.entries]
        assert len(ids) == len(set(ids)) and ids
        for entry in parsed.entries:
            assert entry.id.startswith("urn:uuid:")
            assert entry.published_parsed and entry.updated_parsed
            assert entry.link.startswith("http://127.0.0.1:8080/articles/")
            # RFC 4287 4.2.1: an entry without an author of its own has the feed's
            assert entry.get("author") or parsed.feed.author
            assert entry.summary and entry.content[0].value
        published = [e.published_parsed for e in parsed.entries]
        assert published == sorted(published, reverse=True)
        assert parsed.feed.updated_parsed == max(e.updated_parsed for e in parsed.entries)
        links = {link.rel: link.href for link in parsed.feed.links}
        assert links["self"] == f"http://127.0.0.1:8080/feeds/{path.name}"
    syria = feedparser.parse((samples.public / "feeds" / "syria.atom").read_bytes())
    assert all("syria" in [t.term for t in e.tags] for e in syria.entries)


def test_republishing_without_change_is_byte_identical(samples: Env) -> None:
    before = snapshot(samples.public)
    time.sleep(0.01)
    samples.feeds("publish")
    samples.feeds("ingest")
    assert snapshot(samples.public) == before
    assert not [p for p in samples.public.rglob(".*")]  # no temp files left behind


def test_ids_survive_reingest_and_an_edit_moves_only_updated(env: Env) -> None:
    path = env.drop("one.txt", story("Aid reaches Aleppo"))
    env.feeds("ingest")
    first = feedparser.parse((env.public / "feeds" / "syria.atom").read_bytes()).entries[0]
    path.write_text(story("Aid reaches Aleppo at last"), encoding="utf-8")
    env.feeds("ingest")
    env.fresh_database()  # even a new database gives the same ids
    env.feeds("ingest")
    parsed = feedparser.parse((env.public / "feeds" / "syria.atom").read_bytes())
    [second] = parsed.entries
    assert second.id == first.id and second.link == first.link
    assert second.title == "Aid reaches Aleppo at last"
    assert second.published == first.published
    # the timestamps' fractions count: the edit may come within the same second
    assert datetime.fromisoformat(second.updated) > datetime.fromisoformat(first.updated)


def test_same_event_entries_link_to_each_other_as_related(env: Env) -> None:
    env.drop("a.txt", story("Aleppo water network repairs begin", "Aleppo"))
    env.drop("b.txt", story("Repairs to Aleppo water network start", "Aleppo").replace(
        "Residents", "Engineers from the water ministry and residents"))
    env.feeds("ingest")
    root = ElementTree.parse(env.public / "feeds" / "syria.atom").getroot()
    entries = root.findall(f"{ATOM}entry")
    pages = {e.find(f"{ATOM}id").text: [ln.get("href") for ln in e.findall(f"{ATOM}link")
                                         if ln.get("rel") in (None, "alternate")]
             for e in entries}
    related = {e.find(f"{ATOM}id").text: [ln.get("href") for ln in e.findall(f"{ATOM}link")
                                           if ln.get("rel") == "related"] for e in entries}
    (a, b) = related
    assert related[a] == pages[b] and related[b] == pages[a]
    page = (env.public / pages[a][0].split("8080/")[1]).read_text(encoding="utf-8")
    assert "Also reported by" in page


def test_index_autodiscovers_every_feed_and_opml_lists_them(samples: Env) -> None:
    index = (samples.public / "index.html").read_text(encoding="utf-8")
    for slug in ("all", "syria", "gaza", "ukraine-mediation"):
        assert re.search(r'<link rel="alternate" type="application/atom\+xml" title="[^"]+" '
                         rf'href="http://127.0.0.1:8080/feeds/{slug}.atom">', index), slug
    opml = ElementTree.parse(samples.public / "feeds.opml").getroot()
    urls = sorted(o.get("xmlUrl") for o in opml.iter("outline"))
    assert urls == sorted(f"http://127.0.0.1:8080/feeds/{s}.atom"
                          for s in ("all", "syria", "gaza", "ukraine-mediation"))
    for topic in ("syria", "gaza", "ukraine-mediation"):
        assert (samples.public / "topics" / f"{topic}.html").exists()


def test_json_feed_sits_beside_each_atom_feed(samples: Env) -> None:
    for atom in (samples.public / "feeds").glob("*.atom"):
        data = json.loads(atom.with_suffix(".json").read_text(encoding="utf-8"))
        assert data["version"] == "https://jsonfeed.org/version/1.1"
        parsed = feedparser.parse(atom.read_bytes())
        assert [i["id"] for i in data["items"]] == [e.id for e in parsed.entries]


def test_json_feeds_read_exactly_as_one_indented_dump(samples: Env) -> None:
    """Items are encoded once per version and joined; the bytes must be those of the whole
    document dumped at once, for full feeds and an empty one alike."""
    config = load_config(samples.config)
    store = Store.for_config(config)
    publisher = Publisher(config, store)
    try:
        documents = [publisher.json_feed(publisher.specs[0], [])]
        for path in (samples.public / "feeds").glob("*.json"):
            documents.append(path.read_bytes())
            # again, now that the publisher holds its items' text
            spec = publisher.spec_of[path.stem]
            documents.append(publisher.json_feed(spec, publisher.listings.feed_items(spec, {})))
            documents.append(publisher.json_feed(spec, publisher.listings.feed_items(spec, {})))
    finally:
        publisher.close()
        store.close()
    counts = []
    for document in documents:
        data = json.loads(document)
        assert document == (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode()
        counts.append(len(data["items"]))
    assert counts[0] == 0 and max(counts) > 1
    assert documents[1:][0::3] == documents[1:][1::3] == documents[1:][2::3]


def test_article_pages_show_the_article_and_escape_markup(env: Env) -> None:
    env.drop("x.md", "---\ntitle: 'Syria: <script>alert(1)</script> & more'\n---\n"
             "Officials in Syria and Damascus said <b>bold</b> things & more on Monday.\n")
    env.feeds("ingest")
    [page] = (env.public / "articles").glob("*.html")
    html = page.read_text(encoding="utf-8")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" \
        in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    feed = (env.public / "feeds" / "syria.atom").read_bytes()
    assert not feedparser.parse(feed).bozo
    assert feedparser.parse(feed).entries[0].title == "Syria: <script>alert(1)</script> & more"


def test_seed_feeds_are_valid_and_put_seed_001_in_all_three_topics(env: Env) -> None:
    needs_shared(SEEDS)
    for path in SEEDS.iterdir():
        shutil.copy2(path, env.inbox / path.name)
    env.feeds("ingest")
    titles = {slug: [e.title for e in feedparser.parse(
        (env.public / "feeds" / f"{slug}.atom").read_bytes()).entries]
        for slug in ("syria", "gaza", "ukraine-mediation")}
    seed_001 = "Putin and Qatari emir discuss Syria and Gaza at Moscow talks"
    assert all(seed_001 in t for t in titles.values())
    assert len(titles["syria"]) == 6
    assert titles["gaza"] == [seed_001] and titles["ukraine-mediation"] == [seed_001]


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_publish_failing_midway_leaves_whole_files_and_no_temporary_ones(
        env: Env, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    """Files are staged and put in place together: a failure on the way (a full disk, when
    a file is renamed into place or when a writing thread syncs it) leaves each file as it
    was or as it should be, never cut short, and no temporary file."""
    env.write_config(ingest={"settle_seconds": 0.0})
    for n in range(12):
        env.drop(f"s{n}.txt", story(f"Report {n} from Damascus", day=n + 1))
    env.feeds("ingest")

    def contents() -> dict[str, bytes]:
        return {str(p.relative_to(env.public)): p.read_bytes()
                for p in env.public.rglob("*") if p.is_file()}

    before = contents()
    for n in range(12):
        env.drop(f"s{n}.txt", story(f"Report {n} from Damascus, revised", day=n + 1))
    env.feeds("ingest", "--no-publish")
    config = load_config(env.config)
    store = Store.for_config(config)
    real, calls, lock = getattr(os, failing), [], threading.Lock()

    def full_disk_at_the_fifth(*args: Any) -> None:
        with lock:
            calls.append(args)
            fifth = len(calls) == 5
        if fifth:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(*args)

    try:
        publisher = Publisher(config, store)
        monkeypatch.setattr(os, failing, full_disk_at_the_fifth)
        with pytest.raises(PublishError, match="No space left on device"):
            publisher.publish()
        monkeypatch.setattr(os, failing, real)
        publisher.close()
    finally:
        store.close()
    failed = contents()
    assert not [name for name in failed if name.rsplit("/", 1)[-1].startswith(".")]
    env.feeds("publish")
    after = contents()
    assert set(failed) <= set(before) | set(after)
    assert all(data in (before.get(name), after.get(name)) for name, data in failed.items())
    if failing == "replace":  # the four renamed before the fifth are new
        assert len(calls) == 5
        assert sum(failed[name] == after[name] != before.get(name) for name in failed) == 4


def test_seed_stories_group_the_same_events_and_only_those(env: Env) -> None:
    needs_shared(SEEDS)
    for path in SEEDS.iterdir():
        shutil.copy2(path, env.inbox / path.name)
    env.feeds("ingest")
    root = ElementTree.parse(env.public / "feeds" / "all.atom").getroot()
    entries = {e.find(f"{ATOM}title").text: e for e in root.findall(f"{ATOM}entry")}
    related = {t: {ln.get("href") for ln in e.findall(f"{ATOM}link")
                   if ln.get("rel") == "related"} for t, e in entries.items()}
    page = {t: next(ln.get("href") for ln in e.findall(f"{ATOM}link") if ln.get("rel") is None)
            for t, e in entries.items()}

    def title(start: str) -> str:
        return next(t for t in entries if t.startswith(start))

    t000, t001 = title("Putin and Qatari Emir Pledge"), title("Putin and Qatari emir discuss")
    t002, t003 = title("Putin meets Syria"), title("Russian President Vladimir Putin met")
    t004a, t004b = title("Putin’s Message"), title("Syrian Govt Visits")
    assert related[t000] == {page[t001]} and related[t001] == {page[t000]}
    assert related[t002] == {page[t003]} and related[t003] == {page[t002]}
    assert related[t004a] == set() and related[t004b] == set()


def test_a_follow_up_like_one_report_but_not_the_others_starts_its_own_story(
        env: Env) -> None:
    for path in sorted((DATA / "stories").glob("*.txt")):
        shutil.copy2(path, env.inbox / path.name)  # one batch, grouped in name order
    env.feeds("ingest")
    root = ElementTree.parse(env.public / "feeds" / "all.atom").getroot()
    page = {}
    related = {}
    for entry in root.findall(f"{ATOM}entry"):
        links = entry.findall(f"{ATOM}link")
        title = entry.find(f"{ATOM}title").text
        page[title] = next(ln.get("href") for ln in links if ln.get("rel") is None)
        related[title] = {ln.get("href") for ln in links if ln.get("rel") == "related"}

    def title(start: str) -> str:
        return next(t for t in page if t.startswith(start))

    talks, deal = title("Qatar hosts"), title("Truce extended")
    release, again = title("Red Cross convoy"), title("Gaza truce to last")
    assert related[talks] == {page[deal], page[again]}
    assert related[deal] == {page[talks], page[again]}
    assert related[again] == {page[talks], page[deal]}
    assert related[release] == set()


@pytest.mark.parametrize("backfill", ["as they came", "named against it, in small batches",
                                      "dated files touched against it"])
def test_a_running_story_is_told_as_one_story_per_development(env: Env, backfill: str) -> None:
    """tests/data/running: two running stories over a week, each report of a development
    recapping the earlier ones. The reports of one development are one story; the
    developments stay apart (by their words within days of each other, by their dates
    beyond), and so do the pieces that stand alone. Dates come from the files' datelines and
    date lines, or from the arrival time where a file has none.

    One backfill groups them in the order they came out, as a daemon running at the time
    would have: a follow-up met first takes in an earlier development's report. Batches are
    taken oldest mtime first, whatever the files are called (named newest first, in batches
    of two); a batch's files go by the dates they give, whatever their mtimes (the dated
    files touched newest first, after the undated ones)."""
    labels = json.loads((DATA / "running" / "labels.json").read_text(encoding="utf-8"))
    ordered = sorted(labels)  # the names follow the dates
    undated = {Path(r["path"]).name for r in env.explain(*(DATA / "running" / n for n in ordered))
               if r["articles"][0]["published"] is None}
    if backfill == "named against it, in small batches":
        env.write_config(ingest={"settle_seconds": 0.0, "batch_size": 2})
    late = datetime(2026, 11, 30, tzinfo=UTC).timestamp()  # after every arrival
    for n, name in enumerate(ordered):
        stamp = datetime.fromisoformat(labels[name]["received"]).timestamp()
        stored = name
        if backfill == "named against it, in small batches":
            stored = f"{99 - n}-{name}"
        elif backfill == "dated files touched against it" and name not in undated:
            stamp = late - 60 * n
        path = env.drop(stored, (DATA / "running" / name).read_bytes())
        os.utime(path, (stamp, stamp))
    env.feeds("ingest")
    root = ElementTree.parse(env.public / "feeds" / "all.atom").getroot()
    by_title = {e.find(f"{ATOM}title").text: e for e in root.findall(f"{ATOM}entry")}
    page, related, published = {}, {}, {}
    for name in labels:
        title = (DATA / "running" / name).read_text(encoding="utf-8").split("\n", 1)[0]
        entry = by_title[title]
        links = entry.findall(f"{ATOM}link")
        page[name] = next(ln.get("href") for ln in links if ln.get("rel") is None)
        related[name] = {ln.get("href") for ln in links if ln.get("rel") == "related"}
        published[name] = entry.find(f"{ATOM}published").text
    for name, label in labels.items():
        same = {page[other] for other, theirs in labels.items()
                if theirs["event"] == label["event"] and other != name}
        assert related[name] == same, name
    assert published["k3b-arrests.txt"] == "2026-11-12T00:00:00+00:00"  # "DRAVO, Nov 12 (...) -"
    assert published["f1b-floods.txt"] == "2026-10-19T00:00:00+00:00"  # "Date: 19 October 2026"
    assert published["k2a-march.txt"] == "2026-11-08T17:30:00+00:00"  # no date: its arrival


def test_the_first_ingest_creates_every_feed_even_empty_ones(env: Env) -> None:
    env.drop("one.txt", story("Aid reaches Aleppo"))
    env.feeds("ingest")
    for slug in ("all", "syria", "gaza", "ukraine-mediation"):
        parsed = feedparser.parse((env.public / "feeds" / f"{slug}.atom").read_bytes())
        assert not parsed.bozo
        assert len(parsed.entries) == (1 if slug in ("all", "syria") else 0)
        assert (env.public / "feeds" / f"{slug}.json").exists()
    for slug in ("syria", "gaza", "ukraine-mediation"):
        assert (env.public / "topics" / f"{slug}.html").exists()


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 40)), min_size=1, max_size=80,
                unique_by=lambda m: m[0]), st.data())
@settings(max_examples=300, deadline=None)
def test_related_links_pick_the_nearest_reports_of_a_story(
        raw: list[tuple[int, int]], data: st.DataObject) -> None:
    """The windowed search for an entry's related links finds exactly the MAX_RELATED story
    members nearest in time (ties: smaller id) that a full sort finds."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    members = sorted(((f"{i:07d}", base + timedelta(hours=h)) for i, h in raw),
                     key=lambda m: (m[1], m[0]))
    me = data.draw(st.sampled_from(members))
    row = SimpleNamespace(id=me[0], published=me[1])
    others = sorted((m for m in members if m != me),
                    key=lambda m: (abs((m[1] - me[1]).total_seconds()), m[0]))[:MAX_RELATED]
    expected = [m[0] for m in sorted(others, key=lambda m: (m[1], m[0]))]
    assert nearest_reports(row, members) == expected


@contextmanager
def second_report_stored(env: Env) -> Iterator[tuple[Store, Publisher, IngestReport]]:
    """A first Syria report ingested and published (`feeds ingest`), then a second stored in
    this process and not yet published: the store, a publisher, and the second's ingest
    report. The store is closed when the block ends."""
    env.drop("first.txt", story("First report from Damascus"))
    env.feeds("ingest")
    config = load_config(env.config)
    store = Store.for_config(config)
    pipeline = Pipeline(config)
    try:
        publisher = Publisher(config, store)
        env.drop("second.txt", story("Second report from Damascus"))
        report = Ingestor(config, store, pipeline).run([env.inbox / "second.txt"], settle=0.0)
        yield store, publisher, report
    finally:
        pipeline.close()
        store.close()


def test_pages_a_paused_publish_puts_off_are_written_by_finish(env: Env) -> None:
    """The daemon's publish gives way to arriving files after the feeds: the pages that only
    list articles wait for `finish()` (or the next publish), and then match a full rebuild."""
    env.write_config(ingest={"settle_seconds": 0.0})
    with second_report_stored(env) as (store, publisher, report):
        publisher.publish(changed=report.changed, topics=report.topics, pause=lambda: True)
        first_page = env.public / "articles" / f"{article_id(article_key('first.txt', 0))}.html"
        put_off = [env.public / "topics" / "syria.html", env.public / "index.html", first_page]
        assert "Second report" in (env.public / "feeds" / "syria.atom").read_text()
        assert publisher.pending
        assert [p.name for p in put_off if "Second report" in p.read_text()] == []
        publisher.finish()
        assert not publisher.pending
        assert [p.name for p in put_off if "Second report" not in p.read_text()] == []
    published = snapshot(env.public)
    env.feeds("publish")
    assert snapshot(env.public) == published  # a full rebuild rewrites nothing


def test_a_report_whose_related_list_gains_the_new_one_is_rewritten_too(env: Env) -> None:
    """Related links are each report's 10 nearest in time, which is not symmetric: here the
    new report's 10 nearest leave out the first report, yet the first report's 10 nearest
    now include it, so its page changes too."""
    body = ("The harbour at Port Kessa reopened after the storm, the port authority said. "
            "Ships queued outside Port Kessa harbour for three days before the reopening.")

    def report(name: str, hour: int) -> None:
        env.drop(f"{name}.md", f'+++\ntitle = "Port Kessa harbour reopens ({name})"\n'
                 f'date = 2026-03-02T00:00:00Z\n+++\n\n{body}\n'.replace(
                     "00:00:00", f"{hour:02d}:00:00"))

    report("first", 0)
    for n in range(10):
        report(f"later-{n}", 11 + n)
    env.feeds("ingest")
    report("new", 10)  # nearer to the ten later ones than to the first
    env.feeds("ingest")
    incremental = {p.name: p.read_bytes() for p in (env.public / "articles").iterdir()}
    env.feeds("publish")
    rebuilt = {p.name: p.read_bytes() for p in (env.public / "articles").iterdir()}
    assert [name for name in rebuilt if rebuilt[name] != incremental.get(name)] == []
    assert len({*rebuilt}) == 12


def test_articles_an_earlier_run_stored_but_never_published_are_published_next(
        env: Env) -> None:
    """A `feeds ingest` killed between storing and publishing (or run with --no-publish)
    leaves stored articles without pages; the next ingest publishes in full, even when it
    finds nothing new itself."""
    env.drop("pair.txt", TWO_STORIES)
    env.drop("other.txt", FILLERS[2])
    env.feeds("ingest", "--no-publish")
    assert not (env.public / "articles").exists()
    assert "0 new, 0 updated, 3 unchanged" in env.feeds("ingest").stdout
    pages = {p.name for p in (env.public / "articles").glob("*.html")}
    assert pages == {f"{article_id(article_key(name, n))}.html"
                     for name, n in (("pair.txt", 0), ("pair.txt", 1), ("other.txt", 0))}
    full = tree(env.public)
    env.drop("late.txt", HARBOUR.replace("Harbour", "Port"))  # an ordinary run: incremental
    assert "1 new" in env.feeds("ingest").stdout
    env.feeds("publish")
    assert set(tree(env.public)) == set(full) | {
        Path("articles") / f"{article_id(article_key('late.txt', 0))}.html"}


def test_a_publish_reads_its_feeds_in_one_read_transaction(env: Env) -> None:
    """The feeds of a publish, their article pages and the lookups between them share one
    read transaction: a new article waits for one BEGIN and COMMIT, not one per read
    (there were 16 for a new Syria report; the writes of run records are their own)."""
    with second_report_stored(env) as (store, publisher, report):
        begun = transactions_begun(store)
        publisher.publish(changed=report.changed, topics=report.topics, pause=lambda: True)
    assert "Second report" in (env.public / "feeds" / "syria.atom").read_text()
    reads = begun.count(False)
    # on PostgreSQL the publishers' lock is taken and let go in two transactions of its own
    assert reads == 1 + (2 if store.shared() else 0), f"{reads} read transactions"
