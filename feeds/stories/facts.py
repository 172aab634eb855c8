"""The specifics of one occurrence: what tells two events of one kind apart.

Two prisoner swaps by the same mediator, raids on two towns, strikes on one refinery five days
apart share nearly all their words; they differ in their specifics: the day (or the day of the
week), the year, the counts (prisoners, casualties), the places below country level, and
whether it is the funeral that follows a killing or the announcement of a visit to come. Each
report's specifics are kept in its stored signature under keys no word can have ("#on:…",
"#held:…"), so nothing is added to the store. Two reports that both state a specific and
disagree on it are two occurrences whatever their words say (a veto)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from feeds.models import FACT_PREFIX as PREFIX

_MONTH_NUMBER = {name: n for n, names in enumerate((
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
    ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
    ("oct", "october"), ("nov", "november"), ("dec", "december")), 1) for name in names}
_MONTH = (r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?"
          r"|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DATE = re.compile(
    rf"\b(?:(?P<day1>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+|/|-)(?:of\s+)?{_MONTH.replace('month', 'm1')}"
    rf"(?:,?(?:\s+|/|-)(?P<year1>(?:19|20)\d\d))?"
    rf"|{_MONTH.replace('month', 'm2')}\s+(?P<day2>\d{{1,2}})(?:st|nd|rd|th)?\b"
    rf"(?:,?\s+(?P<year2>(?:19|20)\d\d))?"
    r"|(?P<year3>(?:19|20)\d\d)-(?P<m3>[01]\d)-(?P<day3>[0-3]\d))\b")
_WEEKDAY = re.compile(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b")
_WEEKDAY_NUMBER = {name: n for n, name in enumerate(
    "monday tuesday wednesday thursday friday saturday sunday".split())}
# a funeral told of up front: the follow-up of a killing, an occurrence of its own
_FUNERAL = re.compile(r"\b(?:funerals?|pallbearers|caskets?|coffins?|burial|buried|laid to rest)\b")
# a visit or meeting told of as ahead in the title or the first sentence: an announcement,
# an occurrence of its own (the visit itself is another)
_AHEAD = re.compile(r"\b(?:will|to|set to|expected to|plans? to|due to)\s+(?:visit|host|meet"
                    r"|travel|attend|receive|welcome|fly)\b")
_NUMBER_WORDS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
# a count of people held or exchanged, or of people killed or hurt
_COUNT = re.compile(
    r"(?<![\w.,])(?P<n>\d{1,3}(?:,\d{3})+|\d+|" + "|".join(_NUMBER_WORDS) + r")"
    r"(?:\s+(?:more|other|further|ukrainian|russian|palestinian|israeli|syrian|wounded"
    r"|severely|seriously|badly|military|civilian|of\s+(?:its|their|our)))*"
    r"\s+(?P<noun>prisoners?|pows?|captives?|detainees?|soldiers?|servicem[ae]n|troops"
    r"|defenders|hostages?|people|persons|palestinians|civilians|children|bodies"
    r"|journalists|militants|fighters)\b")
_CAPTIVE = frozenset("prisoner prisoners pow pows captive captives detainee detainees soldier "
                     "soldiers serviceman servicemen troops defenders hostage hostages".split())
# a place below country level: a capitalised name after a preposition of place
_PLACE = re.compile(
    r"\b(?:(?:in|at|near|outside|into|on|from)\s+(?:the\s+)?|(?:city|town|village|camp|port"
    r"|region|province|district|governorate|oblast)\s+of\s+)"
    r"(?P<place>[A-Z][\w'’-]+(?:\s+(?:al|el|de)?-?[A-Z][\w'’-]+)?)")
# names a report gives that say nothing about one occurrence's place
_WIDE = frozenset("""
afghanistan africa america american arab asia australia austria bahrain belarus belgium brazil
britain canada china cyprus east egypt egyptian europe european france gaza germany greece
india iran iraq ireland israel israeli italy japan jordan kuwait lebanon libya middle moscow
north oman pakistan palestine poland qatar russia russian saudi south spain strip sudan sweden
switzerland syria syrian tehran turkey turkiye türkiye uae ukraine ukrainian united us usa
washington west western yemen al-
january february march april may june july august september october november december monday
tuesday wednesday thursday friday saturday sunday the this that his her their its president
minister prime king prince crown secretary general chief leader army forces police ministry
house council court hospital telegram media state street camp city town updated published
""".split())
# how far apart (days) the days two reports of one occurrence give can be
DAY_SLACK = 1
# how much more than the other report's a casualty count can be (tolls rise as news comes in)
TOLL_RATIO = 2.5


def _fold(text: str) -> str:
    """The text in lower case, character for character, so that a place in it is the same
    place in the text. The patterns above are written in lower case and matched against it:
    about twice as fast as matching the text with re.IGNORECASE."""
    folded = text.lower()
    if len(folded) == len(text):
        return folded
    return "".join(low if len(low := c.lower()) == 1 else c for c in text)  # e.g. "İ"


def _number(text: str) -> int:
    return _NUMBER_WORDS[text] if text in _NUMBER_WORDS else int(text.replace(",", ""))


def _dates(folded: str) -> Iterable[tuple[int, int | None, int, int]]:
    """Each day the text names (given _fold-ed): (where it starts, year or None, month,
    day)."""
    for match in _DATE.finditer(folded):
        year: int | None
        if match.group("year3"):
            year, month, day = int(match["year3"]), int(match["m3"]), int(match["day3"])
        else:
            name = (match["m1"] or match["m2"]).rstrip(".")
            month = _MONTH_NUMBER[name[:3]]
            day = int(match["day1"] or match["day2"])
            found = match["year1"] or match["year2"]
            year = int(found) if found else None
        if 1 <= month <= 12 and 1 <= day <= 31:
            yield match.start(), year, month, day


def specific_terms(title: str, lead: str, rest: str, published: datetime | None
                   ) -> dict[str, float]:
    """The specifics of a report, as signature keys: "#on:" the day it tells of (its own date,
    else the first date its title or lead gives), "#date:" every day it names,
    "#weekday:" the first day of the week its title or lead names (0 Monday), "#funeral" when
    they tell of a funeral, "#ahead" when its title or first sentence tells of a visit to come,
    "#held:" counts of people held or exchanged anywhere, "#leadheld:"/"#leadtoll:" those and
    counts of people killed or hurt up front, "#place:"/"#leadplace:" places below country
    level anywhere / up front."""
    out: dict[str, float] = {}
    head, text = f"{title}\n{lead}", f"{title}\n{lead}\n{rest}"
    up_front = len(head)  # one pass over the text: a match starting before this is up front
    folded = _fold(text)
    folded_head, folded_lead = folded[:up_front], folded[len(title) + 1:up_front]
    on = published.date().isoformat() if published is not None else None
    for start, year, month, day in _dates(folded):
        if on is None and start < up_front:
            on = f"{year:04d}-{month:02d}-{day:02d}" if year else f"{month:02d}-{day:02d}"
        out[f"{PREFIX}date:{month:02d}-{day:02d}"] = 1.0
    if on:
        out[f"{PREFIX}on:{on}"] = 1.0
    if _AHEAD.search(folded, 0, len(title)) or _AHEAD.search(folded_lead.split(". ", 1)[0]):
        out[f"{PREFIX}ahead"] = 1.0
    if _FUNERAL.search(folded_head):
        out[f"{PREFIX}funeral"] = 1.0
    weekday = _WEEKDAY.search(folded_head)
    if weekday:
        out[f"{PREFIX}weekday:{_WEEKDAY_NUMBER[weekday[1]]}"] = 1.0
    for match in _COUNT.finditer(folded):
        kind = "held" if match["noun"] in _CAPTIVE else "toll"
        value = _number(match["n"])
        if kind == "held":  # a toll is compared up front only
            out[f"{PREFIX}held:{value}"] = 1.0
        if match.start() < up_front:
            out[f"{PREFIX}lead{kind}:{value}"] = 1.0
    for match in _PLACE.finditer(text):
        for word in match["place"].replace("’", "'").lower().split():
            word = word.removesuffix("'s").strip("'-")
            if len(word) > 2 and word not in _WIDE:
                out[f"{PREFIX}place:{word}"] = 1.0
                if match.start() < up_front:
                    out[f"{PREFIX}leadplace:{word}"] = 1.0
    return out


@dataclass(frozen=True, slots=True)
class Specifics:
    """One report's specifics, read back from its signature's "#" keys."""

    on: tuple[int | None, int, int] | None
    dates: frozenset[tuple[int, int]]
    held: frozenset[int]
    lead_held: frozenset[int]
    lead_toll: frozenset[int]
    places: frozenset[str]
    lead_places: frozenset[str]
    words: frozenset[str]  # its places and the words of its signature
    ahead: bool = False  # whether it tells of a visit or meeting to come, up front
    funeral: bool = False  # whether it tells of a funeral up front
    weekday: int | None = None  # the first day of the week it names up front (0 Monday)

    @classmethod
    def of(cls, terms: Mapping[str, float]) -> Specifics:
        return cls.split(terms)[1]

    @classmethod
    def split(cls, terms: Mapping[str, float]) -> tuple[dict[str, float], Specifics]:
        """A signature's words (without its specifics) and its specifics, in one pass: a
        report is split like this for every candidate it is compared with."""
        words: dict[str, float] = {}
        found: dict[str, set[str]] = {}
        for key, weight in terms.items():
            if key.startswith(PREFIX):
                kind, _colon, value = key[1:].partition(":")
                found.setdefault(kind, set()).add(value)
            else:
                words[key] = weight

        def numbers(kind: str) -> frozenset[int]:
            return frozenset(int(v) for v in found.get(kind, ()) if v.isdigit())
        on = None
        for value in found.get("on", ()):
            parts = [int(p) for p in value.split("-")]
            on = (parts[0], parts[1], parts[2]) if len(parts) == 3 else (None, parts[0], parts[1])
        dates = frozenset((int(v[:2]), int(v[3:])) for v in found.get("date", ()))
        places = frozenset(found.get("place", ()))
        weekdays = numbers("weekday")
        specifics = cls(on, dates, numbers("held"), numbers("leadheld"),
                        numbers("leadtoll"), places,
                        frozenset(found.get("leadplace", ())), places.union(words),
                        "ahead" in found, "funeral" in found,
                        min(weekdays) if weekdays else None)
        return words, specifics

    def conflicts(self, other: Specifics) -> bool:
        """Whether the two reports state a specific and disagree on it (or one tells of a
        funeral, or of a visit to come, up front and the other does not)."""
        return (_days_apart(self, other) or _counts_apart(self.lead_held, other.held,
                                                         other.lead_held, self.held)
                or _tolls_apart(self.lead_toll, other.lead_toll)
                or _places_apart(self, other) or _weekdays_apart(self, other)
                or self.funeral != other.funeral or self.ahead != other.ahead)


def _day_number(year: int, month: int, day: int) -> int | None:
    try:
        return date(year, month, day).toordinal()
    except ValueError:
        return None


def _days_apart(a: Specifics, b: Specifics) -> bool:
    """Both reports tell of a day, and no day one of them names is near the other's."""
    if a.on is None or b.on is None:
        return False
    (year_a, month_a, day_a), (year_b, month_b, day_b) = a.on, b.on
    if year_a is not None and year_b is not None:
        first, second = _day_number(year_a, month_a, day_a), _day_number(year_b, month_b, day_b)
        if first is not None and second is not None and abs(first - second) > DAY_SLACK:
            return True
    if _near(a.on, b.dates) or _near(b.on, a.dates):
        return False
    return _month_day_apart((month_a, day_a), (month_b, day_b))


