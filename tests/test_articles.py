"""The parsers, through `feeds explain --json` (fixtures, seeds) and `parse_file` (formats)."""

from __future__ import annotations

import codecs
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.articles import is_candidate, parse_file
from feeds.errors import ParseError
from tests.conftest import DATA, SEEDS, Env, needs_shared, seed

FIXTURES = sorted(p for p in (DATA / "articles").iterdir()
                  if p.suffix in {".txt", ".md", ".json", ".html"}
                  and not p.name.endswith(".expected.json"))


@pytest.fixture(scope="module")
def explained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    env = Env(tmp_path_factory.mktemp("explain"))
    return {Path(r["path"]).name: r for r in env.explain(*FIXTURES)}


def check_article(article: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, want in expected.items():
        if key == "body_first":
            assert article["body"][0] == want
        elif key == "body_last":
            assert article["body"][-1] == want
        elif key == "body_count":
            assert len(article["body"]) == want, article["body"]
        elif key == "absent":
            for text in want:
                assert all(text not in p for p in article["body"]), (text, article["body"])
        else:
            assert article[key] == want, (key, article[key])


@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_quirk_fixture(fixture: Path, explained: dict[str, dict[str, Any]]) -> None:
    expected = json.loads(fixture.with_suffix(".expected.json").read_text(encoding="utf-8"))
    result = explained[fixture.name]
    assert result["error"] is None
    assert len(result["articles"]) == len(expected)
    for article, want in zip(result["articles"], expected, strict=True):
        check_article(article, want)


def test_every_fixture_is_documented() -> None:
    readme = (DATA / "articles" / "README").read_text(encoding="utf-8")
    for fixture in FIXTURES:
        assert fixture.name in readme
        assert fixture.with_suffix(".expected.json").exists()


# --- the five seeds (../shared/corpus/seeds) -------------------------------------------
@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    needs_shared(SEEDS)
    env = Env(tmp_path_factory.mktemp("seeds"))
    return {Path(r["path"]).name[:3]: r for r in env.explain(*sorted(SEEDS.iterdir()))}


def test_seed_000_byline_and_dateline(seeds: dict[str, dict[str, Any]]) -> None:
    [article] = seeds["000"]["articles"]
    assert article["title"] == ("Putin and Qatari Emir Pledge Support for Syrian Sovereignty "
                                "Amid Ongoing Challenges")
    assert article["author"] == "Kardo Roj"
    assert article["source"] == "North Press"
    assert article["dateline"] == "MOSCOW, Russia"
    assert article["body"][0].startswith("Russian President Vladimir Putin and Qatari Emir")
    assert not any(p.startswith(("By ", "MOSCOW")) for p in article["body"])


def test_seed_001_date_glued_to_title(seeds: dict[str, dict[str, Any]]) -> None:
    [article] = seeds["001"]["articles"]
    assert article["title"] == "Putin and Qatari emir discuss Syria and Gaza at Moscow talks"
    assert article["published"] == "2025-04-17T00:00:00+00:00"
    assert article["source"] == "Reuters"
    assert article["body"][0].startswith("Qatar's Emir Sheikh Tamim")


def test_seed_002_standfirst_is_not_body(seeds: dict[str, dict[str, Any]]) -> None:
    [article] = seeds["002"]["articles"]
    assert article["title"] == "Putin meets Syria’s new leader in Moscow"
    assert article["standfirst"] == "Talks focus on Russia’s military role and future influence"
    assert article["body"][0].startswith("Russian President Vladimir Putin met Syrian leader")
    assert all("Talks focus on" not in p for p in article["body"])


def test_seed_003_title_generated_from_first_sentence(seeds: dict[str, dict[str, Any]]) -> None:
    [article] = seeds["003"]["articles"]
    assert article["title_generated"] is True
    assert article["source"] == "Realist English"
    first_sentence = article["body"][0].split(". ")[0]
    assert article["title"] != article["body"][0]
    assert first_sentence.startswith(article["title"].rstrip("…"))
    assert 4 <= len(article["title"].split()) <= 16


def test_seed_004_two_stories_without_duplicates(seeds: dict[str, dict[str, Any]]) -> None:
    first, second = seeds["004"]["articles"]
    assert first["title"] == "Putin’s Message to Syria’s Al-Sharaa: A Step Toward Restoring Ties?"
    assert second["title"] == ("Syrian Govt Visits Notorious Al-Hol Camp for First Time Since "
                               "Kurds Deal")
    assert len(first["captions"]) == 1 and first["captions"][0].endswith("(RT)")
    assert second["captions"] == ["A view of the Al-Hol camp. (AFP file)"]
    for article in (first, second):
        body = article["body"]
        assert "TT" not in body
        assert article["title"] not in body
        assert not any(c in p for c in article["captions"] for p in body)
        assert len(body) == len(set(body))
    assert first["body"][0].startswith("Russian President Vladimir Putin has sent a message")
    assert second["body"][0].startswith("A Syrian government delegation visited")


# --- formats and encodings -------------------------------------------------------------
STORY = ("Ceasefire talks resume in Doha\n\nNegotiators met on Monday to discuss a truce. "
         "Officials said progress was slow but steady.\n")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom",
                                      "utf-16-be-bom"])
