"""Wire copy: plain text the way editors paste it.

The parser works line by line on one story at a time: a header zone (title, a date glued to it,
byline, date line, captions printed twice, a standfirst, stray tokens like "TT") and then the body,
whose first paragraph may open with a dateline such as "MOSCOW (Reuters) -". Files holding
several stories are split first (see `split_stories`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from feeds.articles import clean
from feeds.articles.datelines import match_dateline, opens_with_speaker
from feeds.language import split_sentences
from feeds.models import Article

_DATE_PREFIX = re.compile(
    rf"^(?:date\s*[:\-]?\s*)?(?P<date>{clean.DATE_TOKEN})\s*[-–—|:]?\s+(?P<rest>\S.*)$", re.I
)
_BYLINE = re.compile(r"^(?:by|written by|words by)\s+(?P<rest>\S.{0,120})$", re.I)
_NAME_PARTICLES = {"al", "bin", "bint", "ibn", "de", "del", "della", "van", "von", "der", "da",
                   "dos", "du", "el", "la", "le", "and", "&"}
_SEPARATOR = re.compile(r"^[-*=_#~]{3,}$")


def match_byline(line: str) -> tuple[str, str | None] | None:
    """"By Kardo Roj" or "By Jane Doe | Reuters" -> (author, source or None)."""
    match = _BYLINE.match(line.strip())
    if not match:
        return None
    parts = re.split(r"\s*(?:\||,|;|\s[-–—]\s)\s*", match.group("rest"), maxsplit=1)
    name = parts[0].strip().rstrip(".")
    words = name.split()
    if not 1 <= len(words) <= 7:
        return None
    for word in words:
        bare = word.strip(".'’")
        if bare.lower() in _NAME_PARTICLES or bare.lower().startswith(("al-", "el-")):
            continue
        if not bare[:1].isupper():
            return None
    source = parts[1].strip() if len(parts) > 1 and parts[1].strip() else None
    return name, source


_TITLE_BREAKS = frozenset("""
for at in on with after as amid while which who that to from by over during since before
""".split())


def make_title(paragraph: str) -> str:
    """A readable title from the first sentence: its first clause when the sentence is long.

    Cut after a comma or dash between words 6 and 16; failing that, before a preposition or
    conjunction from word 10 on; failing that, after 14 words with an ellipsis.
    """
    sentences = split_sentences(paragraph)
    sentence = (sentences[0] if sentences else paragraph).strip().rstrip(".!;:,")
    words = sentence.split()
    if len(words) <= 16:
        return sentence
    for count in range(6, 17):
        word, following = words[count - 1], words[count]
        if word.endswith((",", ";", ":")) or following in {"–", "—", "-"}:
            return " ".join(words[:count]).rstrip(",;:")
    for count in range(10, 17):
        if words[count].lower() in _TITLE_BREAKS:
            return " ".join(words[:count])
    return " ".join(words[:14]).rstrip(",;:") + "…"


def _join_wrapped(lines: list[str]) -> list[str]:
    """Blank lines separate paragraphs; a hard-wrapped sentence is joined back together."""
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if not line:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        if current and ((len(current) >= 40 and not clean.ends_sentence(current))
                        or line[:1].islower()):
            glue = "" if current.endswith("-") and not current.endswith(" -") else " "
            current = current + glue + line
        else:
            if current:
                paragraphs.append(current)
            current = line
    if current:
        paragraphs.append(current)
    return paragraphs


@dataclass(slots=True)
class Meta:
    """What another format already knows about a story; the text fills in the rest."""

    title: str | None = None
    author: str | None = None
    source: str | None = None
    dateline: str | None = None
    published: datetime | None = None
    url: str | None = None
    topics: tuple[str, ...] = ()
    captions: list[str] = field(default_factory=list)
    retracted: str | None = None


def parse_story(lines: list[str], meta: Meta | None = None, received: datetime | None = None
                ) -> Article | None:
    """One story's lines ('' for a blank line) -> an Article, or None when no body is left.
    `received`: when the file arrived, the year of a dateline's "March 3"."""
    meta = meta or Meta()
    lines = [line.strip() for line in lines]
    title = meta.title
    author, source, published = meta.author, meta.source, meta.published
    captions = list(meta.captions)
    standfirst: str | None = None
    start = next((i for i, line in enumerate(lines) if line), len(lines))
    while title is None and start < len(lines):  # a page's stamp or menu entry is no title
        stamp, day = clean.stamp_line(lines[start])
        if not (stamp or (clean.lone_navigation(lines[start]) and any(lines[start + 1:]))):
            break
        published = published or day
        start = next((i for i in range(start + 1, len(lines)) if lines[i]), len(lines))
    if title is None and start < len(lines):
        first = lines[start]
        glued = _DATE_PREFIX.match(first)
        if glued and (date := clean.parse_date(glued.group("date"))):
            published = published or date
            first = lines[start] = glued.group("rest")
        rest_has_text = any(lines[start + 1:])
        if (rest_has_text and clean.looks_like_title(first) and not match_dateline(first)
                and not match_byline(first) and not clean.date_line(first)):
            title = first
            start += 1

    seen = {clean.key(title)} if title else set()
    seen.update(clean.key(c) for c in captions)
    body: list[str] = []
    in_body = False
    remaining = [i for i in range(start, len(lines)) if lines[i]]
    for position, index in enumerate(remaining):
        line = lines[index]
        if in_body and body and index > 0 and not lines[index - 1]:
            body.append("")
        line_key = clean.key(line)
        if line_key in seen or clean.is_junk(line):
            continue
        if clean.is_boilerplate(line):
            author = author or clean.reporters(line)
            continue
        if not in_body:
            byline = match_byline(line) if author is None else None
            if byline:
                author, source = byline[0], source or byline[1]
                continue
            date = clean.date_line(line)
            if date:
                published = published or date
                continue
            stamp, day = clean.stamp_line(line)
            if stamp:
                published = published or day
                continue
            if clean.is_caption(line, header=True):
                captions.append(line)
                seen.add(line_key)
                continue
            more_after = position + 1 < len(remaining)
            continues = index + 1 < len(lines) and lines[index + 1][:1].islower()
            if (title and standfirst is None and more_after and not continues
                    and clean.word_count(line) <= 40 and not clean.ends_sentence(line)
                    and not match_dateline(line)):
                standfirst = line
                seen.add(line_key)
                continue
            in_body = True
        elif clean.is_caption(line, header=False):
            captions.append(line)
            seen.add(line_key)
            continue
        seen.add(line_key)
        body.append(line)

    paragraphs = _join_wrapped(body)
    dateline = meta.dateline
    if paragraphs:
        # an interview's first answer ("LAVROV: We have …") is not a dateline: another
        # paragraph opens with a name and a colon too
        transcript = any(opens_with_speaker(p) for p in paragraphs[1:])
        found = match_dateline(paragraphs[0], opening=not transcript)
        if found:
            dateline = dateline or found.place or None
            source = source or found.source
            if found.when and published is None:
                published = (clean.parse_date(found.when)
                             or clean.resolve_day(found.when, received))
            paragraphs[0] = found.rest
    paragraphs = [p for p in paragraphs if p]
    if not paragraphs or sum(clean.word_count(p) for p in paragraphs) < 3:
        return None
    generated = title is None
    if title is None:
        title = make_title(paragraphs[0])
    return Article(
        title=title,
        body=tuple(paragraphs),
        author=author,
        source=source,
        dateline=dateline,
        published=published,
        captions=tuple(clean.dedupe(captions)),
        standfirst=standfirst,
        url=meta.url,
        topics=meta.topics,
        title_generated=generated,
        retracted=meta.retracted,
    )


