"""The language an article is written in, by py3langid (its model ships inside the package:
nothing is downloaded, ever)."""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Protocol

from feeds.models import Article

# Below this many letters the detector guesses; a title alone ("Talks resume") is such a text.
MIN_LETTERS = 40
# Normalized probability the best language must reach, else the article's language is unknown.
MIN_CONFIDENCE = 0.9
# The model tells some varieties apart that ISO 639-1 names as one language (Egyptian and
# Moroccan Arabic are Arabic): their scores add up, so a dialect does not split the vote.
_MACROLANGUAGE = {"ary": "ar", "arz": "ar", "yue": "zh", "wuu": "zh", "gug": "gn", "uzs": "uz",
                  "sdh": "ku", "fuv": "ff"}
# The detector costs ~2 µs a character and its answer settles within the first 100 words.
_SAMPLE_CHARS = 600
# Loading the model costs a second of CPU per process, and most copy is English. English
# function words are a fifth or more of any English text's words (a fifth of the shortest dev
# articles, a third typically) and under 6 % of French, German, Dutch, Italian or Spanish text
# (they share "a", "in", "on", "is"): past ENGLISH_SHARE, in words nearly all ASCII, the text
# is English without asking the model. BENCHMARKS.md has the row.
ENGLISH_FUNCTION_WORDS = frozenset("""
    the of and to in a an is was were are be been has have had that this it its for on with as
    by at from said he she his her they their who which not but or will would""".split())
ENGLISH_SHARE = 0.2
_ASCII_WORDS = 0.9
_MIN_WORDS = 20
_WORD = re.compile(r"[^\W\d_]+")


class _Identifier(Protocol):
    def rank(self, text: str) -> list[tuple[str, float]]: ...


@cache
def _identifier() -> _Identifier:
    # Loading the model costs about a second of CPU: once per process, when the first
    # article is parsed, never at import (commands that parse nothing do not pay it).
    langid = importlib.import_module("py3langid.langid")  # untyped: the Protocol types it
    identifier: _Identifier = langid.LanguageIdentifier.from_model_file(
        langid.MODEL_FILE, norm_probs=True)
    return identifier


def plainly_english(sample: str) -> bool:
    """Whether English function words make up so much of the text that no other language
    could (the model is not needed to say so)."""
    words = _WORD.findall(sample.lower())
    if len(words) < _MIN_WORDS or sum(w.isascii() for w in words) < _ASCII_WORDS * len(words):
        return False
    return sum(w in ENGLISH_FUNCTION_WORDS for w in words) >= ENGLISH_SHARE * len(words)


def detect_language(article: Article) -> str | None:
    """ISO 639-1 code of the article's title and text, or None when short or unsure."""
    sample = "\n".join((article.title, *article.body))[:_SAMPLE_CHARS]
    if not _has_letters(sample, MIN_LETTERS):
        return None
    if plainly_english(sample):
        return "en"
    return _ranked_language(sample)


def _has_letters(text: str, count: int) -> bool:
    """Whether `text` holds at least `count` letters (counting stops there)."""
    for ch in text:
        if ch.isalpha():
            count -= 1
            if not count:
                return True
    return count <= 0


def _ranked_language(sample: str) -> str | None:
    scores: dict[str, float] = {}
    for label, probability in _identifier().rank(sample):
        code = _MACROLANGUAGE.get(label, label)
        scores[code] = scores.get(code, 0.0) + probability
    language, confidence = max(scores.items(), key=lambda pair: pair[1])
    return language if len(language) == 2 and confidence >= MIN_CONFIDENCE else None
