"""The optional judge of near pairs ([stories] judge = "llm").

A pair of reports whose similarity falls within `judge_margin` of the threshold is where the
words decide worst: two raids on one town, a speech and the news of it. For those pairs only,
the summarizer's OpenAI-compatible endpoint is asked whether the two reports tell the same
occurrence; its yes or no stands in for the rule. Any failure (no text for one of the reports,
a timeout, an error, an answer that is neither yes nor no) leaves the rule's say. Answers are
kept per pair for the life of the judge, so a pair is asked once.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from typing import TYPE_CHECKING

from feeds.config import Config

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("feeds.ingest")  # see feeds.ingest.pipeline

# how many reports' texts (and pairs' answers) a judge keeps: the oldest go first
KEPT = 5000
LEAD_CHARACTERS = 1500
QUESTION = (
    "Do these two news reports tell of the same occurrence (the same single event: the same "
    "action, by the same parties, at the same place, on the same day or two)? Two events of "
    "the same kind (two raids, two rounds of talks, two prisoner swaps) are not the same "
    "occurrence, nor is a follow-up (a funeral after a killing, a visit after its "
    "announcement). Answer with one word: yes or no.")


class PairJudge:
    """Asks the endpoint about a pair of reports it has seen the text of."""

    def __init__(self, *, url: str, model: str, api_key: str = "", timeout: float = 10.0,
                 client: httpx.Client | None = None) -> None:
        self.url = url
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.client = client
        self.texts: OrderedDict[str, str] = OrderedDict()
        self.answers: OrderedDict[tuple[str, str], bool | None] = OrderedDict()
        self.asked = 0  # requests sent

    @classmethod
    def for_config(cls, config: Config) -> PairJudge | None:
        """The judge `[stories] judge` asks for: None for "rule"; for "llm", one asking
        `summarizer.llm`'s endpoint with its model, key and timeout."""
        if config.stories.judge != "llm":
            return None
        llm = config.summarizer.llm
        return cls(url=llm.url, model=llm.model, api_key=os.environ.get(llm.api_key_env, ""),
                   timeout=llm.timeout_seconds)

    def remember(self, report_id: str, title: str, body: str) -> None:
        """Keep a report's title and lead, to show the endpoint if it is ever in a near pair."""
        self.texts[report_id] = f"{title}\n\n{body[:LEAD_CHARACTERS]}"
        self.texts.move_to_end(report_id)
        while len(self.texts) > KEPT:
            self.texts.popitem(last=False)

    def same(self, first: str, second: str) -> bool | None:
        """Whether the two reports tell one occurrence; None: no answer (use the rule)."""
        pair = (min(first, second), max(first, second))
        if pair in self.answers:
            return self.answers[pair]
        if first not in self.texts or second not in self.texts:
            return None
        answer = self._ask(self.texts[pair[0]], self.texts[pair[1]])
        self.answers[pair] = answer
        while len(self.answers) > KEPT:
            self.answers.popitem(last=False)
        return answer

    def _ask(self, first: str, second: str) -> bool | None:
        import httpx  # only with judge = "llm"

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model, "temperature": 0, "messages": [{
            "role": "user",
            "content": f"{QUESTION}\n\nReport 1:\n{first}\n\nReport 2:\n{second}"}]}
        self.asked += 1
        try:
            post = self.client.post if self.client is not None else httpx.post
            response = post(self.url, timeout=self.timeout, headers=headers, json=body)
            response.raise_for_status()
            text = str(response.json()["choices"][0]["message"]["content"])
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            log.warning("story judge failed, using the rule url=%s error=%s", self.url, exc)
            return None
        word = text.strip().lower().lstrip("*\"' ").split(maxsplit=1)
        verdict = word[0].strip(".,!*\"'") if word else ""
        if verdict in ("yes", "no"):
            return verdict == "yes"
        log.warning("story judge gave no yes or no, using the rule answer=%r", text[:80])
        return None
