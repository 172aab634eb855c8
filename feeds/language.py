"""Language helpers every text stage shares: sentences (blingfire), words, stopwords."""

from __future__ import annotations

import re

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over
own said same says she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where
which while who whom why will with would you your yours yourself yourselves mr mrs ms one two
new year years told according added also last first may might must since still like get got us
per
""".split())
_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph (~0.4 ms per article, no model download)."""
    text = text.strip()
    if not text:
        return []
    # Imported here, not above: it brings numpy (a tenth of a second), which the commands
    # that only read the store (`feeds status`) never need. After the first call it is a
    # dictionary look-up.
    import blingfire
    return [s.strip() for s in blingfire.text_to_sentences(text).split("\n") if s.strip()]


def load_segmenter() -> None:
    """Load the sentence segmenter now (blingfire and numpy, ~110 ms) rather than at the
    first sentence: the daemon does this at start, so the first article to arrive is not
    the one that waits for it."""
    split_sentences("Loaded.")


def words(text: str) -> list[str]:
    return [w.lower().strip("'’-") for w in _WORD.findall(text)]


def content_words(text: str) -> list[str]:
    """The words that carry meaning: words() without stopwords and those of two letters."""
    return [w for found in _WORD.findall(text)
            if len(w := found.lower().strip("'’-")) > 2 and w not in STOPWORDS]


def counted(count: int, one: str, many: str | None = None) -> str:
    """`1 article`, `2 articles`: every count the commands print reads right."""
    return f"{count} {one if count == 1 else many or one + 's'}"
