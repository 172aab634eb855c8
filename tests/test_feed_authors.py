"""Who an entry says wrote it: its byline (author and source) when it has one; without one
the entry names nobody and has the feed's author (RFC 4287 4.2.1; JSON Feed 1.1 likewise),
in the current feeds and in their archive pages."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

from tests.conftest import Env

ATOM = "{http://www.w3.org/2005/Atom}"
# (file, text, the author an entry names; None: none of its own)
REPORTS = [
    ("bylined.md", "---\ntitle: Aleppo bakeries reopen\nauthor: Omar Fayed\nsource: Nile Desk\n"
     "date: 2026-03-01T08:00:00Z\n---\n\nBakeries in Aleppo, Syria, reopened on Monday after "
     "flour deliveries resumed, the city council said.\n", "Omar Fayed, Nile Desk"),
    ("sourced.txt", "Homs schools reopen\n\nPublished: 2 March 2026 08:00 GMT\n\nHOMS "
     "(Levant Report) - Schools in Homs, Syria, reopened on Tuesday after repairs to their "
     "roofs, the education ministry said.\n", "Levant Report"),
    ("bare.txt", "Hama market rebuilt\n\nPublished: 3 March 2026 08:00 GMT\n\nThe covered "
     "market of Hama in Syria was rebuilt and opened to traders on Wednesday, officials "
     "said.\n", None),
]


def entry_authors(path: Path) -> tuple[str | None, dict[str, list[str]]]:
    """The feed's author and each entry's (by title)."""
    root = ElementTree.parse(path).getroot()
    feed_author = root.findtext(f"{ATOM}author/{ATOM}name")
    return feed_author, {
        entry.findtext(f"{ATOM}title") or "": [
            name.text or "" for name in entry.iterfind(f"{ATOM}author/{ATOM}name")]
        for entry in root.iterfind(f"{ATOM}entry")}


def published(env: Env, entries: int = 50) -> None:
    env.write_config(feeds={"entries": entries})
    for name, text, _author in REPORTS:
        env.drop(name, text)
    env.feeds("ingest")


def expected() -> dict[str, list[str]]:
    titles = {"bylined.md": "Aleppo bakeries reopen", "sourced.txt": "Homs schools reopen",
              "bare.txt": "Hama market rebuilt"}
    return {titles[name]: [author] if author else [] for name, _text, author in REPORTS}


def test_an_entry_names_its_byline_or_no_one_and_the_feed_names_the_site(env: Env) -> None:
    published(env)
    for slug in ("all", "syria"):
        feed_author, authors = entry_authors(env.public / "feeds" / f"{slug}.atom")
        assert feed_author == "feeds newsroom"
        assert authors == expected()


def test_json_feed_items_name_the_same_authors(env: Env) -> None:
    published(env)
    data = json.loads((env.public / "feeds" / "syria.json").read_text(encoding="utf-8"))
    assert data["authors"] == [{"name": "feeds newsroom"}]
    got = {item["title"]: [a["name"] for a in item.get("authors", [])] for item in data["items"]}
    assert got == expected()


def test_archive_pages_name_the_same_authors(env: Env) -> None:
    published(env, entries=1)
    pages = sorted((env.public / "feeds" / "syria").glob("archive-*.atom"))
    assert len(pages) == 3  # each page one entry: the current feed repeats the newest
    found: dict[str, list[str]] = {}
    for path in [*pages, env.public / "feeds" / "syria.atom"]:
        feed_author, authors = entry_authors(path)
        assert feed_author == "feeds newsroom"
        found.update(authors)
    assert found == expected()
