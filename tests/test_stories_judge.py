"""The optional story judge ([stories] judge = "llm") against a small HTTP server that answers
like an OpenAI-compatible endpoint, read the way feed readers see it (all.atom's related links).

The two Velmar reports (tests/data/stories/judge) score about 0.28 in a store of two: near a
threshold of 0.26 or 0.31 with a margin of 0.06; the two Terrin valley reports score about 0.66:
far from it."""

from __future__ import annotations

import shutil
import time
from xml.etree import ElementTree

import pytest

from tests.chat import ChatServer
from tests.conftest import DATA, Env

ATOM = "{http://www.w3.org/2005/Atom}"
JUDGE = DATA / "stories" / "judge"
NEAR = ("strike-walkout.txt", "strike-talks.txt")
FAR = ("orchard-frost.txt", "orchard-frost-again.txt")


def grouped(env: Env, names: tuple[str, str], *, threshold: float, judge: str = "rule",
            url: str = "http://127.0.0.1:9/none", timeout: float = 5.0) -> bool:
    """Ingest the two reports in one run; whether all.atom links them as related."""
    env.write_config(stories={"threshold": threshold, "judge": judge, "judge_margin": 0.06},
                     summarizer={"llm": {"url": url, "model": "tiny",
                                         "timeout_seconds": timeout}})
    for name in names:
        shutil.copy2(JUDGE / name, env.inbox / name)
    env.feeds("ingest")
    root = ElementTree.parse(env.public / "feeds" / "all.atom").getroot()
    related = [entry.findall(f"{ATOM}link[@rel='related']") for entry in
               root.findall(f"{ATOM}entry")]
    assert len(related) == 2
    return all(related)


@pytest.mark.parametrize(("threshold", "answer"), [(0.26, "no"), (0.31, "Yes.")],
                         ids=["the rule merges, the judge splits",
                              "the rule splits, the judge merges"])
def test_a_near_pair_is_grouped_as_the_judge_says(env: Env, chat: ChatServer,
                                                  threshold: float, answer: str) -> None:
    by_rule = grouped(env, NEAR, threshold=threshold)
    fresh = env.root / "with-judge"  # a new installation and store (on PostgreSQL: database)
    fresh.mkdir()
    chat.content = answer
    assert grouped(Env(fresh), NEAR, threshold=threshold, judge="llm",
                   url=chat.url) is not by_rule
    assert by_rule is (threshold < 0.28)
    assert len(chat.requests) == 1 and chat.requests[0]["model"] == "tiny"
    question = chat.requests[0]["messages"][0]["content"]
    assert "Dockworkers walk out at Velmar port" in question and "talks resume" in question


def test_a_far_pair_is_never_asked_about(env: Env, chat: ChatServer) -> None:
    chat.content = "no"
    assert grouped(env, FAR, threshold=0.26, judge="llm", url=chat.url)
    assert chat.requests == []


def test_a_judge_that_times_out_leaves_the_rule_its_say(env: Env, chat: ChatServer) -> None:
    chat.content, chat.delay = "no", 3.0
    started = time.monotonic()
    assert grouped(env, NEAR, threshold=0.26, judge="llm", url=chat.url, timeout=0.5)
    assert time.monotonic() - started < 10
    assert len(chat.requests) == 1
