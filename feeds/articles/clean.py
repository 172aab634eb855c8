"""Text hygiene shared by every format: normalization, junk lines, captions, dates, dedupe."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

from dateutil import parser as dateparser

from feeds.articles import months

# XML 1.0 forbids these; they also have no place in a news article.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# a run of spaces that is not a single plain one (those stay as they are: replacing each of
# them with itself took half of normalize's time)
_OTHER_SPACE = r"\t\u00a0\u2000-\u200a\u202f\u205f\u3000"
_SPACES = re.compile(rf" [ {_OTHER_SPACE}]+|[{_OTHER_SPACE}][ {_OTHER_SPACE}]*")

TERMINAL = (".", "!", "?", "…", "\"", "”", "’", "'", "»", ":", ";")

_CREDIT_WORDS = (
    r"AFP|AP|Reuters|RT|EPA|Getty|SANA|Anadolu|Xinhua|TASS|Sputnik|WAFA|Shutterstock|"
    r"file|photo|Photo|image|Image|via|courtesy|Courtesy|handout|Handout|pool|Pool"
)
_CREDIT_TAIL = re.compile(rf"\((?:[^()]*\b)?(?:{_CREDIT_WORDS})\b[^()]*\)\s*$")
_ANY_PAREN_TAIL = re.compile(r"\([^()]{1,40}\)\s*$")
_CAPTION_HEAD = re.compile(r"^(?:photo|image|picture|caption|file photo|pictured)\s*[:|–—-]", re.I)
_CAPTION_PHOTO_TAIL = re.compile(r"[|–—-]\s*(?:photo|image|picture)\s*:\s*[^.]{1,60}$", re.I)

_BOILERPLATE = re.compile(
    r"^\(?(?:reporting|writing|editing|additional reporting|compiled) by\b.*$"
    r"|^(?:share this( article)?|read more|related( articles)?|advertisement|follow us on\b.*"
    r"|sign up\b.*newsletter.*|copyright\b.*|©.*|all rights reserved\.?)$",
    re.I,
)

MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
DATE_TOKEN = (
    r"(?:\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})?)?"
    rf"|\d{{1,2}}\s+{MONTHS}\s+\d{{4}}|{MONTHS}\s+\d{{1,2}},?\s+\d{{4}})"
)
_DATE_LINE = re.compile(
    rf"^(?:(?:date|dated|published|posted|updated|first published)\s*(?:on|at)?\s*[:\-]?\s*)?"
    rf"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+)?(?P<date>{DATE_TOKEN})"
    r"(?:,?\s+(?:at\s+)?\d{1,2}[:.]\d{2}(?:\s*[ap]\.?m\.?)?(?:\s*(?:UTC|GMT|[A-Z]{2,4}))?)?\s*$",
    re.I,
)


def normalize(text: str) -> str:
    """Unify line endings, drop forbidden and invisible characters, collapse spaces."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = _FORBIDDEN.sub("", _INVISIBLE.sub("", text))
    return "\n".join(line.strip() for line in _SPACES.sub(" ", text).split("\n"))


def word_count(text: str) -> int:
    return len(text.split())


def is_junk(line: str) -> bool:
    """Stray tokens wire systems leave behind: "TT", "##", a lone page number."""
    stripped = line.strip()
    if not stripped:
        return True
    if not any(ch.isalnum() for ch in stripped):
        return True
    short = len(stripped) <= 3 and not stripped.isdigit()
    return short and not any(ch.islower() for ch in stripped)


# what a page's menus say: a block of short lines with two of these is navigation, not a story
_NAVIGATION = re.compile(
    r"^(?:skip to (?:main )?content|skip navigation|connect with us|follow us|(?:main )?menu"
    r"|home(?:page)?|search|sign in|sign up|log ?in|log out|register|subscribe|newsletters?"
    r"|contact(?: us)?|about(?: us)?|privacy(?: policy)?|terms(?: of (?:use|service))?"
    r"|cookies?(?: policy| settings)?|advertise(?: with us)?|share|e-?mail|facebook|twitter|x"
    r"|instagram|youtube|linkedin|whatsapp|telegram|tiktok|rss|close|toggle navigation)$", re.I)


# what a page prints above its story on a line of its own: a time ("08:32", "21:00 GMT"), a
# date in figures ("03/25/2025", "25.03.2025 08:32"), or both
_STAMP = re.compile(
    r"^(?:(?P<first>\d{1,2})[/.](?P<second>\d{1,2})[/.](?P<year>(?:19|20)\d\d))?"
    r"(?:(?(year)[\s,|–—-]+|)(?:at\s+)?\d{1,2}[:.]\d{2}(?::\d{2})?(?:\s*[ap]\.?m\.?)?"
    r"(?:\s*(?:UTC|GMT|[A-Z]{2,4}))?)?$", re.I)


def stamp_line(line: str) -> tuple[bool, datetime | None]:
    """Whether a line is only a time or a date in figures (a page's stamp, not a title), and
    its day when it says which: day and month tell themselves apart only when one is above
    12 ("03/10/2025" is 3 October in one country and March 10 in another: no day)."""
    stripped = line.strip()
    found = _STAMP.match(stripped)
    if not stripped or found is None:
        return False, None
    if found["year"] is None:
        return True, None
    first, second, year = int(found["first"]), int(found["second"]), int(found["year"])
    if first > 12 >= second:
        day, month = first, second
    elif second > 12 >= first:
        day, month = second, first
    else:
        return True, None
    try:
        return True, datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return True, None


