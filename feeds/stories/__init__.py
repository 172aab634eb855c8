"""Articles -> stories: reports of the same event from different sources.

Each article gets a signature: its 100 most telling words with weights (title words triple, the
lead double, names and places double, repetition sublinear). A new article is compared only with
the 10 articles sharing most of its 20 most telling terms in the store's term index, dated
within a time window (undated articles are never excluded by time), using the idf-weighted
cosine; it joins the story whose every report it resembles (complete link, the least similar
report above the threshold), or starts its own. Nothing is recomputed for old articles, so the
cost of one article does not grow with the store.
"""

from __future__ import annotations

import math
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from feeds.language import STOPWORDS
from feeds.models import FACT_PREFIX as PREFIX
from feeds.models import Article
from feeds.stories.facts import Specifics, specific_terms

_TOKEN = re.compile(r"[^\W_][\w'’-]*", re.UNICODE)
# a word right after the end of a sentence (or a quote), up to two spaces between: it may be
# capitalised without being a name (nor may the text's first word)
_AFTER_SENTENCE = re.compile(r"""[.!?"“]\s{0,2}([^\W_][\w'’-]*)""", re.UNICODE)
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


def _term(word: str) -> str | None:
    """The story term a word stands for, or None for a stopword, a generic word, a number
    or one shorter than 3 letters."""
    token = _normal(word)
    if len(token) < 3 or token in STOPWORDS or token in _GENERIC or token.isdigit():
        return None
    return token


def signature(article: Article, size: int = 100, lead_words: int = 60
              ) -> dict[str, float]:
    """The article's story terms with weights: title words count triple, the lead double,
    names and places double; repetition counts sublinearly (1 + log tf). Then its specifics
    (feeds.stories.facts)."""
    counts: dict[str, float] = {}
    tokens = " ".join(article.body).split()
    parts = ((3.0, article.title), (2.0, " ".join(tokens[:lead_words])),
             (1.0, " ".join(tokens[lead_words:])))
    terms: dict[str, str | None] = {}  # a word as written -> its term (None: not one)
    for weight, text in parts:
        # counted by word as written, in C: a capitalised word counts double (a name or a
        # place) except where it starts a sentence
        words = _TOKEN.findall(text)
        starting = Counter(_AFTER_SENTENCE.findall(text))
        if words and text.startswith(words[0]):
            starting[words[0]] += 1
        for word, seen in Counter(words).items():
            if word in terms:
                token = terms[word]
            else:
                token = terms[word] = _term(word)
            if token is None:
                continue
            if word[:1].isupper():
                seen = 2 * seen - starting.get(word, 0)
            counts[token] = counts.get(token, 0.0) + weight * seen
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
    out = {term: round(1.0 + math.log(value), 4) for term, value in ranked}
    out.update(specific_terms(article.title, parts[1][1], parts[2][1], article.published))
    return out


def idf(df: Mapping[str, int], total: int, term: str) -> float:
    return math.log((total + 1) / (df.get(term, 0) + 1)) + 1.0


