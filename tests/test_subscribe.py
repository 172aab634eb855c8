"""Readers sign themselves up (double opt-in) and manage their subscription, over the real HTTP
server, with the confirmation and the digests received by a real SMTP server (issue 21)."""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as dt_time
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import Env, Process, SMTPRecorder

STORY = ("Aid convoy reaches Aleppo\n\nALEPPO, Syria (Wire) - A convoy of forty trucks carrying "
         "food and medicine reached Aleppo on Thursday after the road from the border "
         "reopened, United Nations officials in Syria said.\n")


def mails(smtp: SMTPRecorder) -> list[EmailMessage]:
    return [email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for raw in smtp.messages]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link(message: EmailMessage, path: str) -> str:
    found = re.search(rf"http://\S+/{path}/\S+", text_of(message))
    assert found, text_of(message)
    return found.group(0)


def local(url: str, server: Process) -> str:
    return re.sub(r"^http://[^/]+/", server.url, url)


def listed(env: Env) -> dict[str, dict[str, Any]]:
    out = env.feeds("subscribers", "list", "--json").stdout
    return {row["email"]: row for row in map(json.loads, out.splitlines())}


@pytest.fixture
def site(env: Env, smtp: SMTPRecorder) -> Iterator[Process]:
    """`feeds serve` on a free port, mailing through the test's SMTP server."""
    env.write_config(smtp={"host": "127.0.0.1", "port": smtp.port, "security": "none"})
    env.drop("convoy.txt", STORY)
    env.feeds("ingest")
    server = Process(env, "serve", smtp={"host": "127.0.0.1", "port": smtp.port,
                                         "security": "none"})
    server.wait_up()
    try:
        yield server
    finally:
        server.stop()


def sign_up(server: Process, address: str, topics: list[str], **more: str) -> httpx.Response:
    return httpx.post(server.url + "subscribe", timeout=10,
                      data={"email": address, "topics": topics, "schedule": "daily", **more})


def test_a_reader_signs_up_confirms_and_gets_the_next_digest(env: Env, smtp: SMTPRecorder,
                                                             site: Process) -> None:
    front = httpx.get(site.url + "index.html", timeout=5).text
    assert re.search(r'href="http://[^"]+/subscribe"', front)
    topic_page = httpx.get(site.url + "topics/gaza.html", timeout=5).text
    assert re.search(r'href="http://[^"]+/subscribe\?topic=gaza"', topic_page)
    form = httpx.get(site.url + "subscribe?topic=gaza", timeout=5)
    assert form.status_code == 200
    assert re.search(r'name="topics" value="gaza"[^>]* checked', form.text)
    assert 'name="topics" value="syria"' in form.text and 'value="daily"' in form.text
    # config.toml's daily digest: 07:00 in London; the form says when the next one goes
    london = datetime.now(ZoneInfo("Europe/London"))
    first = london.date() + timedelta(days=0 if london.hour < 7 else 1)
    at_seven = datetime.combine(first, dt_time(7), tzinfo=ZoneInfo("Europe/London"))
    next_one = f"{first.day} {first:%B %Y}, 07:00 {'BST' if at_seven.dst() else 'GMT'}"
    assert f"(next: {next_one})" in form.text

    answer = sign_up(site, "Reader@Example.org", ["syria", "gaza"])
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    [confirmation] = mails(smtp)
    assert confirmation["To"] == "Reader@Example.org"
    assert confirmation.get_body(preferencelist=("html",)) is not None
    assert "Syria, Gaza" in text_of(confirmation)
    assert confirmation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert listed(env)["Reader@Example.org"]["status"] == "pending"

    url = local(link(confirmation, "confirm"), site)
    shown = httpx.get(url, timeout=5)  # what a mail scanner's prefetch does: nothing changes
    assert shown.status_code == 200 and "<button" in shown.text
    assert listed(env)["Reader@Example.org"]["status"] == "pending"
    done = httpx.post(url, timeout=5)
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert (f"will receive the daily digest: the first on {next_one}, with the stories that "
            "come in from now on.") in done.text
    row = listed(env)["Reader@Example.org"]
    assert row["status"] == "active" and row["topics"] == ["syria", "gaza"]
    assert row["consent_ip"] == "127.0.0.1" and row["consent_at"] and row["confirmed_at"]
    again = httpx.post(url, timeout=5)  # a replayed confirmation changes nothing
    assert again.status_code == 200 and "Already confirmed" in again.text

    env.drop("water.txt", STORY.replace("Aid convoy reaches Aleppo", "Water returns to Aleppo")
             .replace("convoy of forty trucks carrying food and medicine", "water main"))
    env.feeds("ingest")
    env.feeds("digest", "send", "--all")
    digest = mails(smtp)[-1]
    assert digest["To"] == "Reader@Example.org"
    assert "Water returns to Aleppo" in text_of(digest)
    assert "Aid convoy" not in text_of(digest)  # first = "next": only what came after
    assert re.search(r"/preferences/\S+", text_of(digest))


