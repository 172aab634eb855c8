"""Double opt-in: the sign-up form (`/subscribe`, HTML or JSON, so an editor can put the form
on another site) and the confirmation link (`/confirm/<token>`).

The form only ever records a pending sign-up and mails its owner: it changes no subscription,
so a third party who submits it for someone else achieves one mail to them at most (and the
rate limits bound that). Every valid request gets the same answer, whether the address is new,
pending or subscribed, so the form tells nobody who is on the list. The link's GET changes
nothing (mail scanners prefetch links); its POST applies the sign-up, the one way an address
that left, bounced or complained becomes active again."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from limits import RateLimitItemPerHour
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from feeds.config import Config
from feeds.errors import FeedsError
from feeds.store import Store
from feeds.store.signups import Signup
from feeds.tokens import read_confirm_token
from feeds.urls import preferences_url
from feeds.web.pages import Pages, default_schedule, utc_now
from feeds.web.unsubscribe import FormTooLarge, read_body, read_form

log = logging.getLogger(__name__)

SUBSCRIBE = "/subscribe"
CONFIRM = "/confirm/"
DECLINE = "/decline/"  # the confirmation mail's List-Unsubscribe: "I did not ask for this"
HONEYPOT = "website"  # a field people never see (hidden by CSS); bots fill it in


def validate_signup(config: Config, values: Mapping[str, Any]
                    ) -> tuple[dict[str, Any], dict[str, str]]:
    """A sign-up request's fields, cleaned, and an error per field that is wrong."""
    errors: dict[str, str] = {}
    email = str(values.get("email") or "").strip()
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        errors["email"] = "Enter an email address such as name@example.org."
    if len(email) > 254:
        errors["email"] = "That address is too long."
    raw_topics = values.get("topics") or []
    topics = [str(t) for t in (raw_topics if isinstance(raw_topics, list) else [raw_topics])]
    unknown = [t for t in topics if t not in config.topics]
    if unknown:
        errors["topics"] = f"Unknown topic: {', '.join(unknown)[:100]}."
    elif not topics:
        errors["topics"] = "Choose at least one topic."
    schedule = str(values.get("schedule") or default_schedule(config))
    if schedule not in config.digests:
        errors["schedule"] = f"Unknown schedule: {schedule[:40]}."
    cleaned = {"email": email, "topics": list(dict.fromkeys(topics)), "schedule": schedule,
               HONEYPOT: str(values.get(HONEYPOT) or "")}
    return cleaned, errors