def _header_signal(lines: list[str]) -> bool:
    """Does this chunk open like a story of its own (repeated title, caption, byline, date)?"""
    filled = [line for line in lines if line][:10]
    if not filled:
        return False
    title_key = clean.key(filled[0])
    if any(clean.key(line) == title_key for line in filled[1:]):
        return True
    for line in filled[1:6]:
        if (clean.is_caption(line, header=True) or match_byline(line) or clean.date_line(line)
                or match_dateline(line)):
            return True
    return False


def split_stories(text: str) -> list[list[str]]:
    """Cut a file into stories at wide gaps (2+ blank lines or a rule) before a title-like line.

    A gap alone is not enough, since some copy double-spaces paragraphs: the next chunk must
    open with a title and either follow a 3+ line gap or carry a header of its own.
    """
    chunks: list[tuple[int, list[str]]] = []  # (blank lines before the chunk, its lines)
    gap = 0
    current: list[str] = []
    current_gap = 0
    for raw in text.split("\n"):
        line = raw.strip()
        if _SEPARATOR.match(line):
            gap += 3
            continue
        if not line:
            gap += 1
            continue
        if gap >= 2 and current:
            chunks.append((current_gap, current))
            current, current_gap = [], gap
        elif gap and current:
            current.append("")
        gap = 0
        current.append(line)
    if current:
        chunks.append((current_gap, current))

    while chunks and (cut := clean.navigation_lines(chunks[0][1])):
        # a page's menus before its article: boilerplate, not a story of its own
        rest = chunks[0][1][cut:]
        while rest and not rest[0]:
            rest = rest[1:]
        if rest or len(chunks) == 1:
            chunks[0] = (chunks[0][0], rest or chunks[0][1])
            break
        chunks.pop(0)
    stories: list[list[str]] = []
    for index, (before, chunk) in enumerate(chunks):
        first = chunk[0]
        body_words = sum(clean.word_count(line) for line in chunk[1:])
        separate = (
            index > 0 and clean.looks_like_title(first) and body_words >= 30
            and not match_dateline(first)
            and (before >= 3 or _header_signal(chunk))
        )
        if stories and not separate:
            stories[-1].extend(["", *chunk])
        else:
            stories.append(list(chunk))
    return stories


def parse_text(text: str, meta: Meta | None = None, received: datetime | None = None
               ) -> list[Article]:
    """Plain text -> its stories. With a known title (`meta`), the text is one story.
    `received`: when the file arrived (see parse_story)."""
    text = clean.normalize(text)
    parts = [text.split("\n")] if meta and meta.title else split_stories(text)
    articles = []
    for index, lines in enumerate(parts):
        article = parse_story(lines, meta if index == 0 else None, received)
        if article is not None:
            articles.append(article)
    return articles
