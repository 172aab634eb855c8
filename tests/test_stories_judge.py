"""The optional story judge ([stories] judge = "llm") against a small HTTP server that answers
like an OpenAI-compatible endpoint, read the way feed readers see it (all.atom's related links).

The two Velmar reports (tests/data/stories/judge) score about 0.28 in a store of two: near a
threshold of 0.26 or 0.31 with a margin of 0.06; the two Terrin valley reports score about 0.66:
far from it."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.conftest import DATA, Env

ATOM = "{http://www.w3.org/2005/Atom}"
JUDGE = DATA / "stories" / "judge"
NEAR = ("strike-walkout.txt", "strike-talks.txt")
FAR = ("orchard-frost.txt", "orchard-frost-again.txt")


class JudgeServer:
    """Answers every chat completion with `answer`, after `delay` seconds."""

    def __init__(self) -> None:
        self.answer = "yes"
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                time.sleep(server.delay)
                data = json.dumps({"choices": [{"message": {
                    "role": "assistant", "content": server.answer}}]}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass  # the client gave up waiting (the timeout test)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/chat/completions"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def judge() -> Iterator[JudgeServer]:
    server = JudgeServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


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
def test_a_near_pair_is_grouped_as_the_judge_says(env: Env, judge: JudgeServer,
                                                  threshold: float, answer: str) -> None:
    by_rule = grouped(env, NEAR, threshold=threshold)
    shutil.rmtree(env.state)
    shutil.rmtree(env.public)
    judge.answer = answer
    assert grouped(env, NEAR, threshold=threshold, judge="llm", url=judge.url) is not by_rule
    assert by_rule is (threshold < 0.28)
    assert len(judge.requests) == 1 and judge.requests[0]["model"] == "tiny"
    question = judge.requests[0]["messages"][0]["content"]
    assert "Dockworkers walk out at Velmar port" in question and "talks resume" in question


def test_a_far_pair_is_never_asked_about(env: Env, judge: JudgeServer) -> None:
    judge.answer = "no"
    assert grouped(env, FAR, threshold=0.26, judge="llm", url=judge.url)
    assert judge.requests == []


def test_a_judge_that_times_out_leaves_the_rule_its_say(env: Env, judge: JudgeServer) -> None:
    judge.answer, judge.delay = "no", 3.0
    started = time.monotonic()
    assert grouped(env, NEAR, threshold=0.26, judge="llm", url=judge.url, timeout=0.5)
    assert time.monotonic() - started < 10
    assert len(judge.requests) == 1
