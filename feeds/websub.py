"""WebSub (W3C): tell the hub which feeds changed, so subscribers hear of it at once."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


class HubNotifier:
    """WebSub: tell the hub which feeds changed (hub.mode=publish), from a background thread,
    retrying with backoff; publishing never waits for the hub."""

    def __init__(self, hub: str, *, attempts: int = 4, backoff: float = 0.5) -> None:
        self.hub = hub
        self.attempts = attempts
        self.backoff = backoff
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="websub")

    def notify(self, urls: Sequence[str]) -> None:
        if urls:
            self._pool.submit(self._post, list(urls))

    def _post(self, urls: list[str]) -> None:
        import httpx  # only with a hub configured: every publish would pay for importing it

        pending, problems = list(urls), {}
        with httpx.Client(timeout=5) as client:
            for attempt in range(self.attempts):
                if attempt:
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                for url in list(pending):
                    try:
                        response = client.post(self.hub, data={"hub.mode": "publish",
                                                               "hub.url": url})
                    except httpx.HTTPError as exc:
                        problems[url] = str(exc) or type(exc).__name__
                        continue
                    if response.status_code < 300:
                        pending.remove(url)
                        log.info("websub ping hub=%s url=%s", self.hub, url)
                    else:
                        problems[url] = f"HTTP {response.status_code}"
                if not pending:
                    return
        for url in pending:
            log.warning("websub ping failed hub=%s url=%s error=%s", self.hub, url,
                        problems.get(url))

    def close(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