def test_unicode_encodings_with_and_without_bom(encoding: str) -> None:
    text = STORY.replace("Doha", "Doha – café “quoted”")
    if encoding == "utf-16-le-bom":
        data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    elif encoding == "utf-16-be-bom":
        data = codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    [article] = parse_file("story.txt", data)
    assert article.title == "Ceasefire talks resume in Doha – café “quoted”"
    assert article.body[0].startswith("Negotiators met on Monday")


WIRE = ("Talks resume\n\n{dateline} (Gulf Wire) - Negotiators met on Monday in the Qatari "
        "capital to discuss a truce and an exchange of prisoners, officials said.\n")


@pytest.mark.parametrize(("dateline", "received", "published"), [
    ("DOHA, March 3", "2026-03-10", "2026-03-03"),  # the year the file arrived in
    ("DOHA, Dec. 30", "2027-01-02", "2026-12-30"),  # days after it: the year before
    ("DOHA, March 17", "2026-03-10", "2026-03-10"),  # an embargo: 2026, held to arrival
    ("DOHA, March 18", "2026-03-10", "2025-03-18"),  # more: last year's
    ("DOHA, 29 Feb", "2027-01-05", "2024-02-29"),  # back to a leap year
    ("DOHA, Oct. 15, 2024", "2026-03-10", "2024-10-15"),  # a year given is kept
])
def test_a_dateline_day_takes_the_year_the_file_arrived_in(
        dateline: str, received: str, published: str) -> None:
    when = datetime.fromisoformat(received).replace(tzinfo=UTC)
    [article] = parse_file("story.txt", WIRE.format(dateline=dateline).encode(), when)
    assert article.published == datetime.fromisoformat(published).replace(tzinfo=UTC)
    assert article.dateline == "DOHA" and article.source == "Gulf Wire"
    assert article.body[0].startswith("Negotiators met on Monday")


COLON_BODY = ("Ministers from the two governments agreed on Thursday to reopen the border "
              "crossing for freight next month, officials said.")


@pytest.mark.parametrize(("first", "dateline"), [
    # a place and a colon open the body: the place is the dateline, the text is titled by
    # its own first sentence
    (f"NEW HAVENDALE: {COLON_BODY}", "NEW HAVENDALE"),
    (f"Westharbour: {COLON_BODY}", "Westharbour"),
    # a label is not a place
    (f"UPDATE: {COLON_BODY}", None),
    (f"Analysis: {COLON_BODY}", None),
])
def test_a_place_and_a_colon_opening_untitled_copy_is_its_dateline(
        first: str, dateline: str | None) -> None:
    [article] = parse_file("story.txt", f"{first}\n\nThe crossing closed in May.\n".encode())
    assert article.dateline == dateline
    assert article.body[0] == (first if dateline is None else COLON_BODY)
    start = first.split(": ")[0] + ": " if dateline is None else ""
    assert article.title.startswith(f"{start}Ministers from the two governments agreed")


