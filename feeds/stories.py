"""Articles -> stories: reports of the same event from different sources.

Each article gets a signature: its most telling words (names and places count double, title
words triple). A new article is compared only with articles that share a signature term within
a time window (the store keeps an index of terms), using an idf-weighted overlap; it joins the
story of its best match above the threshold, or starts its own. Nothing is recomputed for old
articles, so the cost of one article does not grow with the store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from feeds.language import STOPWORDS
from feeds.models import Article

_TOKEN = re.compile(r"[^\W_][\w'’-]*", re.UNICODE)
_GENERIC = frozenset("""
president minister government official officials people country countries state states city
week month day today monday tuesday wednesday thursday friday saturday sunday january february
march april june july august september october november december news report reports reported
time group leader leaders statement percent including former recent called told cnn reuters
""".split())


def _normal(token: str) -> str:
    token = token.lower().replace("’", "'")
    token = token.removesuffix("'s")
    return token.strip("'-")


def signature(article: Article, size: int = 30) -> tuple[str, ...]:
    """The article's story terms, most telling first."""
    counts: dict[str, float] = {}
    for weight, text in ((3.0, article.title), (1.0, " ".join(article.body))):
        for match in _TOKEN.finditer(text):
            token = _normal(match.group(0))
            if len(token) < 3 or token in STOPWORDS or token in _GENERIC or token.isdigit():
                continue
            before = text[max(0, match.start() - 3):match.start()].strip()
            starts_sentence = match.start() == 0 or before.endswith((".", "!", "?", "\"", "“"))
            entity = match.group(0)[:1].isupper() and not starts_sentence
            counts[token] = counts.get(token, 0.0) + weight * (2.0 if entity else 1.0)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(term for term, _ in ranked[:size])


@dataclass(frozen=True, slots=True)
class StoryChoice:
    story_id: str | None  # None: start a new story
    score: float
    matched_with: str | None


def similarity(a: set[str], b: set[str], df: Mapping[str, int], total: int) -> float:
    """idf-weighted Jaccard overlap of two signatures."""
    def idf(term: str) -> float:
        return math.log((total + 1) / (df.get(term, 0) + 1)) + 1.0

    union = a | b
    if not union:
        return 0.0
    return sum(idf(t) for t in a & b) / sum(idf(t) for t in union)


def choose_story(terms: set[str], candidates: Mapping[str, tuple[set[str], str]],
                 df: Mapping[str, int], total: int, threshold: float) -> StoryChoice:
    """Pick the story of the most similar candidate (id -> (terms, story id))."""
    best: tuple[float, str, str] | None = None
    for candidate_id, (other, story_id) in candidates.items():
        value = similarity(terms, other, df, total)
        if best is None or value > best[0] or (value == best[0] and candidate_id < best[1]):
            best = (value, candidate_id, story_id)
    if best is None or best[0] < threshold:
        return StoryChoice(None, best[0] if best else 0.0, best[1] if best else None)
    return StoryChoice(best[2], best[0], best[1])
