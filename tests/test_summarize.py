"""Summaries: the extractive method's guarantees, and the optional LLM backend with its
fallback, against a small OpenAI-compatible server the test starts on 127.0.0.1."""

from __future__ import annotations

import time

import pytest

from feeds.articles.text import parse_text
from feeds.summarize import extractive_summary
from tests.chat import ChatServer
from tests.conftest import SEEDS, Env, needs_shared, seed

ARTICLE = ("Port reopens after storm\n\nBy Ana Costa\n\nLISBON (Harbour Wire) - The port "
           "reopened on Monday after two weeks of repairs to quays damaged in a storm. Officials "
           "said the first ships would dock within hours. A backlog of forty vessels should "
           "clear by the end of the week, the port authority said.\n\nFishermen welcomed the "
           "news. Some had moved their boats to other harbours during the repairs.\n")


def test_extractive_summary_is_short_clean_and_ends_on_a_sentence() -> None:
    [article] = parse_text(ARTICLE)
    summary = extractive_summary(article, max_words=30, max_sentences=2)
    assert summary.startswith("The port reopened on Monday")
    assert "LISBON" not in summary and "By Ana" not in summary
    assert len(summary.split()) <= 30 and summary.endswith(".")


def test_the_summary_comes_from_the_opening_of_a_long_article() -> None:
    """Only the first sentences are candidates: a short sentence deep in a long piece does
    not fill the word budget the lead leaves (and the rest is never split or scored)."""
    long = ("Paragraph {n} goes over the council's housing figures in considerable detail, "
            "district by district and year by year, with the waiting lists, the empty homes, "
            "the repairs still outstanding, the money set aside for them and the years it will "
            "take before any of it is spent.")
    paragraphs = ["The river bridge reopened to traffic on Friday morning after repairs "
                  "lasting eight months, the city council said.",
                  *(long.format(n=n) for n in range(1, 40))]
    late = "Cyclists will get their own lane on the bridge next year."
    paragraphs.insert(30, late)
    [article] = parse_text("Bridge reopens after repairs\n\n" + "\n\n".join(paragraphs))
    summary = extractive_summary(article, max_words=60, max_sentences=3)
    assert summary.startswith("The river bridge reopened to traffic on Friday morning")
    assert late not in summary


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_seed_summaries_skip_bylines_datelines_captions_and_standfirsts(prefix: str) -> None:
    needs_shared(SEEDS)
    for article in parse_text(seed(prefix).read_text(encoding="utf-8")):
        summary = extractive_summary(article, max_words=60, max_sentences=3)
        assert 5 <= len(summary.split()) <= 60
        assert not summary.startswith(("By ", "MOSCOW", "Talks focus", "TT"))
        assert all(caption not in summary for caption in article.captions)
        assert summary.endswith((".", "”", "\"", "?", "!"))


@pytest.mark.parametrize("mode", ["ok", "error", "slow"])
def test_llm_summaries_fall_back_to_extractive(env: Env, chat: ChatServer, mode: str) -> None:
    path = env.drop("port.txt", ARTICLE)
    [extractive] = env.explain(path)[0]["articles"]
    chat.content = "The port reopened after storm repairs. Ships return this week."
    chat.status = 500 if mode == "error" else 200
    chat.delay = 3.0 if mode == "slow" else 0.0
    env.write_config(summarizer={"method": "llm", "llm": {
        "url": chat.url, "model": "tiny", "timeout_seconds": 1}})
    started = time.monotonic()
    [article] = env.explain(path)[0]["articles"]
    assert time.monotonic() - started < 10
    assert chat.requests and chat.requests[0]["model"] == "tiny"
    if mode == "ok":
        assert article["summary"] == ("The port reopened after storm repairs. Ships return "
                                      "this week.")
    else:
        assert article["summary"] == extractive["summary"]


def test_a_page_header_and_inline_captions_are_not_summary_sentences() -> None:
    """Copy pasted from a web page keeps its header ("By . Agency . PUBLISHED: . time . |
    . UPDATED: ...") and its photo captions inside the text; neither tells the story."""
    text = ("By . Coast Wire . PUBLISHED: . 09:12 EST, 4 May 2026 . | . UPDATED: . 10:40 EST, "
            "4 May 2026 . The harbour authority reopened the northern quay on Tuesday after six "
            "weeks of repairs to the sea wall. Repaired: The northern quay (pictured) with the "
            "first boats back. Fishermen said the reopening would shorten their mornings by an "
            "hour. The southern stretch of the wall will be repaired in the spring.\n")
    summary = extractive_summary(parse_text(text)[0], max_words=45, max_sentences=3)
    assert summary == ("The harbour authority reopened the northern quay on Tuesday after six "
                       "weeks of repairs to the sea wall. Fishermen said the reopening would "
                       "shorten their mornings by an hour. The southern stretch of the wall will "
                       "be repaired in the spring.")