def retrieval_terms(terms: Mapping[str, float], df: Mapping[str, int], total: int,
                    count: int = 20) -> list[str]:
    """The few most telling terms, used to find candidates through the index. Terms found in
    more than 2 % of all articles (and 100) are left out: their postings are long and say
    little about one event, so the cost of finding candidates does not grow with the store."""
    common = max(100, total // 50)
    usable = [t for t in terms if df.get(t, 0) <= common and not t.startswith(PREFIX)]
    ranked = sorted(usable, key=lambda t: (-terms[t] * idf(df, total, t), t))
    return ranked[:count]


Split = Callable[[Mapping[str, float]], tuple[dict[str, float], Specifics]]


class SplitSignatures:
    """Signatures split into words and specifics (Specifics.split), kept by identity: the
    store hands out the same decoded signature for the same stored report
    (story_index.SignatureCache), and a backfill compares each new article with the same
    recent reports again and again. Each kept entry holds its signature, so an id is never
    reused while its entry is kept; a changed report is a new signature, a miss."""

    def __init__(self, size: int = 2000) -> None:
        self.size = size
        self.kept: OrderedDict[int, tuple[Mapping[str, float], dict[str, float], Specifics]]
        self.kept = OrderedDict()

    def __call__(self, terms: Mapping[str, float]) -> tuple[dict[str, float], Specifics]:
        found = self.kept.get(id(terms))
        if found is not None and found[0] is terms:
            self.kept.move_to_end(id(terms))
            return found[1], found[2]
        words, specifics = Specifics.split(terms)
        self.kept[id(terms)] = (terms, words, specifics)
        if len(self.kept) > self.size:
            self.kept.popitem(last=False)
        return words, specifics


class _Similarity:
    """The idf-weighted cosine between one article's signature and others'. Terms with no
    document frequency given count as unseen (the highest idf), so another signature's
    length needs a pass in Python over the terms with a known idf only: the rest are its
    raw length (math.hypot, in C) less those, scaled by the one unseen idf. Sums use fsum,
    so results do not depend on the order a set gives terms in."""

    def __init__(self, terms: Mapping[str, float], df: Mapping[str, int], total: int,
                 split: Split = Specifics.split) -> None:
        terms, self.specifics = Specifics.split(terms)
        self.split = split
        self.unseen = idf({}, total, "")
        self.idf = {t: idf(df, total, t) for t in {*terms, *df}}
        self.mine = {t: w * self.idf[t] for t, w in terms.items()}
        self.length = math.hypot(*self.mine.values())

    def __call__(self, other: Mapping[str, float]) -> float:
        words, specifics = self.split(other)
        if self.specifics.conflicts(specifics):
            return 0.0
        return self._cosine(words)

    def _cosine(self, other: Mapping[str, float]) -> float:
        known = self.idf
        shared = other.keys() & known.keys()
        raw = math.hypot(*other.values())
        rest = max(0.0, raw * raw - math.fsum(other[t] * other[t] for t in shared))
        length = math.sqrt(self.unseen * self.unseen * rest
                           + math.fsum((other[t] * known[t]) ** 2 for t in shared))
        if not (length and self.length):
            return 0.0
        mine = self.mine
        dot = math.fsum(mine[t] * other[t] * known[t] for t in shared if t in mine)
        return dot / (self.length * length)


@dataclass(frozen=True, slots=True)
class StoryChoice:
    story_id: str | None  # None: start a new story
    score: float  # the similarity to the story's least similar report
    matched_with: str | None  # the story's most similar report


Reports = Mapping[str, Sequence[tuple[str, Mapping[str, float]]]]


def choose_story(terms: Mapping[str, float],
                 candidates: Mapping[str, tuple[Mapping[str, float], str]],
                 reports_of: Callable[[set[str]], Reports],
                 df: Mapping[str, int], total: int, threshold: float,
                 judge: Callable[[str], bool | None] | None = None,
                 margin: float = 0.0, split: Split = Specifics.split) -> StoryChoice:
    """Pick a story for a new article with these terms: of the stories of its `candidates`
    (id -> (terms, story id)) that one reaches, the one whose least similar report is the
    most similar, if that reaches the threshold (complete link). `reports_of` gives the
    reports of the stories within reach (story id -> (id, terms)); a story it leaves out is
    not chosen. Measuring against every report, not just the closest one, keeps a story to
    one event: with the closest alone, each follow-up that resembles the last report joined,
    and a topic's coverage over days chained into one story. `judge` (report id -> whether
    the new article tells the same occurrence, None for no answer) has the say over a report
    whose similarity is within `margin` of the threshold: yes counts as the threshold, no as
    nothing. A veto of the specifics (a similarity of 0) is never asked about. `split`: how
    a report's signature is split into words and specifics (a SplitSignatures keeps them)."""
    similarity = _Similarity(terms, df, total, split)

    def judged(report_id: str, score: float) -> float:
        if judge is None or score <= 0.0 or abs(score - threshold) > margin:
            return score
        verdict = judge(report_id)
        return score if verdict is None else (max(score, threshold) if verdict else 0.0)
    scores = {cid: judged(cid, similarity(other)) for cid, (other, _story) in candidates.items()}
    best_candidate = max(scores, key=lambda cid: (scores[cid], cid), default=None)
    reach = {candidates[cid][1] for cid, value in scores.items() if value >= threshold}
    best: StoryChoice | None = None
    for story_id, reports in sorted(reports_of(reach).items() if reach else ()):
        scored = sorted((scores[rid] if rid in scores else judged(rid, similarity(other)), rid)
                        for rid, other in reports)
        if not scored:
            continue
        choice = StoryChoice(story_id, scored[0][0], scored[-1][1])
        if best is None or choice.score > best.score:
            best = choice
    if best is not None and best.score >= threshold:
        return best
    if best_candidate is None:
        return StoryChoice(None, 0.0, None)
    return StoryChoice(None, scores[best_candidate], best_candidate)
