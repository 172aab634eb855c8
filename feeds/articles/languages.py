"""The language an article is written in, by py3langid (its model ships inside the package:
nothing is downloaded, ever)."""

from __future__ import annotations

import importlib
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


def detect_language(article: Article) -> str | None:
    """ISO 639-1 code of the article's title and text, or None when short or unsure."""
    sample = "\n".join((article.title, *article.body))[:_SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return None
    scores: dict[str, float] = {}
    for label, probability in _identifier().rank(sample):
        code = _MACROLANGUAGE.get(label, label)
        scores[code] = scores.get(code, 0.0) + probability
    language, confidence = max(scores.items(), key=lambda pair: pair[1])
    return language if len(language) == 2 and confidence >= MIN_CONFIDENCE else None
