"""The preference centre (`/preferences/<token>`, the opaque token of one subscriber, in every
digest): change topics and schedule, pause and resume, leave one topic or everything. An
address that left, bounced or complained sees its state and can only start a new double
opt-in from here: nothing on this page makes it active again directly."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from feeds.models import Subscriber
from feeds.store.subscribers import LEFT
from feeds.web.subscribe import SignupPages
from feeds.web.unsubscribe import FormTooLarge, read_form, subscriber_of_link

log = logging.getLogger(__name__)

PREFIX = "/preferences/"

STATES = {
    "active": "You receive the {schedule} digest.",
    "paused": "Your {schedule} digest is paused: nothing is sent until you resume it.",
    "unsubscribed": "You are unsubscribed: nothing is sent to this address.",
    "bounced": "Mail to this address bounced, so nothing is sent to it.",
    "complained": "This address reported a digest as spam, so nothing is sent to it.",
}


class PreferencePages:
    def __init__(self, signups: SignupPages) -> None:
        self.signups = signups  # its store, limiter and mailer serve "subscribe again"

    def routes(self) -> list[Route]:
        return [Route(PREFIX + "{token:path}", self.show, methods=["GET"]),
                Route(PREFIX + "{token:path}", self.submit, methods=["POST"])]

    def find(self, token: str) -> Subscriber | None:
        return subscriber_of_link(self.signups.store, self.signups.secret, token)

    def page(self, subscriber: Subscriber, action: str, *, status: int = 200,
             notice: str = "", error: str = "", topics: list[str] | None = None) -> Response:
        pages = self.signups
        chosen = set(subscriber.topics if topics is None else topics)
        state = STATES.get(subscriber.status, "Nothing is sent to this address.")
        return pages.html("preferences.html", status, heading="Your subscription",
                          email=subscriber.email, state_name=subscriber.status,
                          state=state.format(schedule=subscriber.schedule),
                          left=subscriber.status not in ("active", "paused"),
                          topic_choices=pages.topic_choices(chosen),
                          schedule_choices=pages.schedule_choices(subscriber.schedule),
                          action=action, notice=notice, error=error)

    def not_found(self) -> Response:
        return self.signups.message(404, "No such subscription",
                                    "This link is not valid (it may be from an address that "
                                    "was removed). Use the link in your latest digest.",
                                    again=f"{self.signups.config.site.base_url}subscribe")

    async def show(self, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        subscriber = await loop.run_in_executor(None, self.find, request.path_params["token"])
        if subscriber is None:
            return self.not_found()
        return self.page(subscriber, request.url.path)

    async def submit(self, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        subscriber = await loop.run_in_executor(None, self.find, request.path_params["token"])
        if subscriber is None:
            return self.not_found()
        try:
            form = await read_form(request, self.signups.config.server.body_timeout_seconds)
        except FormTooLarge:
            return PlainTextResponse("Request body too large", status_code=413,
                                     headers={"Connection": "close"})
        except TimeoutError:
            return PlainTextResponse("Request timed out", status_code=408,
                                     headers={"Connection": "close"})
        return await loop.run_in_executor(None, self.change, subscriber, form,
                                          request.url.path,
                                          request.client.host if request.client else "unknown")

    def change(self, subscriber: Subscriber, form: Any, action: str, ip: str) -> Response:
        """Apply one button's change; the page again, with what changed."""
        config = self.signups.config
        pressed = str(form.get("action") or "")
        leave = str(form.get("leave") or "")
        email = subscriber.email
        if subscriber.status in LEFT or subscriber.status not in ("active", "paused"):
            if pressed == "resubscribe":
                return self.subscribe_again(subscriber, ip)
            return self.page(subscriber, action, status=409 if pressed else 200,
                             notice="" if not pressed else
                             "Nothing was changed: subscribe again to receive digests.")
        store = self.signups.store
        if leave:
            kept = [t for t in subscriber.topics if t != leave]
            with store.write() as tx:
                if kept:
                    tx.set_subscriber_topics(email, kept)
                else:
                    tx.set_subscriber_status(email, "unsubscribed")
            log.info("subscriber left a topic email=%s topic=%s", email, leave[:64])
            return self.reload(subscriber, action, f"You left {config.topics[leave].title}."
                               if leave in config.topics else "Saved.")
        if pressed == "save":
            topics = [str(t) for t in form.getlist("topics") if str(t) in config.topics]
            schedule = str(form.get("schedule") or subscriber.schedule)
            if not topics or schedule not in config.digests:
                return self.page(subscriber, action, status=400, topics=topics,
                                 error="Choose at least one topic and a schedule (or "
                                       "unsubscribe below).")
            with store.write() as tx:
                tx.set_subscriber_preferences(email, topics, schedule)
            log.info("subscriber preferences changed email=%s topics=%s schedule=%s", email,
                     ",".join(topics), schedule)
            return self.reload(subscriber, action, "Your choices are saved.")
        changes = {"pause": ("active", "paused", "Your digest is paused."),
                   "resume": ("paused", "active", "Your digest is back on."),
                   "unsubscribe": (subscriber.status, "unsubscribed", "You are unsubscribed.")}
        if pressed in changes:
            before, after, notice = changes[pressed]
            if subscriber.status == before:
                with store.write() as tx:
                    tx.set_subscriber_status(email, after)
                log.info("subscriber status changed email=%s status=%s", email, after)
            return self.reload(subscriber, action, notice)
        return self.page(subscriber, action, status=400, error="Unknown action.")

    def reload(self, subscriber: Subscriber, action: str, notice: str) -> Response:
        with self.signups.store.read() as tx:
            fresh = tx.subscriber(subscriber.email)
        return self.page(fresh or subscriber, action, notice=notice)

    def subscribe_again(self, subscriber: Subscriber, ip: str) -> Response:
        """A new double opt-in for the topics and schedule the subscriber had."""
        pages = self.signups
        schedule = subscriber.schedule if subscriber.schedule in pages.config.digests \
            else pages.default_schedule()
        topics = [t for t in subscriber.topics if t in pages.config.topics] \
            or list(pages.config.topics)
        pages.record_and_mail({"email": subscriber.email, "topics": topics,
                               "schedule": schedule}, ip)
        log.info("subscriber asked to subscribe again email=%s", subscriber.email)
        return pages.message(200, "Check your inbox",
                             f"A message is on its way to {subscriber.email} with a link to "
                             "confirm. Nothing is sent until you confirm.")
