"""Article + topic rules -> the topics it belongs to, each with the evidence that decided it.

A rule set (config.toml `[topics.SLUG]`) has weighted terms, groups that must each match at
least once (anywhere, or in the title or lead: news names its subject up front), exclusions,
and extra weight for terms in the title and the lead. Terms match whole
words, case-insensitively; a trailing `*` matches any ending ("negotiat*"), and spaces in a
phrase match any run of spaces or hyphens.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from feeds.config import TopicConfig
from feeds.models import Article, TopicMatch


@dataclass(frozen=True, slots=True)
class Term:
    """A term: its pattern (compiled at first use), and a plain substring every match
    contains, so the pattern only runs on texts that hold that substring (most texts hold few
    of the terms).

    The pattern starts with the term's own letters; that a match starts a word is checked
    here, not with a look-behind in the pattern: a pattern that opens with a look-behind is
    tried at every position of the text, one opening with letters jumps between occurrences
    of them (25x faster on a news article)."""

    text: str
    source: str  # the pattern; compiled when a text first holds `key` (`pattern`)
    key: str
    _compiled: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def pattern(self) -> re.Pattern[str]:
        """Compiled at first use: the default topics have 400-odd terms, and a command that
        classifies one file (`feeds explain`) meets a few of their keys; compiling them all
        up front took 8 of its ~320 ms."""
        pattern = self._compiled
        if pattern is None:
            pattern = re.compile(self.source)
            object.__setattr__(self, "_compiled", pattern)
        return pattern

    def _matches(self, haystack: str) -> Iterator[int]:
        """Where whole-word matches start, left to right, not overlapping (as findall)."""
        if self.key not in haystack:
            return
        search = self.pattern.search
        pos = 0
        while (found := search(haystack, pos)) is not None:
            start = found.start()
            before = haystack[start - 1] if start else " "
            if before.isalnum() or before == "_":  # inside a word: try one further on
                pos = start + 1
                continue
            yield start
            pos = found.end()

    def search(self, haystack: str) -> bool:
        return next(self._matches(haystack), None) is not None

    def count(self, haystack: str) -> int:
        return sum(1 for _ in self._matches(haystack))


def compile_term(term: str) -> Term:
    term = term.strip().lower()
    wildcard = term.endswith("*")
    words = [p for p in re.split(r"[\s-]+", term.rstrip("*")) if p]
    body = r"[\s\-]+".join(map(re.escape, words)).replace("'", "['’]").replace("’", "['’]")
    tail = r"[\w'’-]*" if wildcard else r"(?:['’]s)?(?![\w])"
    key = re.split(r"['’]", words[0])[0] if words else ""
    return Term(term, rf"{body}{tail}", key)


@dataclass(frozen=True, slots=True)
class Rules:
    slug: str
    threshold: float
    title_weight: float
    lead_weight: float
    lead_words: int
    reference_words: int
    terms: tuple[tuple[str, float, Term], ...]
    groups: tuple[tuple[tuple[str, Term], ...], ...]
    lead_groups: tuple[tuple[tuple[str, Term], ...], ...]
    exclude: tuple[tuple[str, Term], ...]

    @classmethod
    def from_config(cls, slug: str, topic: TopicConfig) -> Rules:
        return cls(
            slug=slug, threshold=topic.threshold, title_weight=topic.title_weight,
            lead_weight=topic.lead_weight, lead_words=topic.lead_words,
            reference_words=topic.reference_words,
            terms=tuple((t, w, compile_term(t)) for t, w in topic.terms.items()),
            groups=_groups(topic.require),
            lead_groups=_groups(topic.require_in_lead),
            exclude=tuple((t, compile_term(t)) for t in topic.exclude),
        )


def _groups(groups: list[list[str]]) -> tuple[tuple[tuple[str, Term], ...], ...]:
    return tuple(tuple((t, compile_term(t)) for t in group) for group in groups)


def _unmatched(groups: tuple[tuple[tuple[str, Term], ...], ...], text: str) -> list[str]:
    return [" | ".join(t for t, _ in group) for group in groups
            if not any(p.search(text) for _, p in group)]


def compile_rules(topics: Mapping[str, TopicConfig]) -> dict[str, Rules]:
    return {slug: Rules.from_config(slug, topic) for slug, topic in topics.items()}


@dataclass(frozen=True, slots=True)
class _Text:
    title: str
    lead: str
    rest: str
    everything: str
    head: str  # where a reader learns what the story is about: title, dateline, lead


class _Reading:
    """An article as the rules read it, cut once per lead length (topics share them)."""

    def __init__(self, article: Article) -> None:
        self.article = article
        self.body = " ".join(article.body)
        self.tokens = self.body.split(" ")
        self.words = max(1, len(self.body.split()))
        self._cuts: dict[int, _Text] = {}

    def text(self, lead_words: int) -> _Text:
        cut = self._cuts.get(lead_words)
        if cut is None:
            cut = self._cuts[lead_words] = self._cut(lead_words)
        return cut

    def _cut(self, lead_words: int) -> _Text:
        article = self.article
        lead = " ".join(self.tokens[:lead_words])
        rest = " ".join(self.tokens[lead_words:])
        # A title made from the first sentence is already in the lead: weighing it as a title
        # too would let that one sentence decide the topic.
        title = " ".join(filter(None, ["" if article.title_generated else article.title,
                                       article.standfirst or ""]))
        head = "\n".join(filter(None, [article.title, article.standfirst, article.dateline,
                                       lead]))
        return _Text(title.lower(), lead.lower(), rest.lower(), f"{title}\n{self.body}".lower(),
                     head.lower())


def score(article: Article, rules: Rules, reading: _Reading | None = None
          ) -> tuple[TopicMatch, bool]:
    """The topic's score with its evidence, and whether the article belongs to it."""
    reading = reading or _Reading(article)
    text = reading.text(rules.lead_words)
    # Past a typical story's length, mentions in the body count proportionally less: a long
    # piece that names Syria three times in passing is not about Syria.
    density = min(1.0, rules.reference_words / reading.words)
    total = 0.0
    evidence: list[str] = []
    for term, weight, matcher in rules.terms:
        if matcher.key not in text.everything:
            continue  # the cheap test first: most terms are absent from most articles
        in_title = matcher.count(text.title)
        in_lead = matcher.count(text.lead)
        in_rest = matcher.count(text.rest)
        count = in_title + in_lead + in_rest
        if not count:
            continue
        value = weight * ((rules.title_weight if in_title else 0.0)
                          + (rules.lead_weight if in_lead else 0.0)
                          + math.log2(1 + in_lead + in_rest) * density)
        total += value
        where = "title" if in_title else "lead" if in_lead else "body"
        evidence.append(f"{term}×{count} ({where}) {value:+.1f}")  # a negative weight: -
    missing = _unmatched(rules.groups, text.everything)
    not_lead = _unmatched(rules.lead_groups, text.head)
    vetoes = [t for t, p in rules.exclude if p.search(text.everything)]
    if missing:
        evidence.append("missing required: " + "; ".join(missing))
    if not_lead:
        evidence.append("not in the title or lead: " + "; ".join(not_lead))
    if vetoes:
        evidence.append("excluded by: " + ", ".join(vetoes))
    matched = total >= rules.threshold and not missing and not not_lead and not vetoes
    return TopicMatch(rules.slug, round(total, 3), rules.threshold, tuple(evidence)), matched


NAMED_BY_AUTHOR = "named in the article's front matter"  # the first evidence of such a topic


def named_by_author(matches: Iterable[TopicMatch]) -> tuple[str, ...]:
    """The topics of these (stored) matches that the article's own front matter named."""
    return tuple(m.slug for m in matches if m.evidence[:1] == (NAMED_BY_AUTHOR,))


def classify(article: Article, rules: Mapping[str, Rules]) -> list[TopicMatch]:
    """The topics the article belongs to, best first."""
    matches = []
    reading = _Reading(article)
    for topic in rules.values():
        match, matched = score(article, topic, reading)
        if matched:
            matches.append(match)
        elif topic.slug in article.topics:
            matches.append(TopicMatch(topic.slug, match.threshold, match.threshold,
                                      (NAMED_BY_AUTHOR, *match.evidence)))
    return sorted(matches, key=lambda m: (-m.score, m.slug))


def explain(article: Article, rules: Mapping[str, Rules]) -> list[TopicMatch]:
    """Every topic's score, matched or not, for `feeds explain`."""
    reading = _Reading(article)
    return sorted((score(article, topic, reading)[0] for topic in rules.values()),
                  key=lambda m: (-m.score, m.slug))