@pytest.mark.parametrize("headline", [
    "Westharbour: Border crossing to reopen",
    # as long as a body paragraph, but a line of its own above one: a headline
    "Norvania: Hundreds stranded as floods cut the coast road, and aid groups warn of worse",
    "Westharbour, Norway – Life on the quay after the storm",
])
def test_a_headline_shaped_like_a_dateline_stays_the_title(headline: str) -> None:
    [article] = parse_file("story.txt", f"{headline}\n\n{COLON_BODY}\n".encode())
    assert article.title == headline
    assert article.dateline is None and article.body[0] == COLON_BODY


def test_two_stories_under_colon_headlines_stay_two() -> None:
    body = f"{COLON_BODY} {COLON_BODY} {COLON_BODY}"
    text = (f"Norvania: Hundreds stranded as floods cut the coast road, and aid groups warn of "
            f"worse\n\n{body}\n\n\n\n\nEastmark: Ministers agree to reopen the northern border "
            f"crossing for freight next month, officials say\n\n{body}\n")
    first, second = parse_file("story.txt", text.encode())
    assert first.title.startswith("Norvania: ") and second.title.startswith("Eastmark: ")


@pytest.mark.parametrize("opening", [
    "Background: The two countries have argued over the border for decades and the talks broke "
    "down in May.",
    "Monday: Ministers from the two governments met at the crossing and agreed to meet again "
    "within the month.",
])
def test_a_label_and_a_colon_opening_the_body_stay_in_it(opening: str) -> None:
    [article] = parse_file("story.txt", f"Border talks resume\n\n{opening}\n\n{COLON_BODY}\n"
                           .encode())
    assert article.dateline is None and article.body[0] == opening


def test_an_interviews_first_answer_is_not_a_dateline() -> None:
    answer = ("HALVORSEN: We have said many times that we are ready to talk on the basis of what "
              "was agreed in May.")
    text = (f"Interview with the minister\n\n{answer}\n\nQUESTION: What do you make of the "
            f"latest proposal?\n\n{COLON_BODY}\n")
    [article] = parse_file("story.txt", text.encode())
    assert article.dateline is None and article.body[0] == answer


def test_explain_dates_wire_copy_by_its_dateline(env: Env) -> None:
    path = env.drop("talks.txt", WIRE.format(dateline="DOHA, Nov. 28"))
    stamp = datetime(2026, 12, 1, 9, 30, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))
    [report] = env.explain(path)
    assert report["articles"][0]["published"] == "2026-11-28T00:00:00+00:00"
    # without a day in the dateline, the file's own time is used later (not the parser's)
    path.write_text(WIRE.format(dateline="DOHA"), encoding="utf-8")
    os.utime(path, (stamp, stamp))
    [report] = env.explain(path)
    assert report["articles"][0]["published"] is None


@pytest.mark.parametrize(("encoding", "title", "body"), [
    ("cp1252", "Café owners in Zürich protest new rules",
     "Owners of cafés said on Monday that the new rules were “unfair” and would cost them "
     "customers. The city’s council will debate the matter again next week, officials said."),
    ("cp1251", "Переговоры о перемирии возобновились в Стамбуле",
     "Делегации России и Украины встретились в понедельник, чтобы обсудить обмен пленными. "
     "Посредники заявили, что переговоры продолжатся на следующей неделе."),
    ("cp1256", "استئناف محادثات وقف إطلاق النار في الدوحة",
     "قال مسؤولون يوم الاثنين إن المفاوضين اجتمعوا لمناقشة هدنة في غزة. "
     "وأضافوا أن المحادثات ستستمر الأسبوع المقبل بمشاركة الوسطاء."),
])
def test_legacy_single_byte_encodings(encoding: str, title: str, body: str) -> None:
    [article] = parse_file("story.txt", f"{title}\n\n{body}\n".encode(encoding))
    assert article.title == title
    assert article.body == (body,)


