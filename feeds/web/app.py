"""The ASGI application, `Site`: public files on a short path of their own (`static`); health,
metrics, the sign-up, confirmation, preference and unsubscribe pages through Starlette.
Routing is a prefix test, so a request for a feed never enters Starlette's router."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from feeds.config import Config
from feeds.store import Store
from feeds.store.signups import Signup
from feeds.web.health import HealthRoutes
from feeds.web.preferences import PREFIX as PREFERENCES
from feeds.web.preferences import PreferencePages
from feeds.web.static import PublicFiles, StaticResponder
from feeds.web.subscribe import CONFIRM, DECLINE, SUBSCRIBE, SignupPages
from feeds.web.unsubscribe import PREFIX as UNSUBSCRIBE
from feeds.web.unsubscribe import UnsubscribePages

DYNAMIC = ("/healthz", "/metrics")
# the pages that need the secret (signed or per-subscriber links)
SIGNED = (UNSUBSCRIBE, CONFIRM, DECLINE, PREFERENCES)


class Site:
    def __init__(self, config: Config, store: Store, secret: bytes | None = None,
                 confirmations: Callable[[Signup], None] | None = None) -> None:
        """`confirmations` sends a sign-up's confirmation mail (the digest package's
        ConfirmationMailer.send); without it sign-ups are recorded and no mail goes out."""
        self.config = config
        self.store = store
        self.secret = secret
        self.files = PublicFiles(config.paths.public, config.server.max_age_seconds,
                                 config.server.memory_mb << 20)
        self.requests: Counter[int] = Counter()
        # bound once: the static path is the hot one (a 304 for a polling reader)
        self.static = StaticResponder(self.files).answer
        self.health = HealthRoutes(config, store, self.files, self.requests)
        routes: list[Route] = self.health.routes()
        self.unsubscribe: UnsubscribePages | None = None
        self.signups: SignupPages | None = None
        if secret is not None:
            self.unsubscribe = UnsubscribePages(config, store, secret)
            self.signups = SignupPages(config, store, secret, confirmations)
            routes += self.unsubscribe.routes() + self.signups.routes()
            routes += PreferencePages(self.signups).routes()
        self.routes = Starlette(routes=routes)

    def reconfigure(self, config: Config) -> None:
        """A reloaded config (SIGHUP): its max-age applies at once, also to files held."""
        self.config = config
        self.health.config = config
        if self.unsubscribe is not None:
            self.unsubscribe.config = config
        if self.signups is not None:
            self.signups.config = config
        self.files.set_max_age(config.server.max_age_seconds, config.server.memory_mb << 20)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path in DYNAMIC or (self.secret is not None and (
                path == SUBSCRIBE or path.startswith(SIGNED))):
            async def counted(message: Message) -> None:
                if message["type"] == "http.response.start":
                    self.requests[message["status"]] += 1
                await send(message)
            await self.routes(scope, receive, counted)
            return
        status, headers, body = self.static(scope)
        self.requests[status] += 1
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body",
                    "body": body if scope["method"] != "HEAD" else b""})