def lone_navigation(line: str) -> bool:
    """A line that is one menu entry alone ("Home", "Contact Us"), above a story."""
    return bool(_NAVIGATION.match(line.strip()))


def navigation_lines(lines: list[str]) -> int:
    """How many of the leading lines are a page's navigation block ("Skip to main content",
    menus, "Connect with us"): three or more short lines without a sentence's end, two of them
    a menu's words. 0 when they are not."""
    count = menu = 0
    for line in lines:
        stripped = line.strip()
        if not stripped:
            count += 1
            continue
        if word_count(stripped) > 4 or stripped.endswith((".", "!", "?", ",", ":", "\"", "”")):
            break
        count += 1
        menu += bool(_NAVIGATION.match(stripped))
    while count and not lines[count - 1].strip():
        count -= 1
    short = sum(1 for line in lines[:count] if line.strip())
    return count if short >= 3 and menu >= 2 else 0


_REPORTERS = re.compile(r"^\(?reporting by (?P<names>[^;()]+)", re.I)
_REPORTED_FROM = re.compile(r"\s+in\s+[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*)*")


def reporters(line: str) -> str | None:
    """Who reported it, from a wire credit line ("(Reporting by Ana Ribeiro in Lisbon and
    Rui Lopes; Editing by Tom Hale)" -> "Ana Ribeiro and Rui Lopes"): the byline of copy that
    has none of its own. Writers, editors and additional reporting are not the byline."""
    found = _REPORTERS.match(line.strip())
    if found is None:
        return None
    names = _REPORTED_FROM.sub("", found.group("names")).strip(" .,")
    return names if names and word_count(names) <= 12 else None


def is_boilerplate(line: str) -> bool:
    return word_count(line) <= 20 and bool(_BOILERPLATE.match(line.strip()))


def is_caption(line: str, *, header: bool) -> bool:
    """A photo caption: ends with a credit like "(AFP file)", or starts with "Photo:".

    Before the body starts, any short trailing parenthetical counts ("... Damascus (RT)");
    inside the body only a known credit word does, so "(SDF)" ending a sentence is safe.
    """
    if word_count(line) > 45:
        return False
    if _CAPTION_HEAD.match(line) or _CAPTION_PHOTO_TAIL.search(line):
        return True
    if _CREDIT_TAIL.search(line):
        return True
    return header and bool(_ANY_PAREN_TAIL.search(line))


def looks_like_title(line: str) -> bool:
    words = word_count(line)
    return (
        1 <= words <= 25
        and len(line) <= 220
        and not line.endswith((".", ",", ";", ":"))
        and not is_caption(line, header=True)
        and any(ch.isalpha() for ch in line)
    )


def ends_sentence(line: str) -> bool:
    return line.rstrip().endswith(TERMINAL)


_WORD = re.compile(r"\w+")


def key(line: str) -> str:
    """A comparison key: case, quotes and spacing do not make two lines different."""
    line = line.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(_WORD.findall(line))


def parse_date(value: str | datetime | None) -> datetime | None:
    """Any common date spelling to an aware UTC datetime; None when it is not a plausible date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        if not text.isascii():
            text = months.to_english(text) or text
        if not text or len(text) > 80 or not re.search(r"\d{4}", text):
            return None
        try:
            parsed = dateparser.parse(text)
        except (ValueError, OverflowError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if not 1970 <= parsed.year <= 2100:
        return None
    return parsed


def resolve_day(value: str, received: datetime | None) -> datetime | None:
    """A date written without its year ("March 3", "Oct. 15", "2 декабря"), as wire datelines
    write it: the latest such day at most a week after the day the file was received (copy
    filed on 30 December and read on 2 January is last year's; copy dated a few days ahead, an
    embargo, is this year's), at midnight UTC. None when it is not a day of the year, or
    nothing says which year. (`parse_file` then keeps the date from passing the arrival.)"""
    if received is None:
        return None
    if not value.isascii():
        value = months.to_english(value) or value
    latest = (received.astimezone(UTC) + timedelta(days=7)).date()
    for year in range(latest.year, latest.year - 5, -1):  # 29 February: back to a leap year
        try:
            day = dateparser.parse(value, default=datetime(year, 1, 1)).date()
        except (ValueError, OverflowError):
            continue
        if day.year == year and day <= latest:
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return None


_DATE_LABEL = re.compile(
    r"^(?:date|dated|published|posted|updated|first published)\s*(?:on|at)?\s*[:\-]?\s*", re.I
)


def date_line(line: str) -> datetime | None:
    """A line that is only a date ("Published: 17 April 2025 10:00 GMT")."""
    stripped = line.strip()
    if not _DATE_LINE.match(stripped):
        return None
    return parse_date(_DATE_LABEL.sub("", stripped))


def dedupe(lines: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for line in lines:
        k = key(line)
        if k and k not in seen:
            seen.add(k)
            out.append(line)
    return out
