"""A digest flattened once and filled in per reader reads exactly like one built per reader."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.digest import header_text
from feeds.mail import LINE_LIMIT, MessageTemplate, Personal, dot_stuffed

PLACEHOLDERS = Personal.placeholders()
LOCAL = st.text("abcdefghijklmnopqrstuvwxyz0123456789.+_-", min_size=1, max_size=40)
BODY = st.text(st.characters(blacklist_categories=("Cs",)), max_size=400)


def template(text: str, html: str, subject: str = "Digest") -> MessageTemplate:
    p = PLACEHOLDERS
    return MessageTemplate(
        headers=(("From", "feeds <feeds@example.org>"), ("To", p.to), ("Subject", subject),
                 ("Date", p.date), ("Message-ID", p.message_id),
                 ("List-Unsubscribe", f"<{p.url}>, <mailto:feeds@example.org>")),
        text=f"{text}\nUnsubscribe: {p.url}\n",
        html=f"<p>{html}</p><a href=\"{p.url}\">unsubscribe</a>", placeholders=p)


def reader(local: str, token: str = "abc.DEF_123") -> Personal:
    return Personal(to=f"{local}@example.org", date="Mon, 30 Nov 2026 07:00:00 +0000",
                    message_id=f"<{local}.1@example.org>",
                    url=f"https://news.example.org/unsubscribe/{token}")


def read(data: bytes) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    message: EmailMessage = email.message_from_bytes(  # type: ignore[assignment]
        data, policy=email.policy.default)
    headers = [(k, str(v)) for k, v in message.items() if k != "Content-Type"]
    parts = [(p.get_content_type(), str(p["Content-Transfer-Encoding"]), p.get_content())
             for p in message.iter_parts()]
    return headers, parts


@settings(max_examples=150, deadline=None)
@given(text=BODY, html=BODY, subject=st.text(max_size=80), local=LOCAL)
def test_filled_copies_read_like_built_ones(text: str, html: str, subject: str,
                                            local: str) -> None:
    made = template(text, html, header_text(subject) or "x")  # as the digest cleans it
    values = reader(local)
    filled = made.fill(values)
    built = made.build(values).as_bytes()
    longest = max(len(line) for body in (made.text, made.html)
                  for line in body.encode().splitlines() or [b""])
    if longest <= LINE_LIMIT - 100:  # room for the link: the fast way must be taken
        assert filled is not None
    if filled is not None:
        assert read(filled) == read(built)
        assert made.copy_for(values) == filled
        assert all(len(line) <= LINE_LIMIT for line in filled.split(b"\r\n"))


def test_the_fast_way_is_taken_for_ordinary_digests_and_refused_where_inexact() -> None:
    made = template("Gaza truce talks resume in Doha — “cautious optimism”", "Idlib")
    assert made.fill(reader("ada")) is not None
    # values a header would quote or encode are built in full
    plain = reader("x")
    assert made.fill(Personal("José@example.org", plain.date, plain.message_id,
                              plain.url)) is None
    assert made.fill(reader("x", token="a b")) is None
    # a line too long for 8-bit transfer: the email package encodes it, so no filling
    long = template("word " * 300, "x")
    assert long.fill(reader("ada")) is None
    [text, _] = read(long.build(reader("ada")).as_bytes())[1]
    assert text[1] in ("quoted-printable", "base64")
    # a link that would push its line past the limit
    edge = template("x", "y" * (LINE_LIMIT - 60))
    assert edge.fill(reader("ada", token="t" * 200)) is None


def test_a_line_holding_the_link_twice_never_grows_past_the_limit() -> None:
    p = PLACEHOLDERS
    twice = MessageTemplate(
        headers=(("From", "feeds <feeds@example.org>"), ("To", p.to), ("Subject", "Digest"),
                 ("Date", p.date), ("Message-ID", p.message_id)),
        text=f"Unsubscribe: {p.url}\n",
        html=f"<p>{'y' * (LINE_LIMIT - 200)}<a href=\"{p.url}\">{p.url}</a></p>",
        placeholders=p)
    values = reader("ada", token="t" * 70)  # fits once on that line, not twice
    made = twice.copy_for(values)
    assert all(len(line) <= LINE_LIMIT for line in made.split(b"\r\n"))
    assert read(made) == read(twice.build(values).as_bytes())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b".", b"..", b"\r\n", b"\n", b"\r", b"a", b"\r\n.", b" "]),
                max_size=30).map(b"".join))
def test_dot_stuffing_is_smtplibs(data: bytes) -> None:
    """DATA's body as smtplib sends it: a dot at each line's start (after any LF) doubled,
    a CRLF added unless the data ends with one, then the lone dot."""
    expected = re.sub(rb"(?m)^\.", b"..", data)
    if not expected.endswith(b"\r\n"):
        expected += b"\r\n"
    assert dot_stuffed(data) == expected + b".\r\n"