def test_every_valid_request_gets_the_same_answer_and_bad_ones_the_form_back(
        env: Env, smtp: SMTPRecorder, site: Process) -> None:
    env.feeds("subscribers", "add", "known@example.org", "--topics", "syria")
    first = sign_up(site, "new@example.org", ["syria"])
    pending = sign_up(site, "new@example.org", ["syria"])
    known = sign_up(site, "known@example.org", ["syria"])
    assert first.status_code == pending.status_code == known.status_code == 200
    assert first.text == pending.text == known.text  # nothing tells who is on the list
    assert listed(env)["known@example.org"]["topics"] == ["syria"]  # unchanged by a stranger

    bad = sign_up(site, "not-an-address", ["syria"])
    assert bad.status_code == 400 and "Enter an email address" in bad.text
    assert 'value="not-an-address"' in bad.text
    unknown = sign_up(site, "x@example.org", ["weather"])
    assert unknown.status_code == 400 and "Unknown topic: weather" in unknown.text
    none = sign_up(site, "x@example.org", [])
    assert none.status_code == 400 and "Choose at least one topic" in none.text
    as_json = httpx.post(site.url + "subscribe", timeout=5,
                         json={"email": "api@example.org", "topics": ["gaza"]})
    assert as_json.status_code == 200 and as_json.json()["ok"] is True
    bad_json = httpx.post(site.url + "subscribe", timeout=5,
                          json={"email": "api@example.org", "topics": ["nope"]})
    assert bad_json.status_code == 400 and "topics" in bad_json.json()["errors"]
    count = len(smtp.messages)
    bot = sign_up(site, "bot@example.org", ["syria"], website="http://spam.example")
    assert bot.status_code == 200 and bot.text == first.text
    huge = httpx.post(site.url + "subscribe", timeout=5,
                      content=b"email=" + b"a" * 200_000,
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert huge.status_code == 413
    assert len(smtp.messages) == count  # the honeypot and the oversized body mailed nothing
    # one confirmation per address within resend_minutes; a subscriber asking for other
    # topics gets one too (confirming it is what changes their subscription)
    assert sorted(m["To"] for m in mails(smtp)) == ["api@example.org", "known@example.org",
                                                    "new@example.org"]
    assert "bot@example.org" not in listed(env)
    assert httpx.get(site.url + "subscribe", timeout=5).status_code == 200  # still serving


def test_rate_limits_answer_429(env: Env, smtp: SMTPRecorder, site: Process) -> None:
    answers = [sign_up(site, "often@example.org", ["syria"]).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]  # signup.per_address_per_hour = 3
    assert len(smtp.messages) == 1


def test_expired_forged_and_declined_links(env: Env, smtp: SMTPRecorder,
                                           site: Process) -> None:
    sign_up(site, "decline@example.org", ["gaza"])
    [confirmation] = mails(smtp)
    url = local(link(confirmation, "confirm"), site)
    forged = httpx.post(url[:-2] + ("xy" if not url.endswith("xy") else "zw"), timeout=5)
    assert forged.status_code == 400 and "not valid" in forged.text
    assert re.search(r'href="http://[^"]+/subscribe"', forged.text)  # a way to start again
    decline = re.search(r"<([^>]+)>", confirmation["List-Unsubscribe"])
    assert decline and "/decline/" in decline.group(1)
    # as sent: the link itself on the header's line (a mail client reads no RFC 2047 there)
    assert f"\r\nList-Unsubscribe: <{decline.group(1)}>\r\n".encode() in smtp.messages[0]
    said_no = httpx.post(local(decline.group(1), site), timeout=5,
                         data={"List-Unsubscribe": "One-Click"})
    assert said_no.status_code == 200 and "Nothing will be sent" in said_no.text
    gone = httpx.post(url, timeout=5)
    assert gone.status_code == 400 and "decline@example.org" not in listed(env)

    short = Process(env, "serve", signup={"confirm_hours": 0.0003},  # about a second
                    smtp={"host": "127.0.0.1", "port": smtp.port, "security": "none"})
    short.wait_up()
    try:
        sign_up(short, "late@example.org", ["gaza"])
        late = local(link(mails(smtp)[-1], "confirm"), short)
        time.sleep(2.5)
        expired = httpx.post(late, timeout=5)
        assert expired.status_code == 400 and "expired" in expired.text
        assert listed(env)["late@example.org"]["status"] == "pending"
    finally:
        short.stop()


def test_sign_ups_never_confirmed_are_dropped_after_pending_days(
        env: Env, smtp: SMTPRecorder, site: Process) -> None:
    sign_up(site, "old@example.org", ["gaza"])
    old = local(link(mails(smtp)[-1], "confirm"), site)
    env.sql("UPDATE signups SET created = :when", when="2026-01-01 00:00:00.000000")
    fresh = sign_up(site, "new@example.org", ["gaza"])
    assert fresh.status_code == 200, fresh.text
    assert "old@example.org" not in listed(env)
    assert httpx.post(old, timeout=5).status_code == 400


def test_the_preference_page_changes_topics_schedule_and_state(
        env: Env, smtp: SMTPRecorder, site: Process) -> None:
    env.write_config(digests={"weekly": {"cron": "0 7 * * 1", "topics": ["gaza"]}})
    sign_up(site, "pat@example.org", ["syria"])
    done = httpx.post(local(link(mails(smtp)[-1], "confirm"), site), timeout=5)
    manage = re.search(r'href="([^"]+/preferences/[^"]+)"', done.text)
    assert manage
    page = local(manage.group(1), site)
    shown = httpx.get(page, timeout=5)
    assert shown.status_code == 200 and "pat@example.org" in shown.text

    saved = httpx.post(page, timeout=5, data={"action": "save", "topics": ["gaza", "syria"],
                                              "schedule": "daily"})
    assert saved.status_code == 200 and "saved" in saved.text
    assert listed(env)["pat@example.org"]["topics"] == ["gaza", "syria"]
    left = httpx.post(page, timeout=5, data={"leave": "syria"})
    assert "You left Syria" in left.text and listed(env)["pat@example.org"]["topics"] == ["gaza"]
    httpx.post(page, timeout=5, data={"action": "pause"})
    assert listed(env)["pat@example.org"]["status"] == "paused"
    httpx.post(page, timeout=5, data={"action": "resume"})
    assert listed(env)["pat@example.org"]["status"] == "active"
    out = httpx.post(page, timeout=5, data={"action": "unsubscribe"})
    assert listed(env)["pat@example.org"]["status"] == "unsubscribed"
    assert "Subscribe again" in out.text  # the way back
    refused = httpx.post(page, timeout=5, data={"action": "save", "topics": ["gaza"],
                                                "schedule": "daily"})
    assert refused.status_code == 409 and "saved" not in refused.text
    assert listed(env)["pat@example.org"]["status"] == "unsubscribed"
    env.sql("UPDATE signups SET mailed_at = :when", when="2026-01-01 00:00:00.000000")
    count = len(smtp.messages)
    back = httpx.post(page, timeout=5, data={"action": "resubscribe"})
    assert "Check your inbox" in back.text and len(smtp.messages) == count + 1
    assert listed(env)["pat@example.org"]["status"] == "unsubscribed"  # until confirmed
    stranger = httpx.get(site.url + "preferences/not-a-token", timeout=5)
    assert stranger.status_code == 404


def test_first_recent_puts_the_latest_stories_in_the_first_digest(
        env: Env, smtp: SMTPRecorder) -> None:
    mailer = {"host": "127.0.0.1", "port": smtp.port, "security": "none"}
    env.write_config(smtp=mailer, digests={"daily": {"cron": "0 7 * * *", "first": "recent",
                                                     "recent": 1}})
    env.drop("convoy.txt", STORY)
    env.feeds("ingest")
    server = Process(env, "serve", smtp=mailer,
                     digests={"daily": {"cron": "0 7 * * *", "first": "recent", "recent": 1}})
    server.wait_up()
    try:
        sign_up(server, "fresh@example.org", ["syria"])
        httpx.post(local(link(mails(smtp)[-1], "confirm"), server), timeout=5)
    finally:
        server.stop()
    env.feeds("digest", "send", "--all")
    digest = mails(smtp)[-1]
    assert digest["To"] == "fresh@example.org" and "Aid convoy reaches Aleppo" in text_of(digest)