async def signup_values(request: Request, timeout: float) -> tuple[dict[str, Any], bool]:
    """A sign-up request's fields (a form or a JSON object) and whether it was JSON."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(await read_body(request, timeout) or b"null")
        except (ValueError, UnicodeDecodeError):
            data = None
        return (data if isinstance(data, dict) else {"email": ""}), True
    form = await read_form(request, timeout)
    return {"email": form.get("email"), "topics": list(form.getlist("topics")),
            "schedule": form.get("schedule"), HONEYPOT: form.get(HONEYPOT)}, False


class SignupPages(Pages):
    def __init__(self, config: Config, store: Store, secret: bytes,
                 confirmations: Callable[[Signup], None] | None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(config)
        self.store = store
        self.secret = secret
        self.confirmations = confirmations
        self.clock = clock
        # per app instance: a restart forgets the counts, which only lets a few more through
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def routes(self) -> list[Route]:
        return [Route(SUBSCRIBE, self.form, methods=["GET"]),
                Route(SUBSCRIBE, self.submit, methods=["POST"]),
                Route(CONFIRM + "{token:path}", self.show_confirm, methods=["GET"]),
                Route(CONFIRM + "{token:path}", self.confirm, methods=["POST"]),
                Route(DECLINE + "{token:path}", self.show_decline, methods=["GET"]),
                Route(DECLINE + "{token:path}", self.decline, methods=["POST"])]

    # --- the form -----------------------------------------------------------------------
    def form_page(self, status: int, values: Mapping[str, Any],
                  errors: Mapping[str, str]) -> Response:
        return self.html("subscribe.html", status, heading="Subscribe by email",
                         email=values.get("email", ""),
                         topic_choices=self.topic_choices(set(values.get("topics", []))),
                         schedule_choices=self.schedule_choices(
                             values.get("schedule") or self.default_schedule()),
                         errors=errors, honeypot=HONEYPOT)

    async def form(self, request: Request) -> Response:
        topic = request.query_params.get("topic", "")
        chosen = [topic] if topic in self.config.topics else []
        return self.form_page(200, {"topics": chosen}, {})

    async def submit(self, request: Request) -> Response:
        ip = request.client.host if request.client else "unknown"
        try:
            values, as_json = await signup_values(
                request, self.config.server.body_timeout_seconds)
        except FormTooLarge:
            log.warning("sign-up refused: body too large ip=%s", ip)
            return PlainTextResponse("Request body too large", status_code=413,
                                     headers={"Connection": "close"})
        except TimeoutError:
            return PlainTextResponse("Request timed out", status_code=408,
                                     headers={"Connection": "close"})
        signup = self.config.signup
        if not self.limiter.hit(RateLimitItemPerHour(signup.per_ip_per_hour), "ip", ip):
            log.warning("sign-up refused: rate limit ip=%s", ip)
            return self.too_many(as_json)
        cleaned, errors = validate_signup(self.config, values)
        if errors:
            log.info("sign-up refused: bad input ip=%s fields=%s", ip, ",".join(sorted(errors)))
            if as_json:
                return JSONResponse({"ok": False, "errors": errors}, status_code=400)
            return self.form_page(400, cleaned, errors)
        if cleaned[HONEYPOT]:
            log.warning("sign-up ignored: honeypot filled ip=%s", ip)
            return self.check_inbox(as_json)
        key = cleaned["email"].lower()
        if not self.limiter.hit(RateLimitItemPerHour(signup.per_address_per_hour),
                                "address", key):
            log.warning("sign-up refused: rate limit for the address ip=%s", ip)
            return self.too_many(as_json)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.record_and_mail, cleaned, ip)
        except FeedsError as exc:
            log.error("confirmation not sent error=%s", exc)
            if as_json:
                return JSONResponse({"ok": False, "errors": {"email": "try again later"}},
                                    status_code=503)
            return self.message(503, "Please try again later",
                                "The confirmation mail could not be sent just now.")
        return self.check_inbox(as_json)

    def record_and_mail(self, values: Mapping[str, Any], ip: str) -> None:
        """Record the sign-up; mail its confirmation unless one went to this address within
        `signup.resend_minutes`."""
        now = self.clock()
        with self.store.write() as tx:
            # sign-ups never confirmed go after signup.pending_days, at the next sign-up
            tx.drop_stale_signups(now - timedelta(days=self.config.signup.pending_days))
            last = tx.last_signup_mail(values["email"])
            made = tx.add_signup(values["email"], values["topics"], values["schedule"], ip, now)
        wait = timedelta(minutes=self.config.signup.resend_minutes)
        if last is not None and now - last < wait:
            log.info("confirmation not resent: one was mailed recently signup=%d", made.id)
            return
        if self.confirmations is None:
            log.warning("confirmation not sent: no mailer configured signup=%d", made.id)
            return
        self.confirmations(made)
        with self.store.write() as tx:
            tx.mark_signup_mailed(made.id, self.clock())

    def check_inbox(self, as_json: bool) -> Response:
        text = ("If the address is right, a message is on its way with a link to confirm. "
                "Nothing is sent until you confirm.")
        if as_json:
            return JSONResponse({"ok": True, "message": text})
        return self.message(200, "Check your inbox", text)

    def too_many(self, as_json: bool) -> Response:
        text = "Too many sign-up requests. Please wait an hour and try again."
        if as_json:
            return JSONResponse({"ok": False, "errors": {"email": text}}, status_code=429)
        return self.message(429, "Too many requests", text)

    # --- the confirmation link ----------------------------------------------------------
    def signup_of(self, token: str) -> Signup | Response:
        """The sign-up a link names, or the page that says why there is none."""
        link = read_confirm_token(self.secret, token,
                                  int(self.config.signup.confirm_hours * 3600) or 1)
        again = f"{self.config.site.base_url}subscribe"
        if link.expired:
            return self.message(400, "This link has expired",
                                "Confirmation links work for "
                                f"{self.config.signup.confirm_hours:g} hours.", again=again)
        found = None
        if link.signup_id is not None:
            with self.store.read() as tx:
                found = tx.signup(link.signup_id)
            if found is not None and found.email.strip().lower() != link.email_key:
                found = None  # its own sign-up is gone; the id now names another
        if found is None:
            log.info("confirmation refused: link not valid")
            return self.message(400, "This link is not valid",
                                "The link is incomplete, was altered, or its sign-up was "
                                "dropped.", again=again)
        return found

    def already(self, signup: Signup) -> Response:
        with self.store.read() as tx:
            subscriber = tx.subscriber(signup.email)
        manage = preferences_url(self.config.site.base_url, subscriber.token) \
            if subscriber else None
        return self.message(200, "Already confirmed",
                            f"{signup.email} confirmed this subscription already.",
                            manage=manage)

    async def unconfirmed(self, request: Request) -> Signup | Response:
        """The sign-up a link names, not confirmed yet; else the page that says why not
        (a bad or expired link, or "already confirmed")."""
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(None, self.signup_of, request.path_params["token"])
        if not isinstance(found, Response) and found.confirmed_at is not None:
            return await loop.run_in_executor(None, self.already, found)
        return found

    async def show_confirm(self, request: Request) -> Response:
        """GET: what the sign-up asked for, and a button; nothing changes yet."""
        found = await self.unconfirmed(request)
        if isinstance(found, Response):
            return found
        titles = [self.config.topics[s].title for s in found.topics if s in self.config.topics]
        return self.message(200, "Confirm your subscription",
                            f"Send the {found.schedule} digest to {found.email}, on "
                            f"{', '.join(titles)}?", form=request.url.path)

    def apply(self, signup: Signup) -> str | None:
        """Apply the sign-up unless it was applied already; the subscriber's token."""
        schedule = self.config.digests.get(signup.schedule)
        recent = schedule.recent if schedule is not None and schedule.first == "recent" else 0
        with self.store.write() as tx:
            current = tx.signup(signup.id)
            if current is None or current.confirmed_at is not None:
                return None
            outcome = tx.apply_signup(current, self.clock(), recent=recent)
            subscriber = tx.subscriber(signup.email)
        log.info("sign-up confirmed signup=%d subscriber=%s", signup.id, outcome)
        return subscriber.token if subscriber else None

    async def confirm(self, request: Request) -> Response:
        """POST: the owner confirmed; the subscription starts (or starts again)."""
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(None, self.signup_of, request.path_params["token"])
        if isinstance(found, Response):
            return found
        token = await loop.run_in_executor(None, self.apply, found)
        if token is None:
            return await loop.run_in_executor(None, self.already, found)
        schedule = self.config.digests.get(found.schedule)
        held = ("the latest stories of your topics" if schedule and schedule.first == "recent"
                else "the stories that come in from now on")
        when = self.next_digests().get(found.schedule)
        return self.message(200, "You are subscribed",
                            f"{found.email} will receive the {found.schedule} digest"
                            + (f": the first on {when}, with {held}." if when else "."),
                            manage=preferences_url(self.config.site.base_url, token))

    async def show_decline(self, request: Request) -> Response:
        """GET: a button to decline the sign-up; nothing changes yet."""
        found = await self.unconfirmed(request)
        if isinstance(found, Response):
            return found
        return self.message(200, "Not you?",
                            f"Forget the request to send digests to {found.email}? Nothing "
                            "more is sent about it.", form=request.url.path,
                            button="Forget the request")

    async def decline(self, request: Request) -> Response:
        """POST (the page's button, or a mail client's RFC 8058 one-click): the sign-up is
        forgotten unless it was confirmed (then the preference page is the way out)."""
        found = await self.unconfirmed(request)
        if isinstance(found, Response):
            return found
        loop = asyncio.get_running_loop()

        def forget() -> None:
            with self.store.write() as tx:
                tx.decline_signup(found.id)
        await loop.run_in_executor(None, forget)
        log.info("sign-up declined signup=%d", found.id)
        return self.message(200, "Request forgotten",
                            f"Nothing will be sent to {found.email}.")
