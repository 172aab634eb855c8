"""The unsubscribe page behind every digest's link: RFC 8058 one-click POSTs from mail
clients, and a page where a reader keeps some topics or leaves altogether. A link carries the
subscriber's opaque token; the signed-address tokens of mails sent before there were such
are still accepted (RFC 8058 readers keep one-click links for months)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message

from feeds.config import Config
from feeds.models import Subscriber
from feeds.store import Store
from feeds.tokens import verify
from feeds.urls import preferences_url
from feeds.web.pages import Pages

log = logging.getLogger(__name__)

PREFIX = "/unsubscribe/"
MAX_FORM_BYTES = 64 * 1024


class FormTooLarge(Exception):
    pass


def subscriber_of_link(store: Store, secret: bytes, token: str) -> Subscriber | None:
    """The subscriber a digest's link names: by its opaque token, else (links of digests sent
    before there were tokens) by a signed address. The unsubscribe and preference pages
    both find their subscriber here, so they accept the same links."""
    with store.read() as tx:
        found = tx.subscriber_by_token(token)
        if found is not None:
            return found
        email = verify(secret, token)
        return tx.subscriber(email) if email else None


class UnsubscribePages(Pages):
    def __init__(self, config: Config, store: Store, secret: bytes) -> None:
        super().__init__(config)
        self.store = store
        self.secret = secret

    def routes(self) -> list[Route]:
        # {token:path}: whatever follows the prefix is a token, valid or not (a clear 400)
        return [Route(PREFIX + "{token:path}", self.show, methods=["GET"]),
                Route(PREFIX + "{token:path}", self.submit, methods=["POST"])]

    def find(self, token: str) -> Subscriber | None:
        return subscriber_of_link(self.store, self.secret, token)

    def page(self, status: int, heading: str, message: str, *, manage: str | None = None,
             **form: Any) -> Response:
        """`manage`: the subscriber's preference page, linked as the way back."""
        return self.html("unsubscribe.html", status, heading=heading, message=message,
                         manage=manage, form=bool(form), **form)

    def invalid(self) -> Response:
        return self.page(400, "This link is not valid",
                         "The unsubscribe link is incomplete or was altered. Use the link "
                         "from your most recent digest.")

    async def show(self, request: Request) -> Response:
        """GET: the reader's topics to keep, or a note that the address is unsubscribed."""
        loop = asyncio.get_running_loop()
        subscriber = await loop.run_in_executor(None, self.find, request.path_params["token"])
        if subscriber is None:
            return self.invalid()
        email = subscriber.email
        if subscriber.status != "active":
            return self.page(200, "You are unsubscribed",
                             f"{email} receives no digests from {self.config.site.title}.")
        return self.choices(200, subscriber, set(subscriber.topics), request.url.path)

    def choices(self, status: int, subscriber: Subscriber, chosen: set[str], action: str,
                error: str = "") -> Response:
        """The form: the topics to keep (those in `chosen` ticked), or everything off."""
        return self.page(status, "Your subscription",
                         "Choose the topics you want, or unsubscribe from everything.",
                         email=subscriber.email, choices=self.topic_choices(chosen),
                         action=action, error=error)

    async def read_form(self, request: Request) -> Any:
        return await read_form(request, self.config.server.body_timeout_seconds)

    async def submit(self, request: Request) -> Response:
        """POST: keep the chosen topics, or unsubscribe (one-click, the button)."""
        loop = asyncio.get_running_loop()
        subscriber = await loop.run_in_executor(None, self.find, request.path_params["token"])
        if subscriber is None:
            return self.invalid()
        email = subscriber.email
        try:
            form = await self.read_form(request)
        except FormTooLarge:
            return PlainTextResponse("Request body too large", status_code=413,
                                     headers={"Connection": "close"})
        except TimeoutError:
            response = self.page(408, "Request timed out",
                                 "The form took too long to arrive. Please try again.")
            response.headers["Connection"] = "close"
            return response
        chosen = [str(t) for t in form.getlist("topics") if str(t) in self.config.topics]
        if form.get("action") == "update" and chosen and subscriber.status != "active":
            # topics saved for someone who stays unsubscribed would be a false promise
            return self.page(200, "You are unsubscribed",
                             f"{email} receives no digests from {self.config.site.title}.",
                             manage=self.manage_url(subscriber))
        if form.get("action") == "update" and not chosen and subscriber.status == "active":
            # nothing ticked is more likely a slip than a wish to leave: ask, change nothing
            return self.choices(400, subscriber, set(), request.url.path,
                                "Tick at least one topic to keep, or press Unsubscribe from "
                                "everything.")
        if form.get("action") == "update" and chosen:
            await loop.run_in_executor(None, self.store.set_subscriber_topics, email, chosen)
            log.info("subscriber topics changed email=%s topics=%s", email, ",".join(chosen))
            titles = ", ".join(self.config.topics[slug].title for slug in chosen)
            return self.page(200, "Topics saved", f"{email} will receive: {titles}.")
        # One-click (List-Unsubscribe=One-Click) or the button: unsubscribe (again: harmless).
        await loop.run_in_executor(None, self.store.set_subscriber_status, email,
                                   "unsubscribed")
        if subscriber.status != "unsubscribed":
            log.info("subscriber unsubscribed email=%s one_click=%s", email,
                     form.get("List-Unsubscribe") == "One-Click")
        return self.page(200, "You are unsubscribed",
                         f"{email} will receive no more digests from "
                         f"{self.config.site.title}.", manage=self.manage_url(subscriber))

    def manage_url(self, subscriber: Subscriber) -> str | None:
        return (preferences_url(self.config.site.base_url, subscriber.token)
                if subscriber.token else None)


async def read_body(request: Request, timeout: float) -> bytes:
    """The request's body, read within `timeout` seconds and at most MAX_FORM_BYTES: a public
    server must not wait or buffer without end for a client's body."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise FormTooLarge
    chunks: list[bytes] = []
    seen = 0
    async with asyncio.timeout(timeout):
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > MAX_FORM_BYTES:
                raise FormTooLarge
            chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: Request, timeout: float) -> Any:
    """The request's form, under the bounds of `read_body`."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise FormTooLarge
    seen = 0
    receive = request.receive

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > MAX_FORM_BYTES:
            raise FormTooLarge
        return message

    async with asyncio.timeout(timeout):
        return await Request(request.scope, limited).form()