def _weekday_of(a: Specifics) -> int | None:
    """The day of the week a report tells of: the one it names up front, else its day's."""
    if a.weekday is not None or a.on is None or a.on[0] is None:
        return a.weekday
    number = _day_number(a.on[0], a.on[1], a.on[2])
    return None if number is None else date.fromordinal(number).weekday()


def _weekdays_apart(a: Specifics, b: Specifics) -> bool:
    """Both reports tell of a day of the week up front (or of a full date), further apart
    than reports of one occurrence can be."""
    first, second = _weekday_of(a), _weekday_of(b)
    if first is None or second is None:
        return False
    gap = abs(first - second)
    return min(gap, 7 - gap) > DAY_SLACK


def _near(on: tuple[int | None, int, int], dates: frozenset[tuple[int, int]]) -> bool:
    return any(not _month_day_apart((on[1], on[2]), named) for named in dates)


def _month_day_apart(a: tuple[int, int], b: tuple[int, int]) -> bool:
    first = _day_number(2001, *a) if a != (2, 29) else _day_number(2001, 2, 28)
    second = _day_number(2001, *b) if b != (2, 29) else _day_number(2001, 2, 28)
    if first is None or second is None:
        return False
    gap = abs(first - second)
    return min(gap, 365 - gap) > DAY_SLACK


def _counts_apart(lead_a: frozenset[int], all_b: frozenset[int], lead_b: frozenset[int],
                  all_a: frozenset[int]) -> bool:
    """Both say up front how many people were held or exchanged, and neither count is one the
    other report gives anywhere."""
    return bool(lead_a and lead_b) and not (lead_a & all_b) and not (lead_b & all_a)


def _tolls_apart(a: frozenset[int], b: frozenset[int]) -> bool:
    """Both give a toll up front, and every pair is further apart than tolls rise."""
    return bool(a and b) and all(max(x, y) > TOLL_RATIO * max(1, min(x, y))
                                 for x in a for y in b)


def _places_apart(a: Specifics, b: Specifics) -> bool:
    """Both name a place up front, and neither's is named anywhere in the other (among its
    places or its words)."""
    return (bool(a.lead_places and b.lead_places) and not (a.lead_places & b.words)
            and not (b.lead_places & a.words))
