"""`feeds retract`: an article taken down leaves the feeds, pages, archives and digests,
keeps its id as an RFC 6721 tombstone where it was listed, answers 410 Gone with a notice,
and shows in `feeds status`; it stays down when its file is edited, until `--undo`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from xml.etree import ElementTree

import feedparser
import httpx

from feeds.config import load_config
from feeds.models import article_id, article_key, entry_id
from feeds.store import Store
from tests.conftest import Env, Process, SMTPRecorder
from tests.publishing import FILLERS, story, tree

AT = "{http://purl.org/atompub/tombstones/1.0}"
ATOM = "{http://www.w3.org/2005/Atom}"


def tombstones(document: bytes) -> dict[str, ElementTree.Element]:
    root = ElementTree.fromstring(document)
    return {e.get("ref", ""): e for e in root.findall(f"{AT}deleted-entry")}


def entry_ids(document: bytes) -> set[str]:
    return {e.id for e in feedparser.parse(document).entries}


def ids_of(name: str, index: int = 0) -> tuple[str, str]:
    key = article_key(name, index)
    return article_id(key), entry_id(key)


def test_a_retracted_article_leaves_feeds_and_pages_and_leaves_a_tombstone(env: Env) -> None:
    env.drop("harbour.txt", story("Harbour works resume in Syria", "Latakia", 2))
    for n, text in enumerate(FILLERS[:2]):
        env.drop(f"filler-{n}.txt", text)
    env.feeds("ingest")
    gone_id, gone_entry = ids_of("harbour.txt")
    assert gone_entry in entry_ids((env.public / "feeds" / "all.atom").read_bytes())
    page = env.public / "articles" / f"{gone_id}.html"
    assert page.exists()

    out = env.feeds("retract", "inbox/harbour.txt", "--reason", "Legal request").stdout
    assert f"retracted: harbour.txt#0 {gone_id}" in out

    for slug in ("all", "syria"):
        document = (env.public / "feeds" / f"{slug}.atom").read_bytes()
        assert gone_entry not in entry_ids(document), slug
        stone = tombstones(document)[gone_entry]
        when = datetime.fromisoformat(stone.get("when", ""))
        assert abs((datetime.now(UTC) - when).total_seconds()) < 120
        assert stone.findtext(f"{AT}comment") == "Legal request"
        feed = ElementTree.fromstring(document)
        assert feed.findtext(f"{ATOM}updated") == stone.get("when")  # news to its readers
        assert not feedparser.parse(document).bozo
    assert tombstones((env.public / "feeds" / "gaza.atom").read_bytes()) == {}  # never there
    json_feed = json.loads((env.public / "feeds" / "all.json").read_text(encoding="utf-8"))
    assert gone_entry not in {item["id"] for item in json_feed["items"]}
    assert len(json_feed["items"]) == 2
    assert not page.exists()
    for listing in ("index.html", "topics/syria.html"):
        assert "Harbour works resume" not in (env.public / listing).read_text(encoding="utf-8")
    notice = (env.public / "gone" / "articles" / f"{gone_id}.html").read_text(encoding="utf-8")
    assert "This article was retracted" in notice and "Legal request" in notice
    assert "Harbour works resume in Syria" in notice

    status = env.feeds("status").stdout
    assert "retracted: 1" in status
    assert f"harbour.txt#0 {gone_id}" in status and "Legal request" in status
    assert env.status()["retractions"][0]["id"] == gone_id

    before = tree(env.public)  # a full rebuild writes the same bytes, tombstones included
    env.feeds("publish")
    assert tree(env.public) == before


def test_the_page_of_a_retracted_article_answers_410_gone_with_its_notice(env: Env) -> None:
    env.drop("harbour.txt", story("Harbour works resume in Syria", "Latakia", 2))
    env.drop("filler.txt", FILLERS[0])
    env.feeds("ingest")
    gone_id, _ = ids_of("harbour.txt")
    env.feeds("retract", gone_id, "--reason", "The source withdrew it")
    process = Process(env, "serve")
    process.wait_up()
    try:
        with httpx.Client(base_url=process.url, timeout=5) as client:
            response = client.get(f"articles/{gone_id}.html")
            assert response.status_code == 410
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert "The source withdrew it" in response.text
            again = client.get(f"articles/{gone_id}.html",
                               headers={"If-None-Match": response.headers["etag"]})
            assert again.status_code == 410  # never a 304 for what is gone
            assert client.head(f"articles/{gone_id}.html").status_code == 410
            assert client.get("articles/0000000000000000.html").status_code == 404
            assert client.get("feeds/all.atom").status_code == 200
    finally:
        assert process.stop() == 0, process.output()


def test_the_archive_page_holding_it_is_rewritten_with_its_tombstone(env: Env) -> None:
    env.write_config(feeds={"entries": 3}, ingest={"settle_seconds": 0.0})
    for n in range(1, 11):
        env.drop(f"s{n}.txt", story(f"Story number {n} from Syria", f"Town{n}", n))
        env.feeds("ingest", "--no-publish", str(env.inbox / f"s{n}.txt"))
    env.feeds("publish")
    archive = env.public / "feeds" / "syria"
    before = {p.name: p.read_bytes() for p in archive.iterdir()}
    assert sorted(before) == ["archive-1.atom", "archive-2.atom", "archive-3.atom"]
    _, gone_entry = ids_of("s2.txt")  # the second stored: on the first page
    assert gone_entry in entry_ids(before["archive-1.atom"])

    env.feeds("retract", "s2.txt")
    after = {p.name: p.read_bytes() for p in archive.iterdir()}
    assert {name for name in after if after[name] != before[name]} == {"archive-1.atom"}
    first = after["archive-1.atom"]
    assert gone_entry not in entry_ids(first)
    assert len(entry_ids(first)) == 2  # the page keeps its stretch: nothing moves up
    stone = tombstones(first)[gone_entry]
    assert stone.find(f"{AT}comment") is None  # no reason given
    # pushed out of the current feed long ago: no tombstone there
    assert tombstones((env.public / "feeds" / "syria.atom").read_bytes()) == {}


def test_it_stays_retracted_when_its_file_is_edited_until_undo(env: Env) -> None:
    env.drop("harbour.txt", story("Harbour works resume in Syria", "Latakia", 2))
    env.drop("filler.txt", FILLERS[0])
    env.feeds("ingest")
    gone_id, gone_entry = ids_of("harbour.txt")
    assert "retracted: harbour.txt#0" in env.feeds("retract", gone_entry).stdout
    env.drop("harbour.txt", story("Harbour works resume in Syria, revised", "Latakia", 2))
    env.feeds("ingest")
    all_atom = (env.public / "feeds" / "all.atom").read_bytes()
    assert gone_entry not in entry_ids(all_atom) and gone_entry in tombstones(all_atom)
    assert not (env.public / "articles" / f"{gone_id}.html").exists()
    assert "already retracted" in env.feeds("retract", "harbour.txt").stdout
    assert env.feeds("status", "--json").stdout.count(gone_id) == 1

    assert "brought back" in env.feeds("retract", "--undo", f"articles/{gone_id}.html").stdout
    all_atom = (env.public / "feeds" / "all.atom").read_bytes()
    assert gone_entry in entry_ids(all_atom) and tombstones(all_atom) == {}
    page = (env.public / "articles" / f"{gone_id}.html").read_text(encoding="utf-8")
    assert "revised" in page
    assert not (env.public / "gone" / "articles" / f"{gone_id}.html").exists()
    assert env.status()["retractions"] == []


def test_an_unknown_target_is_refused_with_what_it_accepts(env: Env) -> None:
    env.drop("filler.txt", FILLERS[0])
    env.feeds("ingest")
    result = env.feeds("retract", "nothing-here.txt", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no stored article is named nothing-here.txt" in result.stderr
    assert "urn:uuid" in result.stderr


def test_pending_deliveries_drop_a_retracted_article(env: Env, smtp: SMTPRecorder) -> None:
    env.write_config(smtp={"host": "127.0.0.1", "port": smtp.port, "security": "none"},
                     ingest={"settle_seconds": 0.0})
    env.drop("harbour.txt", story("Harbour works resume in Syria", "Latakia", 2))
    env.feeds("ingest")
    env.feeds("subscribers", "add", "ada@example.org", "--topics", "syria")
    env.drop("aid.txt", story("Aid convoy reaches Syria border town", "Daraa", 4))
    env.drop("quake.txt", story("Earthquake shakes northern Syria villages", "Afrin", 5))
    env.feeds("ingest")
    aid, _ = ids_of("aid.txt")
    quake, _ = ids_of("quake.txt")
    store = Store.for_config(load_config(env.config))
    try:  # two digests planned and not yet sent (the mail server was down, say)
        store.create_deliveries("daily", "daily@1", [("ada@example.org", [aid, quake], 3,
                                                      "<m1@example.org>")], datetime.now(UTC))
        store.create_deliveries("daily", "daily@2", [("ada@example.org", [aid], 3,
                                                      "<m2@example.org>")], datetime.now(UTC))
        env.feeds("retract", "aid.txt")
        pending = {d.run: d.item_ids for d in store.deliveries("ada@example.org")}
    finally:
        store.close()
    assert pending == {"daily@1": (quake,)}  # the one left with nothing is gone
    env.feeds("digest", "send", "--schedule", "daily")
    assert len(smtp.messages) == 1
    sent = smtp.messages[0].decode("utf-8", "replace")
    assert "Earthquake shakes" in sent and "Aid convoy" not in sent


def test_an_editor_takes_an_article_down_in_its_file(env: Env) -> None:
    """A first line `RETRACTED: reason` (any format), or a `retracted` front-matter or JSON
    field, retracts as `feeds retract` does; taking the line out again does not bring the
    article back (a takedown is undone on purpose, with --undo)."""
    text = story("Harbour works resume in Syria", "Latakia", 2)
    path = env.drop("harbour.txt", text)
    env.drop("filler-0.txt", FILLERS[0])
    env.feeds("ingest")
    gone_id, gone_entry = ids_of("harbour.txt")
    assert gone_entry in entry_ids((env.public / "feeds" / "syria.atom").read_bytes())

    path.write_text("RETRACTED: Figures were wrong\n\n" + text, encoding="utf-8")
    out = env.feeds("ingest").stdout
    assert "1 retracted" in out
    document = (env.public / "feeds" / "syria.atom").read_bytes()
    assert gone_entry not in entry_ids(document)
    assert tombstones(document)[gone_entry].findtext(f"{AT}comment") == "Figures were wrong"
    assert not (env.public / "articles" / f"{gone_id}.html").exists()
    assert env.status()["retractions"][0]["reason"] == "Figures were wrong"

    path.write_text(text, encoding="utf-8")  # the line taken out again
    env.feeds("ingest")
    assert gone_entry not in entry_ids((env.public / "feeds" / "syria.atom").read_bytes())

    env.drop("note.md", "---\ntitle: Port fees rise in Latakia\nretracted: true\n---\n"
             "The port of Latakia raised its fees on Monday, officials in Syria said.\n")
    env.drop("wire.json", json.dumps({
        "title": "Customs office opens in Tartus", "retracted": "Duplicate of an earlier story",
        "body": "A customs office opened in Tartus on Monday, officials in Syria said."}))
    env.feeds("ingest")
    listed = entry_ids((env.public / "feeds" / "all.atom").read_bytes())
    assert ids_of("note.md")[1] not in listed and ids_of("wire.json")[1] not in listed
    reasons = {r["key"]: r["reason"] for r in env.status()["retractions"]}
    assert reasons == {"harbour.txt#0": "Figures were wrong", "note.md#0": "",
                       "wire.json#0": "Duplicate of an earlier story"}
    [report] = env.explain(env.drop("again.txt", "RETRACTED\n\n" + FILLERS[0]))
    assert report["articles"][0]["retracted"] == ""
