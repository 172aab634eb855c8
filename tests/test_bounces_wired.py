"""Bounces wired to the list: real returned messages (tests/data/bounces) dropped into the
bounce Maildir suppress the right subscriber, through `feeds bounces process` and through the
running daemon; digests carry the VERP envelope sender."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from feeds.bounces import verp_address
from feeds.store import schema
from tests.conftest import ROOT, Env, Process, SMTPRecorder, free_port, wait_for

BOUNCES = ROOT / "tests" / "data" / "bounces"
BASE = "bounces@example.org"


def with_bounces(env: Env, **extra: Any) -> Path:
    env.write_config(bounces={"address": BASE, "maildir": "bounces", **extra})
    box = env.root / "bounces"
    for sub in ("tmp", "new", "cur"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    return box


def deliver(box: Path, name: str, data: bytes | None = None) -> None:
    """As an MTA delivers: written into tmp/, then renamed into new/."""
    (box / "tmp" / name).write_bytes(data if data is not None else (BOUNCES / name).read_bytes())
    (box / "tmp" / name).rename(box / "new" / name)


def states(env: Env) -> dict[str, str]:
    out = env.feeds("subscribers", "list", "--json").stdout
    return {row["email"]: row["status"] for row in map(json.loads, out.splitlines())}


def test_returned_mail_suppresses_the_right_subscribers(env: Env) -> None:
    box = with_bounces(env)
    for address in ("Ada.Nobody@example.net", "grace@example.com", "linus@example.net",
                    "katherine.j@example.com", "reader@example.org"):
        env.feeds("subscribers", "add", address, "--topics", "syria")
    for name in ("postfix_user_unknown_5.1.1.eml", "exim_classic_text_x_failed_recipients.eml",
                 "postfix_delayed_mailbox_full_4.2.2.eml", "arf_abuse_yahoo_feedback_loop.eml",
                 "out_of_office_exchange_auto_reply.eml", "garbage_bytes.eml"):
        deliver(box, name)
    out = env.feeds("bounces", "process").stdout
    assert "bounces: 6 messages" in out and "1 kept" in out, out
    assert states(env) == {"Ada.Nobody@example.net": "bounced", "grace@example.com": "bounced",
                           "linus@example.net": "active",  # one soft bounce of three
                           "katherine.j@example.com": "complained",
                           "reader@example.org": "active"}
    # the unreadable one stays, flagged for a human; the others are marked seen; none is lost
    kept = [p.name for p in (box / "cur").iterdir() if p.name.endswith(",F")]
    seen = [p.name for p in (box / "cur").iterdir() if p.name.endswith(",S")]
    assert len(kept) == 1 and kept[0].startswith("garbage_bytes.eml") and len(seen) == 5
    assert list((box / "new").iterdir()) == []
    # soft_limit soft bounces in a row mark the subscriber bounced
    for n in (2, 3):
        deliver(box, f"delayed-{n}.eml",
                (BOUNCES / "postfix_delayed_mailbox_full_4.2.2.eml").read_bytes())
        env.feeds("bounces", "process")
    assert states(env)["linus@example.net"] == "bounced"
    status = env.status()
    assert status["bounces"] == {"complaint": 1, "hard": 2, "kept": 1, "soft": 3,
                                 "unrecognized": 1}
    assert status["subscribers"] == {"active": 1, "bounced": 3, "complained": 1}
    assert "bounce mailbox: 1 complaint, 2 hard, 1 kept, 3 soft, 1 unrecognized" in \
        env.feeds("status").stdout
    # a suppressed address is not mailed, and `add` does not bring it back
    env.drop("x.md", "---\ntitle: Syria talks\n---\nOfficials in Damascus said Syria would "
             "hold talks with Syrian groups.\n")
    env.feeds("ingest")
    assert "1 sent" in env.feeds("digest", "send", "--all").stdout
    assert env.feeds("subscribers", "add", "grace@example.com", check=False).returncode == 1


def test_a_bounce_naming_nobody_is_recorded_and_logged(env: Env) -> None:
    box = with_bounces(env)
    deliver(box, "postfix_user_unknown_5.1.1.eml")
    result = env.feeds("bounces", "process")
    assert "1 unknown" in result.stdout
    assert "bounce for no known subscriber" in result.stderr
    assert env.sql("select kind, email_key from bounce_reports") == [("hard", None)]


@pytest.mark.skipif("token" not in schema.subscribers.c,
                    reason="subscriber tokens come with schema v6 (the sign-up branch)")
def test_a_complaint_with_a_redacted_recipient_names_the_subscriber_by_token(env: Env) -> None:
    box = with_bounces(env)
    env.feeds("subscribers", "add", "someone@example.com", "--topics", "syria")
    env.sql("update subscribers set token = 'Xk3jH6gF9dS2aQ7w'")
    deliver(box, "arf_abuse_headers_only_redacted_recipient.eml")
    env.feeds("bounces", "process")
    assert states(env) == {"someone@example.com": "complained"}


def test_the_running_daemon_reads_the_bounce_mailbox(env: Env) -> None:
    env.feeds("subscribers", "add", "ada.nobody@example.net", "--topics", "syria")
    daemon = Process(env, "run", bounces={"address": BASE, "maildir": "bounces",
                                          "poll_seconds": 0.5})
    try:
        daemon.wait_up()
        box = env.root / "bounces"
        deliver(box, "postfix_user_unknown_5.1.1.eml")
        assert wait_for(lambda: states(env)["ada.nobody@example.net"] == "bounced", 30), \
            daemon.output()
    finally:
        daemon.stop()


class EnvelopeRecorder(SMTPRecorder):
    def __init__(self) -> None:
        super().__init__()
        self.senders: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.senders.append(envelope.mail_from)
        return await super().handle_DATA(server, session, envelope)


def test_a_digest_over_smtp_carries_the_verp_envelope_sender(env: Env) -> None:
    from aiosmtpd.controller import Controller
    recorder = EnvelopeRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        env.write_config(smtp={"host": "127.0.0.1", "port": controller.port,
                               "security": "none"}, bounces={"address": BASE})
        env.feeds("subscribers", "add", "reader@example.org", "--topics", "syria")
        env.drop("x.md", "---\ntitle: Syria talks\n---\nOfficials in Damascus said Syria "
                 "would hold talks with Syrian groups.\n")
        env.feeds("ingest")
        env.feeds("digest", "send", "--all")
    finally:
        controller.stop()
    expected = BASE
    if "token" in schema.subscribers.c:
        [(token,)] = env.sql("select token from subscribers")
        expected = verp_address(BASE, token)
    assert recorder.senders == [expected] and recorder.recipients == ["reader@example.org"]


def test_mailto_unsubscribe_only_when_that_mailbox_is_read(env: Env) -> None:
    env.feeds("subscribers", "add", "reader@example.org", "--topics", "syria")
    env.drop("x.md", "---\ntitle: Syria talks\n---\nOfficials in Damascus said Syria would "
             "hold talks with Syrian groups.\n")
    env.feeds("ingest")
    env.write_config(mail={"unsubscribe_mailto": BASE})  # set, but nothing reads it
    env.feeds("digest", "send", "--all")
    box = with_bounces(env)
    env.write_config(mail={"unsubscribe_mailto": BASE},
                     bounces={"address": BASE, "maildir": "bounces"})
    env.drop("y.md", "---\ntitle: More Syria talks\n---\nOfficials in Damascus said Syria "
             "would hold more talks with Syrian groups.\n")
    env.feeds("ingest")
    env.feeds("digest", "send", "--all")
    import email
    import email.policy
    first, second = (email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                     for p in sorted((env.state / "outbox" / "new").iterdir(),
                                     key=lambda p: p.stat().st_mtime_ns))
    assert "mailto:" not in str(first["List-Unsubscribe"])
    assert f"<mailto:{BASE}?subject=unsubscribe>" in str(second["List-Unsubscribe"])
    assert second["Return-Path"] == f"<{BASE}>" or second["Return-Path"].startswith(
        "<bounces+")
    deliver(box, "unsubscribe.eml", b"From: Reader <reader@example.org>\r\nTo: " +
            BASE.encode() + b"\r\nSubject: unsubscribe\r\n\r\n\r\n")
    assert "1 unsubscribe" in env.feeds("bounces", "process").stdout
    assert states(env) == {"reader@example.org": "unsubscribed"}


def test_a_maildir_that_cannot_be_made_is_a_clear_error(env: Env) -> None:
    (env.root / "blocked").write_text("a file, not a folder", encoding="utf-8")
    env.write_config(bounces={"address": BASE, "maildir": "blocked"})
    result = env.feeds("bounces", "process", check=False)
    assert result.returncode == 1 and "cannot open the bounce Maildir" in result.stderr
    shutil.rmtree(env.root / "bounces", ignore_errors=True)
