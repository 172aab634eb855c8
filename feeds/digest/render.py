"""A digest as a finished message: the Jinja2 templates, CSS inlined for mail clients, and the
headers a list message needs (List-Id, RFC 8058 one-click List-Unsubscribe)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from email.utils import format_datetime, formataddr
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import css_inline

from feeds.bounces import verp_address
from feeds.config import Config
from feeds.digest.returns import unsubscribe_mailto
from feeds.digest.schedule import schedule_named
from feeds.digest.selection import DigestSection, entry_count
from feeds.mail import MessageTemplate, Outgoing, Personal
from feeds.models import Subscriber
from feeds.render import display_date, environment
from feeds.tokens import sign
from feeds.urls import preferences_url, unsubscribe_url

_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # C0, C1, line/paragraph separators
# Distinct digests in one run are few (one per schedule and set of items); the bound keeps a
# long-running daemon from holding every one it ever rendered.
BODIES_HELD = 256
# The inbox preview most mail clients show after the subject runs to about this many characters.
PREHEADER_CHARS = 140
_PARTIAL_WORD = re.compile(r"\S*$")
_TRAILING = re.compile(r"[\s;,:]+$")  # what a cut line should not end in before its ellipsis


def header_text(value: str) -> str:
    """A header value that cannot start another header: control characters become spaces."""
    return _LINE_BREAKS.sub(" ", value).strip()


def preheader(titles: Sequence[str], limit: int = PREHEADER_CHARS) -> str:
    """The digest's titles as one line of at most `limit` characters, cut between words with
    an ellipsis when they do not fit (a single word longer than that is cut where it must)."""
    line = "; ".join(titles)
    if len(line) <= limit:
        return line
    head = line[:limit - 1]  # room for the ellipsis
    if not line[limit - 1].isspace():  # mid-word: back to where that word starts
        head = _PARTIAL_WORD.sub("", head) or head
    return (_TRAILING.sub("", head) or head) + "…"


def envelope_sender(config: Config, token: str | None) -> str:
    """The SMTP MAIL FROM of a message to the subscriber with this opaque token: with
    [bounces] address set, their VERP address (so a bounce names them), or the bare bounce
    address when they have no usable token; else the From address."""
    base = config.bounces.address
    if not base:
        return config.mail.from_address
    if token:
        try:
            return verp_address(base, token)
        except ValueError:
            pass  # a token that cannot be a local part: the bounce names the address instead
    return base


class MailWriter:
    """What every mail the site sends starts from: the config, the signing secret, the clock,
    the mail templates and the host its Message-IDs and List-Ids name."""

    def __init__(self, config: Config, secret: bytes, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.secret = secret
        self.clock = clock
        assert config.paths.templates is not None
        self.templates = environment(config.paths.templates)
        self.host = urlsplit(config.site.base_url).hostname or "localhost"


class DigestRenderer(MailWriter):
    """Renders each distinct digest once and fills in each reader's copy."""

    def __init__(self, config: Config, secret: bytes, clock: Callable[[], datetime]) -> None:
        super().__init__(config, secret, clock)
        self._bodies: dict[tuple[Any, ...], MessageTemplate] = {}
        # Each reader's copy differs in its token alone: the unsubscribe and the preference
        # links both carry it, so one placeholder stands for it in both.
        self._placeholders = replace(Personal.placeholders(),
                                     url=f"t{secrets.token_hex(8)}")

    def render(self, subscriber: Subscriber, sections: Sequence[DigestSection],
               schedule_name: str, message_id: str) -> Outgoing:
        """The finished message for one subscriber. Each distinct digest is rendered and
        flattened once, with placeholders for what differs per reader (address, date,
        Message-ID, unsubscribe link); each reader's copy replaces them in the bytes. When a
        value or a body cannot go in that way (a non-ASCII address, a line too long for 8-bit
        transfer), the message is built for that reader alone, with the same result."""
        key = (schedule_name, tuple((s.slug, s.entries) for s in sections))
        template = self._bodies.get(key)
        if template is None:  # render each distinct digest once
            if len(self._bodies) > BODIES_HELD:
                self._bodies.clear()
            template = self._bodies[key] = self.template(sections, schedule_name)
        values = Personal(to=subscriber.email, date=format_datetime(self.clock()),
                          message_id=message_id, url=self.token_of(subscriber))
        return Outgoing(envelope_sender(self.config, subscriber.token),
                        subscriber.email, template.copy_for(values))

    def token_of(self, subscriber: Subscriber) -> str:
        """The subscriber's opaque token; a signed address for one the store gave none
        (the old links' form, still accepted)."""
        return subscriber.token or sign(self.secret, subscriber.email)

    def unsubscribe_url(self, token: str) -> str:
        return unsubscribe_url(self.config.site.base_url, token)

    def preferences_url(self, token: str) -> str:
        return preferences_url(self.config.site.base_url, token)

    def template(self, sections: Sequence[DigestSection], schedule_name: str) -> MessageTemplate:
        """The digest with placeholders where each reader's values go."""
        count = entry_count(sections)
        schedule = schedule_named(self.config, schedule_name)
        context = {"site": self.config.site, "sections": sections, "count": count,
                   "schedule": schedule_name,
                   "unsubscribe_url": self.unsubscribe_url(self._placeholders.url),
                   "preferences_url": self.preferences_url(self._placeholders.url),
                   "preheader": preheader([e.title for s in sections for e in s.entries])}
        html = css_inline.inline(self.templates.get_template("digest.html.j2").render(context))
        text = self.templates.get_template("digest.txt.j2").render(context)
        mail = self.config.mail
        stories = f"{count} {'story' if count == 1 else 'stories'}"
        subject = schedule.subject.format(site=self.config.site.title, count=count,
                                          stories=stories, schedule=schedule_name,
                                          date=display_date(self.clock().astimezone(
                                              ZoneInfo(schedule.timezone))))
        mailto = unsubscribe_mailto(self.config)
        links = f"<{self.unsubscribe_url(self._placeholders.url)}>" + (
            f", <mailto:{mailto}?subject=unsubscribe>" if mailto else "")
        return MessageTemplate(
            headers=(
                ("From", formataddr((header_text(mail.from_name), mail.from_address))),
                ("To", self._placeholders.to),
                ("Subject", header_text(subject)),
                ("Date", self._placeholders.date),
                ("Message-ID", self._placeholders.message_id),
                ("List-Id", f"{header_text(self.config.site.title)} {schedule_name} digest "
                            f"<{schedule_name}.{self.host}>"),
                ("List-Unsubscribe", links),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")),
            text=text, html=html, placeholders=self._placeholders)
