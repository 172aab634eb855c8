"""Finished mail messages, built with the standard library's email package.

A digest goes to thousands of readers whose copies differ only in a few values (address, date,
Message-ID, unsubscribe link). `MessageTemplate` builds and flattens the message once with
placeholders in their places, and each reader's copy replaces them in the bytes: building a
MIME message costs far more than sending it. That is only done where it is exact: the bodies
go as 7bit/8bit (no transfer encoding that could split a placeholder), every placeholder must
come out of the flattening verbatim, and each reader's values must be plain ASCII that a header
would carry unchanged. Otherwise the message is built for that reader alone, the same way.
"""

from __future__ import annotations

import email
import re
import secrets
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime
from functools import cached_property

LINE_LIMIT = 998  # RFC 5322: octets per line, CRLF excluded
_PLAIN = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


class MailPolicy(EmailPolicy):
    """The SMTP policy (CRLF, folding at 78), except for headers that carry links: Python
    folds a link longer than a line by RFC 2047-encoding it (`=?utf-8?q?=3Chttp...`), which
    no mail client reads as a link, so an ASCII link header stays on one line (RFC 5322 allows
    998 octets) and is folded only past that."""

    LINK_HEADERS = frozenset({"list-unsubscribe", "list-post", "list-help", "list-archive"})

    def fold_binary(self, name: str, value: str) -> bytes:
        line = f"{name}: {value}"
        if name.lower() in self.LINK_HEADERS and line.isascii() and len(line) <= LINE_LIMIT:
            return f"{line}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


MAIL_POLICY = MailPolicy(linesep="\r\n")
# for a message to an address that is not ASCII (sent with SMTPUTF8): headers in UTF-8 as they
# are (RFC 6532), since an encoded word cannot stand in an address
UTF8_POLICY = MAIL_POLICY.clone(utf8=True)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message ready to send: the SMTP envelope and the bytes (CRLF line ends)."""

    sender: str
    recipient: str
    data: bytes

    @property
    def eight_bit(self) -> bool:
        return not self.data.isascii()

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=SMTP)


@dataclass(frozen=True, slots=True)
class Personal:
    """What differs between two readers' copies of one digest."""

    to: str
    date: str
    message_id: str
    url: str

    @classmethod
    def placeholders(cls) -> Personal:
        """Values no article text can hold (a fresh random tag), of the shapes real ones
        have: an address, an RFC 5322 date (always 31 characters in UTC), a Message-ID."""
        tag = secrets.token_hex(8)
        return cls(to=f"reader-{tag}@placeholder.invalid",
                   date=format_datetime(datetime(1970, 1, 1, tzinfo=UTC)),
                   message_id=f"<{tag}@placeholder.invalid>",
                   url=f"https://placeholder.invalid/unsubscribe/{tag}")

    def fits(self) -> bool:
        """Can these values replace placeholders in flattened bytes and read the same as a
        message built with them? (Plain ASCII with nothing a header would quote or encode.)"""
        return (_ADDRESS.fullmatch(self.to) is not None and len(self.to) <= 254
                and len(self.date) == 31 and self.date.isascii()
                and _PLAIN.fullmatch(self.message_id) is not None
                and _PLAIN.fullmatch(self.url) is not None)


def _transfer_encoding(body: str) -> str | None:
    """7bit or 8bit when every line fits in an SMTP line, else None: the email package then
    picks quoted-printable or base64."""
    data = body.encode("utf-8")
    if max((len(line) for line in data.splitlines()), default=0) > LINE_LIMIT:
        return None
    return "7bit" if data.isascii() else "8bit"


@dataclass(frozen=True)
class MessageTemplate:
    """One digest for many readers: headers and both bodies, with `placeholders` standing
    where each reader's values go."""

    headers: tuple[tuple[str, str], ...]
    text: str
    html: str
    placeholders: Personal

    def build(self, values: Personal) -> EmailMessage:
        """The message for one reader, built in full."""
        message = EmailMessage(policy=MAIL_POLICY if values.to.isascii() else UTF8_POLICY)
        for name, value in self.headers:
            message[name] = self._put(value, values)
        text, html = self._put(self.text, values), self._put(self.html, values)
        message.set_content(text, cte=_transfer_encoding(text))
        message.add_alternative(html, subtype="html", cte=_transfer_encoding(html))
        return message

    def copy_for(self, values: Personal) -> bytes:
        """The reader's message: filled in where that is exact, else built in full."""
        filled = self.fill(values)
        return filled if filled is not None else self.build(values).as_bytes()

    def fill(self, values: Personal) -> bytes | None:
        """The reader's copy made from the flattened template; None when it cannot be made
        that way (then `build` it)."""
        flat = self._flat
        if flat is None or not values.fits():
            return None
        head, body, room = flat
        if len(values.url) - len(self.placeholders.url) > room:
            return None  # a line holding the link would grow past the SMTP limit
        url = (self.placeholders.url.encode(), values.url.encode())
        head = (head.replace(self.placeholders.to.encode(), values.to.encode())
                .replace(self.placeholders.date.encode(), values.date.encode())
                .replace(self.placeholders.message_id.encode(), values.message_id.encode())
                .replace(*url))
        return head + body.replace(*url)

    def _put(self, value: str, values: Personal) -> str:
        for placeholder, real in zip(astuple(self.placeholders), astuple(values), strict=True):
            value = value.replace(placeholder, real)
        return value

    @cached_property
    def _flat(self) -> tuple[bytes, bytes, int] | None:
        """(header block, the rest, how much longer the link may grow), or None when the
        placeholders do not come out of the flattening verbatim."""
        if _transfer_encoding(self.text) is None or _transfer_encoding(self.html) is None:
            return None
        data = self.build(self.placeholders).as_bytes()
        end = data.index(b"\r\n\r\n") + 2
        head, body = data[:end], data[end:]
        p = self.placeholders
        header_text = "\n".join(v for _, v in self.headers)
        for value in (p.to, p.date, p.message_id):
            if head.count(value.encode()) != 1 or header_text.count(value) != 1:
                return None
        url = p.url.encode()
        if (head.count(url) != header_text.count(p.url)
                or body.count(url) != self.text.count(p.url) + self.html.count(p.url)):
            return None
        # a line holding the link n times grows n times the link's growth
        room = min(((LINE_LIMIT - len(line)) // line.count(url)
                    for line in data.split(b"\r\n") if url in line), default=LINE_LIMIT)
        return head, body, room


def seven_bit(data: bytes) -> bytes:
    """The same message with its 8-bit text parts re-encoded as quoted-printable, for an SMTP
    server that does not offer 8BITMIME."""
    message = email.message_from_bytes(data, policy=SMTP)
    for part in message.walk():
        if part.is_multipart() or part.get("Content-Transfer-Encoding") != "8bit":
            continue
        content = part.get_content()
        part.set_content(content, subtype=part.get_content_subtype(),
                         cte="quoted-printable")
    return message.as_bytes()