def test_markdown_yaml_front_matter_overrides_text() -> None:
    data = ("---\ntitle: Aid convoy reaches Rafah\ndate: 2025-02-03 08:00\nauthor: Dana Levi\n"
            "source: Desk\nurl: https://example.org/a\ntopics: gaza, syria\n---\n"
            "Twenty trucks crossed on Monday, officials said.\n\nMore were expected.\n")
    [article] = parse_file("a.md", data.encode())
    assert (article.title, article.author, article.source) == ("Aid convoy reaches Rafah",
                                                               "Dana Levi", "Desk")
    assert article.published is not None and article.published.isoformat() == \
        "2025-02-03T08:00:00+00:00"
    assert article.url == "https://example.org/a"
    assert article.topics == ("gaza", "syria")


def test_json_single_object_and_wrapped_list() -> None:
    one = {"title": "One", "body": "A first article with enough words in it."}
    assert [a.title for a in parse_file("x.json", json.dumps(one).encode())] == ["One"]
    wrapped = {"articles": [one, {**one, "title": "Two"}]}
    assert [a.title for a in parse_file("x.json", json.dumps(wrapped).encode())] == ["One", "Two"]


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("empty.txt", b"", "empty file"),
    ("blank.txt", b"   \n\n  \t\n", "empty file"),
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    ("nul.txt", b"some text\x00\x00\x01\x02 more", "binary file"),
    ("bad.json", b'{"title": "x", "body": ', "not valid JSON"),
    ("nobody.json", b'{"title": "only a title"}', "has no body"),
    ("list.json", b"[]", "no articles"),
    ("front.md", b"---\ntitle: [unclosed\n---\nBody text here.\n", "front matter is not valid"),
    ("short.txt", b"Hi", "no usable text"),
    ("doc.pdf", b"%PDF-1.4 ...", "unsupported file type"),
])
def test_bad_input_is_a_parse_error_with_a_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_file(name, data)
    assert reason in caught.value.reason
    assert caught.value.path == name


@pytest.mark.parametrize(("name", "candidate"), [
    ("story.txt", True), ("a/b/story.md", True), ("x.json", True), ("page.htm", True),
    (".hidden.txt", False), ("story.txt~", False), ("story.txt.tmp", False),
    ("story.txt.part", False), (".story.txt.swp", False), ("story.docx", False),
])
def test_hidden_and_temporary_names_are_ignored(name: str, candidate: bool) -> None:
    assert is_candidate(Path(name).name) is candidate


# --- properties: untrusted bytes never crash a parser ----------------------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".txt", ".md", ".json", ".html"]))
def test_arbitrary_bytes_give_articles_or_a_parse_error(data: bytes, suffix: str) -> None:
    try:
        articles = parse_file("fuzz" + suffix, data)
    except ParseError as exc:
        assert exc.reason
        return
    assert articles
    for article in articles:
        assert article.title.strip() and article.body


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=1500), suffix=st.sampled_from([".txt", ".md", ".html"]))
def test_arbitrary_text_is_parsed_deterministically(text: str, suffix: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    try:
        first = parse_file("fuzz" + suffix, data)
    except ParseError:
        return
    assert parse_file("fuzz" + suffix, data) == first
    forbidden = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"}
    for article in first:
        for field in (article.title, *article.body, *article.captions):
            assert not forbidden & set(field)


def test_seeds_exist_for_the_shared_corpus() -> None:
    assert seed("000").name.startswith("000_")
