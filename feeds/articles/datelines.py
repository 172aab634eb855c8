"""Datelines: where (and when, and from whom) wire copy says it was filed, at the head of its
first paragraph ("MOSCOW, Russia (North Press) – …", "DOHA, March 3 (Reuters) - …",
"(CNN) -- …", "Tehran, Iran - …", "KYIV: …", "دمشق، 2 ديسمبر (سانا) - …")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from feeds.articles import clean, months, places

_CAPITAL = "A-ZА-ЯЁІЇЄҐ"  # Latin and Cyrillic: "MOSCOW", "СТАМБУЛ", "КИЇВ"
_PLACE = rf"[{_CAPITAL}][{_CAPITAL}'’.\-]+(?:\s+[{_CAPITAL}][{_CAPITAL}'’.\-]+)*"
# "March 3", "3 March", "2 декабря", "2 грудня": no year
_DAY = rf"{clean.MONTHS}\s+\d{{1,2}}|\d{{1,2}}\s+{clean.MONTHS}|{months.DAY}"
_DATELINE = re.compile(
    rf"^(?P<place>{_PLACE}(?:,\s*(?!{clean.MONTHS}\s+\d)[{_CAPITAL}][\w'’.\-]*"
    rf"(?:\s+[{_CAPITAL}][\w'’.\-]*){{0,3}})?)"  # "MOSCOW, Russia"; "DOHA, Dec. 30" is a day
    rf"(?:,\s*(?P<when>{clean.DATE_TOKEN}|{_DAY}))?"
    r"\s*(?:\((?P<source>[^()]{1,40})\))?"
    r"\s*(?P<sep>[-–—:.])\s+(?P<rest>\S.*)$",
    re.S,
)
# Arabic has no capitals to tell a place from a sentence: a dateline names its day or its
# source ("دمشق، 2 ديسمبر (سانا) - ...", "الدوحة (رويترز) - ...").
_ARABIC_WORD = r"[\u0621-\u064A\u0671-\u06D3]+"
_ARABIC_DATELINE = re.compile(
    rf"^(?P<place>{_ARABIC_WORD}(?:\s+{_ARABIC_WORD}){{0,2}})"
    rf"(?:\s*[،,]\s*(?P<when>{months.DAY}))?"
    r"\s*(?:\((?P<source>[^()]{1,40})\))?"
    r"\s*[-–—:.]\s+(?P<rest>\S.*)$",
    re.S,
)
# A city in title case, then its country (one the list knows, as written or in capitals) and a
# dash: "Tehran, Iran - Hamas said …", "Damascus, Syria— On Monday …". A hyphen needs a space
# on both sides: "Tehran, Iran-backed groups said" is a sentence.
_COUNTRIES = frozenset(name.lower() for name in places.COUNTRIES)
_COUNTRY_DATELINE = re.compile(  # the country is looked up once matched (_COUNTRIES)
    r"^(?P<place>[A-Z][\w'’.\-]*(?:\s+[A-Z][\w'’.\-]*){0,2}),\s*"
    r"(?P<country>[A-Z][\w'’.\-]*(?:\s+(?:and\s+)?[A-Z][\w'’.\-]*){0,3})"
    r"\s*(?:\((?P<source>[^()]{1,40})\))?"
    r"(?:\s*[–—]\s*|\s+--?\s+|\s*--\s*)(?P<rest>\S.*)$",
    re.S,
)
# "KYIV: Russia and Ukraine said …", "Jeddah: Ukraine said …": a place and a colon open a body
# paragraph (MIN_COLON_WORDS words after it or more: "Gaza: Strikes kill 20" is a headline),
# unless the word is a label ("UPDATE:", "Analysis:")
_COLON_DATELINE = re.compile(
    rf"^(?P<place>{_PLACE}|[A-Z][a-z'’\-]+(?:\s+[A-Z][a-z'’\-]+)?):\s+(?P<rest>[A-Z“\"‘].*)$",
    re.S)
MIN_COLON_WORDS = 12
_SPEAKER = re.compile(r"^[A-Z][\w'’.\-]*(?:\s+[A-Z][\w'’.\-]*){0,3}:\s")
_LABELS = frozenset("""
update updated breaking watch exclusive analysis opinion editorial comment commentary note
live video videos photo photos picture pictures correction clarification warning alert flash
urgent source sources read related explainer factbox timeline interview review summary
disclaimer file tags keywords topics listen podcast transcript advertisement sponsored
background context highlights latest question answer today tonight yesterday monday
tuesday wednesday thursday friday saturday sunday january february march april may june july
august september october november december
""".split()) | {"breaking news", "editor's note", "fact check", "read more", "also read",
                "live updates", "editor’s note", "just in", "what we know", "key points"}
# "(CNN) -- Text", "(CNN)Text", "Omaha, Nebraska (the Heartland Project)When ...": a source in
# parentheses, perhaps after a place in title case, glued to the text or followed by a dash.
_SOURCE_FIRST = re.compile(
    r"^(?P<place>[A-Z][\w'’.\-]*(?:\s+[A-Z][\w'’.\-]*){0,3}(?:,\s*[A-Z][\w'’.\-]*"
    r"(?:\s+[A-Z][\w'’.\-]*){0,2})?)?\s*\((?P<source>[^()]{1,40})\)"
    r"(?:\s*(?:--|[-–—:])\s*|(?=[A-Z“\"‘']))(?P<rest>\S.*)$",
    re.S,
)


@dataclass(slots=True)
class Dateline:
    place: str
    source: str | None
    rest: str
    when: str | None = None  # "March 3", "Oct. 15, 2026": the day the dateline gives


def match_dateline(paragraph: str, *, opening: bool = False) -> Dateline | None:
    """"MOSCOW, Russia (North Press) – Text" -> place, source, the text after it.

    `opening`: the paragraph opens the body (below the title, if there is one). Only there are
    the looser forms a dateline (a title-case city with its country and a dash, a place and a
    colon): the same shapes on a line of their own are as often a headline ("Sudan: Hundreds
    killed as …", "Kharkiv, Ukraine – Life under the bombs")."""
    match = _DATELINE.match(paragraph)
    if match and len(match.group("place")) <= 48:
        source = match.group("source")
        if source is not None or match.group("sep") in "-–—":
            return Dateline(match.group("place").strip(), source and source.strip(),
                            match.group("rest"), match.group("when"))
    colon = _COLON_DATELINE.match(paragraph) if opening else None
    if (colon and colon.group("place").lower() not in _LABELS
            and clean.word_count(colon.group("rest")) >= MIN_COLON_WORDS):
        return Dateline(colon.group("place"), None, colon.group("rest"))
    titled = _COUNTRY_DATELINE.match(paragraph) if opening else None
    if titled and titled.group("country").lower() in _COUNTRIES:
        source = titled.group("source")
        return Dateline(f"{titled.group('place')}, {titled.group('country')}",
                        source and source.strip(), titled.group("rest"))
    arabic = _ARABIC_DATELINE.match(paragraph)
    if arabic and (arabic.group("when") or arabic.group("source")):
        source = arabic.group("source")
        return Dateline(arabic.group("place"), source and source.strip(), arabic.group("rest"),
                        arabic.group("when"))
    glued = _SOURCE_FIRST.match(paragraph)
    if glued and len(glued.group("source").split()) <= 5 and any(
            ch.isupper() for ch in glued.group("source")):
        place = (glued.group("place") or "").strip()
        return Dateline(place, glued.group("source").strip(), glued.group("rest"))
    return None


def opens_with_speaker(paragraph: str) -> bool:
    """Whether the paragraph opens with a name and a colon ("QUESTION: …", "LAVROV: …")."""
    return _SPEAKER.match(paragraph) is not None
