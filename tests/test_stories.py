"""Same-event grouping on crafted reports (tests/data/stories/specifics), read the way feed
readers see it: the `rel="related"` links of all.atom. Each pair is two occurrences of one kind
of event in nearly the same words; what tells them apart is a specific both state."""

from __future__ import annotations

import shutil
from xml.etree import ElementTree

import pytest

from feeds.models import Article
from feeds.stories import signature
from feeds.stories.facts import Specifics
from tests.conftest import DATA, Env

ATOM = "{http://www.w3.org/2005/Atom}"
SPECIFICS = DATA / "stories" / "specifics"


def related_by_file(env: Env, *names: str) -> dict[str, set[str]]:
    """Ingest the files in one run; file name -> the file names its entry links as related."""
    for name in names:
        shutil.copy2(SPECIFICS / name, env.inbox / name)
    env.feeds("ingest")
    root = ElementTree.parse(env.public / "feeds" / "all.atom").getroot()
    title_of = {name: (SPECIFICS / name).read_text(encoding="utf-8").split("\n", 1)[0]
                for name in names}
    page, links = {}, {}
    for entry in root.findall(f"{ATOM}entry"):
        title = entry.findtext(f"{ATOM}title") or ""
        found = entry.findall(f"{ATOM}link")
        page[title] = next(ln.get("href") for ln in found if ln.get("rel") is None)
        links[title] = {ln.get("href") for ln in found if ln.get("rel") == "related"}
    name_of = {page[title]: name for name, title in title_of.items()}
    return {name: {name_of[href] for href in links[title_of[name]]} for name in names}


@pytest.mark.parametrize("pair", [("swap-115.txt", "swap-146.txt"),
                                  ("raid-jenin.txt", "raid-tubas.txt"),
                                  ("refinery-aug-14.txt", "refinery-aug-19.txt"),
                                  ("market-strike-tuesday.txt", "market-strike-saturday.txt"),
                                  ("activist-killed.txt", "activist-funeral.txt"),
                                  ("visit-announced.txt", "visit-made.txt")],
                         ids=["count of prisoners", "town", "day", "day of the week",
                              "a killing and the funeral", "a visit announced and made"])
def test_two_occurrences_told_alike_stay_two_stories(env: Env, pair: tuple[str, str]) -> None:
    assert related_by_file(env, *pair) == {pair[0]: set(), pair[1]: set()}


def test_one_swap_told_from_the_other_capital_joins_it_and_not_the_other_swap(
        env: Env) -> None:
    related = related_by_file(env, "swap-115.txt", "same-swap-other-capital.txt",
                              "swap-146.txt")
    assert related == {"swap-115.txt": {"same-swap-other-capital.txt"},
                       "same-swap-other-capital.txt": {"swap-115.txt"},
                       "swap-146.txt": set()}


def test_a_signature_keeps_the_specifics_the_report_states() -> None:
    text = (SPECIFICS / "swap-115.txt").read_text(encoding="utf-8").split("\n\n")
    mine = Specifics.of(signature(Article(title=text[0], body=tuple(text[1:]))))
    assert mine.lead_held == {115} and "chernihiv" in mine.places
    other = (SPECIFICS / "refinery-aug-19.txt").read_text(encoding="utf-8").split("\n\n")
    theirs = Specifics.of(signature(Article(title=other[0], body=tuple(other[1:]))))
    assert theirs.on == (None, 8, 19) and (8, 19) in theirs.dates
    assert not mine.conflicts(mine) and mine.conflicts(Specifics.of(signature(Article(
        title=text[0].replace("115", "146"), body=tuple(t.replace("115", "146")
                                                         for t in text[1:])))))


def test_a_letter_whose_lower_case_is_longer_moves_no_specific_out_of_the_lead() -> None:
    # "İ".lower() is two characters: the specifics are matched on a lower-cased copy, which
    # must keep every character where it is, or the date that ends the lead (its first 60
    # words) would seem to come after it
    body = ("The delegations met " * 19 + "on March 3.", "Officials spoke later. " * 20)
    plain = Specifics.of(signature(Article(title="TALKS IN IZMIR", body=body)))
    dotted = Specifics.of(signature(Article(title="TALKS IN İZMİR İİİİİİİİİİİİ", body=body)))
    assert plain.on == dotted.on == (None, 3, 3)


def test_a_capitalised_word_counts_double_except_where_it_starts_a_sentence() -> None:
    def weight(body: str) -> float:
        return signature(Article(title="x", body=(body,)))["harbour"]
    # the same word, as a name mid-sentence, against the start of a sentence or the text
    assert weight("Ships left the Harbour yesterday.") > weight("Ships left. Harbour shut.")
    assert weight("Harbour shut.") == weight("Ships left. Harbour shut.")
    assert weight('He said "Harbour" twice.') == weight("Harbour shut.")
