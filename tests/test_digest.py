"""Digests end to end: the CLI, a real SMTP server (aiosmtpd on 127.0.0.1), a real SQLite file,
and the real HTTP server for unsubscribing."""

from __future__ import annotations

import email
import email.policy
import itertools
import re
import shutil
import signal
import subprocess
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from feeds.config import DigestConfig
from feeds.digest.schedule import latest_slot
from tests.conftest import (
    FEEDS_BIN,
    ROOT,
    Env,
    PipeliningRecorder,
    Process,
    SMTPRecorder,
    free_port,
    wait_for,
)

SAMPLES = ROOT / "samples" / "inbox"


def with_smtp(env: Env, smtp: SMTPRecorder, connections: int | None = None,
              **extra: Any) -> None:
    """Send to `smtp`, over `connections` at once (None: the default)."""
    server: dict[str, Any] = {"host": "127.0.0.1", "port": smtp.port, "security": "none"}
    if connections is not None:
        server["connections"] = connections
    env.write_config(smtp=server, ingest={"settle_seconds": 0.0}, **extra)


def messages(smtp: SMTPRecorder) -> list[EmailMessage]:
    return [email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for raw in smtp.messages]


def subscribe(env: Env, address: str, topics: str = "syria,gaza") -> None:
    env.feeds("subscribers", "add", address, "--topics", topics)


def subscribe_all(env: Env, addresses: list[str], topic: str) -> None:
    """Many subscribers in one command (`subscribers import`), as an editor would add them."""
    readers = env.root / "readers.csv"
    readers.write_text("".join(f"{a},{topic}\n" for a in addresses), encoding="utf-8")
    result = env.feeds("subscribers", "import", str(readers))
    assert f"{len(addresses)} added or updated, 0 skipped" in result.stdout


def load_samples(env: Env, *names: str) -> None:
    for path in SAMPLES.iterdir():
        if not names or path.name in names:
            shutil.copy2(path, env.inbox / path.name)
    env.feeds("ingest")


def deliveries(env: Env) -> list[tuple[Any, ...]]:
    return env.sql("select subscriber, status, attempts from deliveries order by id")


def test_digest_over_smtp_with_every_header_and_nothing_twice(env: Env,
                                                               smtp: SMTPRecorder) -> None:
    with_smtp(env, smtp)
    subscribe(env, "reader@example.org")
    load_samples(env)
    result = env.feeds("digest", "send", "--all")
    assert "1 sent" in result.stdout, result.stdout
    [message] = messages(smtp)
    for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Id"):
        assert len(message.get_all(header) or []) == 1, header
    assert message["To"] == "reader@example.org"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # only the link: no mailto, since nothing reads the from address's mailbox
    assert re.fullmatch(r"<http://127\.0\.0\.1:8080/unsubscribe/[\w.-]+>",
                        message["List-Unsubscribe"])
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    links = re.findall(r'href="([^"]+)"', html)
    assert links and all(link.startswith("http://127.0.0.1:8080/") for link in links)
    assert 'style="' in html  # CSS inlined for mail clients
    # The same article in two of the subscriber's topics shows once; a story is one entry.
    assert html.count("Mediators say Gaza truce extension") == 1
    assert "Gulf Wire, Nile Desk" in html and "Gulf Wire, Nile Desk" in text
    for title in ("Water shortages deepen in Idlib camps", "Mediators say Gaza truce"):
        assert title in text and title in html
    assert "Kharkiv" not in text and "prisoner swap" not in text
    # nothing twice: a second run sends nothing; a new article arrives in the next one alone
    assert "0 sent" in env.feeds("digest", "send", "--all").stdout
    env.drop("late.txt", "Late news from Damascus\n\nDAMASCUS (Wire) - Syria's government "
             "said on Tuesday that Syrian schools would reopen in Aleppo next month.\n")
    env.feeds("ingest")
    env.feeds("digest", "send", "--all")
    assert len(smtp.messages) == 2
    second = messages(smtp)[1].get_body(("plain",)).get_content()
    assert "Late news from Damascus" in second and "Idlib" not in second


def test_dry_run_and_preview_send_and_record_nothing(env: Env, smtp: SMTPRecorder,
                                                     tmp_path: Path) -> None:
    with_smtp(env, smtp)
    subscribe(env, "reader@example.org")
    load_samples(env)
    dry = env.feeds("digest", "send", "--all", "--dry-run")
    assert "would send 1 digest " in dry.stdout and "reader@example.org: 5 items" in dry.stdout
    out = tmp_path / "next.eml"
    env.feeds("digest", "preview", "--subscriber", "reader@example.org", "--out", str(out))
    preview = email.message_from_bytes(out.read_bytes(), policy=email.policy.default)
    assert "Water shortages deepen" in preview.get_body(("plain",)).get_content()
    shown = env.feeds("digest", "preview", "--subscriber", "reader@example.org").stdout
    assert "Subject: feeds: your daily digest (5 stories)" in shown
    assert smtp.messages == [] and deliveries(env) == []
    assert "1 sent" in env.feeds("digest", "send", "--all").stdout  # still all there to send


def test_markup_in_titles_is_escaped_and_headers_cannot_be_injected(
        env: Env, smtp: SMTPRecorder) -> None:
    with_smtp(env, smtp, site={"title": "News\r\nBcc: victim@example.com",
                               "base_url": "http://127.0.0.1:8080/"})
    subscribe(env, "reader@example.org", "syria")
    env.drop("x.md", "---\ntitle: 'Syria <script>alert(1)</script> & Co'\n---\n"
             "Officials in Damascus said Syria would hold talks with Syrian groups.\n")
    env.feeds("ingest")
    env.feeds("digest", "send", "--all")
    [raw] = smtp.messages
    head = raw.split(b"\r\n\r\n")[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n")[0]
    assert not re.search(rb"(?m)^Bcc:", head)
    [message] = messages(smtp)
    assert message.get_all("Bcc") is None
    assert "\n" not in message["Subject"]
    assert message["Subject"].endswith("your daily digest (1 story)")
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert "Syria <script>alert(1)</script> & Co" in message.get_body(("plain",)).get_content()


def test_to_a_server_that_offers_pipelining_each_message_takes_two_round_trips(
        env: Env, smtp_pipelining: PipeliningRecorder) -> None:
    """MAIL, RCPT and DATA go in one write (RFC 2920), the body in the next; a refused
    recipient among them fails alone, and the rest are sent."""
    with_smtp(env, smtp_pipelining, connections=1)
    for address in ("first@example.org", "gone@example.org", "third@example.org"):
        subscribe(env, address, "syria")
    smtp_pipelining.refuse = {"gone@example.org"}
    load_samples(env, "idlib-water.html")
    result = env.feeds("digest", "send", "--all", check=False)
    assert "2 sent, 1 failed" in result.stdout, result.stdout + result.stderr
    assert "recipient refused: 550 5.1.1 no such user" in result.stderr
    assert sorted(smtp_pipelining.recipients) == ["first@example.org", "third@example.org"]
    envelopes = [c for c in smtp_pipelining.chunks if c.startswith(b"MAIL FROM:")]
    assert len(envelopes) == 3, smtp_pipelining.chunks
    for chunk, address in zip(envelopes, ("first", "gone", "third"), strict=True):
        assert chunk.endswith(f"\r\nRCPT TO:<{address}@example.org>\r\nDATA\r\n".encode())
    statuses = dict((who, status) for who, status, _ in deliveries(env))
    assert statuses["gone@example.org"] == "failed"


@pytest.mark.parametrize(("server", "replies", "sent", "status"), [
    ("smtp", ["421 4.3.2 try again later"], 1, "sent"),
    ("smtp", ["drop"], 0, "pending"),  # no reply to the end of the message: maybe delivered
    ("smtp", ["451 4.3.0 busy", "451 4.3.0 busy", "451 4.3.0 busy"], 0, "pending"),
    ("smtp", ["550 5.1.1 no such user"], 0, "failed"),
    # the same after a pipelined envelope
    ("smtp_pipelining", ["421 4.3.2 try again later"], 1, "sent"),
    ("smtp_pipelining", ["drop"], 0, "pending"),
    ("smtp_pipelining", ["550 5.1.1 no such user"], 0, "failed"),
])
def test_smtp_failures_are_retried_or_recorded(env: Env, request: pytest.FixtureRequest,
                                               server: str, replies: list[str], sent: int,
                                               status: str) -> None:
    smtp: SMTPRecorder = request.getfixturevalue(server)
    with_smtp(env, smtp)
    subscribe(env, "reader@example.org", "syria")
    load_samples(env, "idlib-water.html")
    smtp.replies = list(replies)
    first = env.feeds("digest", "send", "--all", check=False)
    assert first.returncode == (1 if status == "failed" else 0), first.stdout + first.stderr
    assert len(smtp.messages) == sent
    [(_, got, _attempts)] = deliveries(env)
    assert got == status
    if status == "pending":
        assert env.status()["pending_deliveries"] == 1
        env.feeds("digest", "send", "--all")  # the server is fine again: the pending one goes out
        assert len(smtp.messages) == 1 and deliveries(env)[0][1] == "sent"
        assert "0 sent" in env.feeds("digest", "send", "--all").stdout
    if status == "failed":  # the items were not delivered, so they are not lost
        env.feeds("digest", "send", "--all")
        assert len(smtp.messages) == 1
        assert "Idlib" in messages(smtp)[0].get_body(("plain",)).get_content()


@pytest.mark.parametrize(("reply", "status"), [
    ("421 4.7.0 too many connections", "pending"), ("553 5.7.1 sender refused", "failed")])
def test_a_refused_sender_in_a_pipelined_group_is_said_and_kept(
        env: Env, smtp_pipelining: PipeliningRecorder, reply: str, status: str) -> None:
    """MAIL refused inside a pipelined group: its reply is the one reported (a 421 comes
    with the connection closed), nothing is delivered, and a temporary refusal waits."""
    with_smtp(env, smtp_pipelining, connections=1)
    subscribe(env, "reader@example.org", "syria")
    load_samples(env, "idlib-water.html")
    smtp_pipelining.refuse_mail = [reply] * 3
    result = env.feeds("digest", "send", "--all", check=False)
    code, text = reply.split(" ", 1)
    assert f"SMTP {code}: {text}" in result.stderr, result.stderr
    assert smtp_pipelining.messages == []
    assert [got for _, got, _ in deliveries(env)] == [status]
    if status == "pending":
        env.feeds("digest", "send", "--all")
        assert len(smtp_pipelining.messages) == 1


def test_a_slow_reply_to_the_end_of_a_message_is_waited_for_not_sent_again(
        env: Env, smtp: SMTPRecorder) -> None:
    """A server that runs its filters before it answers the final "." is given the ten
    minutes RFC 5321 allows, whatever smtp.timeout_seconds says for the other replies: a
    client that gave up sooner sent the message again, and the server kept every copy."""
    env.write_config(smtp={"host": "127.0.0.1", "port": smtp.port, "security": "none",
                           "connections": 1, "timeout_seconds": 0.5},
                     ingest={"settle_seconds": 0.0})
    subscribe(env, "reader@example.org", "syria")
    load_samples(env, "idlib-water.html")
    smtp.block = lambda: time.sleep(1.5)
    result = env.feeds("digest", "send", "--all")
    assert "1 sent" in result.stdout, result.stdout + result.stderr
    assert len(smtp.messages) == 1
    assert [status for _, status, _ in deliveries(env)] == ["sent"]


def test_an_unreachable_server_stops_the_run_and_every_digest_waits(env: Env) -> None:
    """Nothing listens at the configured port: the first connection's failure ends the run
    (each further digest would fail the same way), and every digest stays pending."""
    env.write_config(smtp={"host": "127.0.0.1", "port": free_port(), "security": "none",
                           "connections": 1}, ingest={"settle_seconds": 0.0})
    for address in ("first@example.org", "second@example.org", "third@example.org"):
        subscribe(env, address, "syria")
    load_samples(env, "idlib-water.html")
    result = env.feeds("digest", "send", "--all", check=False)
    assert "0 sent, 0 failed, 3 to retry" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 1  # a cron job hears of it
    assert "feeds: sending stopped: the mail server cannot be reached" in result.stderr
    assert result.stderr.count("delivery failed") == 1
    assert "Connection refused" in result.stderr
    assert "3 deliveries wait for the next run" in result.stderr
    assert [status for _, status, attempts in deliveries(env)] == ["pending"] * 3
    assert env.status()["pending_deliveries"] == 3
    dry = env.feeds("digest", "send", "--all", "--dry-run").stdout
    assert "and 3 deliveries pending from earlier runs (a run of their schedule" in dry, dry


def test_repeated_hard_failures_pause_the_subscriber(env: Env, smtp: SMTPRecorder) -> None:
    with_smtp(env, smtp)
    subscribe(env, "gone@example.org", "syria")
    load_samples(env, "idlib-water.html")
    for _ in range(3):
        smtp.replies = ["550 5.1.1 no such user"]
        assert env.feeds("digest", "send", "--all", check=False).returncode == 1
    listed = env.feeds("subscribers", "list").stdout
    assert "gone@example.org\tdaily\tpaused" in listed
    assert "0 sent" in env.feeds("digest", "send", "--all").stdout and smtp.messages == []


@pytest.mark.parametrize("connections", [1, 3])
def test_killed_delivery_resumes_without_loss_or_duplicate(env: Env, smtp: SMTPRecorder,
                                                           connections: int) -> None:
    with_smtp(env, smtp, connections)
    readers = [f"reader{n}@example.org" for n in range(5)]
    subscribe_all(env, readers, "syria")
    load_samples(env, "idlib-water.html", "aleppo-donor-pledges.txt")
    release = threading.Event()
    arrived = itertools.count()

    def stall_all_but_the_first() -> None:
        if next(arrived) > 0:
            release.wait(20)

    smtp.block = stall_all_but_the_first
    proc = subprocess.Popen([FEEDS_BIN, "--config", str(env.config), "digest", "send", "--all"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: len(smtp.messages) == 1 and
                    [d[1] for d in deliveries(env)].count("sent") == 1, 20)
    time.sleep(0.3)  # the next messages, one per other connection, are now stuck in DATA
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    smtp.block = None
    release.set()
    env.feeds("digest", "send", "--all")
    assert sorted(smtp.recipients) == readers
    assert [d[1] for d in deliveries(env)] == ["sent"] * len(readers)


def test_digests_go_out_over_several_connections_at_once(env: Env,
                                                          smtp: SMTPRecorder) -> None:
    with_smtp(env, smtp, connections=3)
    readers = sorted(f"reader{n}@example.org" for n in range(12))
    subscribe_all(env, readers, "syria")
    load_samples(env, "idlib-water.html", "aleppo-donor-pledges.txt")
    together = threading.Barrier(3, timeout=10)  # broken unless 3 messages are in DATA at once
    arrived = itertools.count()

    def three_at_once() -> None:
        if next(arrived) < 3:
            together.wait()

    smtp.block = three_at_once
    result = env.feeds("digest", "send", "--all")
    assert f"{len(readers)} sent, 0 failed" in result.stdout, result.stdout
    assert not together.broken
    assert sorted(smtp.recipients) == readers
    assert [d[1:] for d in deliveries(env)] == [("sent", 1)] * len(readers)
    # every watermark moved: the next run has nothing new for anyone
    assert "0 sent" in env.feeds("digest", "send", "--all").stdout
    assert len(smtp.messages) == len(readers)


def test_an_internationalized_address_goes_with_smtputf8_or_fails_alone(
        env: Env, smtp: SMTPRecorder, smtp_ascii: SMTPRecorder) -> None:
    with_smtp(env, smtp)
    subscribe(env, "rené@example.org", "syria")
    subscribe(env, "plain@example.org", "syria")
    load_samples(env, "idlib-water.html")
    assert "2 sent, 0 failed" in env.feeds("digest", "send", "--all").stdout
    options = dict(zip(smtp.recipients, smtp.mail_options, strict=True))
    assert "SMTPUTF8" in options["rené@example.org"]
    assert "SMTPUTF8" not in options["plain@example.org"]
    assert {str(m["To"]) for m in messages(smtp)} == {"rené@example.org", "plain@example.org"}
    # RFC 6532: the address as it is, in UTF-8 (an encoded word cannot stand in an address)
    raw = smtp.messages[smtp.recipients.index("rené@example.org")]
    assert "\r\nTo: rené@example.org\r\n".encode() in raw.split(b"\r\n\r\n")[0]
    parsed = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
    # (Python's parser notes any non-ASCII local part, which RFC 6532 allows)
    assert [type(d).__name__ for d in parsed["To"].defects] == ["NonASCIILocalPartDefect"]
    assert parsed["To"].addresses[0].username == "rené"
    # a server without SMTPUTF8: that one delivery fails for good, the others go
    with_smtp(env, smtp_ascii)
    env.drop("later.txt", "Later news from Damascus\n\nDAMASCUS (Wire) - Syria's government "
             "said on Wednesday that water would return to Idlib next week.\n")
    env.feeds("ingest")
    result = env.feeds("digest", "send", "--all", check=False)
    assert "1 sent, 1 failed" in result.stdout and result.returncode == 1, result.stdout
    assert smtp_ascii.recipients == ["plain@example.org"]
    failed = env.sql("select subscriber, error from deliveries where status = 'failed'")
    assert failed == [("rené@example.org", "the server takes no internationalized address "
                       "(SMTPUTF8): rené@example.org")]


def test_a_long_internationalized_address_to_a_server_without_8bitmime_fails_alone(
        env: Env, smtp_7bit: SMTPRecorder) -> None:
    """A server offering SMTPUTF8 but not 8BITMIME (which RFC 6531 requires with it): the
    message's UTF-8 headers have no 7-bit form, so that delivery fails for good, and the
    others go; the run goes on (a To line long enough to fold had crashed it, every run)."""
    with_smtp(env, smtp_7bit)
    long_name = "zoë." + "x" * 55 + "@readers-of-a-rather-long-domain.example.org"
    subscribe(env, long_name, "syria")
    subscribe(env, "plain@example.org", "syria")
    load_samples(env, "idlib-water.html")
    result = env.feeds("digest", "send", "--all", check=False)
    assert "1 sent, 1 failed" in result.stdout, result.stdout + result.stderr
    assert smtp_7bit.recipients == ["plain@example.org"]
    [(error,)] = env.sql("select error from deliveries where status = 'failed'")
    assert error.startswith("the server takes internationalized addresses but no 8-bit mail")


def test_one_click_unsubscribe_through_the_http_server(env: Env, smtp: SMTPRecorder) -> None:
    with_smtp(env, smtp)
    subscribe(env, "reader@example.org")
    subscribe(env, "other@example.org")
    load_samples(env)
    env.feeds("digest", "send", "--all")
    by_rcpt = {m["To"]: m for m in messages(smtp)}
    url = re.match(r"<([^>]+)>", by_rcpt["reader@example.org"]["List-Unsubscribe"]).group(1)
    other = re.match(r"<([^>]+)>", by_rcpt["other@example.org"]["List-Unsubscribe"]).group(1)
    server = Process(env, "serve")
    server.wait_up()
    try:
        local = url.replace("http://127.0.0.1:8080/", server.url)
        page = httpx.get(local, timeout=5)
        assert page.status_code == 200 and 'name="topics" value="syria" checked' in page.text
        forged = local[:-3] + ("AAA" if not local.endswith("AAA") else "BBB")
        assert httpx.post(forged, data={"List-Unsubscribe": "One-Click"},
                          timeout=5).status_code == 400
        swapped = local.rsplit("/", 1)[0] + "/" + other.rsplit("/", 1)[1].split(".")[0] + \
            "." + local.rsplit(".", 1)[1]
        assert httpx.post(swapped, data={"List-Unsubscribe": "One-Click"},
                          timeout=5).status_code == 400
        done = httpx.post(local, data={"List-Unsubscribe": "One-Click"}, timeout=5)
        assert done.status_code == 200 and "unsubscribed" in done.text
        assert 'nav class="topics"' in done.text  # the site's own header, as its other pages
        again = httpx.post(local, data={"List-Unsubscribe": "One-Click"}, timeout=5)
        assert again.status_code == 200 and "unsubscribed" in again.text
        other_local = other.replace("http://127.0.0.1:8080/", server.url)
        nothing = httpx.post(other_local, data={"action": "update"}, timeout=5)  # all unticked
        assert nothing.status_code == 400 and "Tick at least one topic" in nothing.text
        assert 'value="unsubscribe"' in nothing.text
        kept = httpx.post(other_local, data={"action": "update", "topics": ["gaza"]}, timeout=5)
        assert kept.status_code == 200 and "will receive: Gaza." in kept.text
    finally:
        server.stop()
    assert server.output().count("subscriber unsubscribed") == 1  # the repeat changed nothing
    listed = env.feeds("subscribers", "list").stdout
    assert "reader@example.org\tdaily\tunsubscribed" in listed
    assert "other@example.org\tdaily\tactive\tgaza" in listed
    env.drop("late.txt", "Late news from Damascus\n\nDAMASCUS (Wire) - Syria's government "
             "said on Tuesday that Syrian schools would reopen in Aleppo next month.\n")
    env.feeds("ingest")
    env.feeds("digest", "send", "--all")
    assert len(smtp.messages) == 2  # neither gets it: one left, the other dropped syria


def test_without_smtp_digests_go_to_a_maildir_outbox(env: Env) -> None:
    subscribe(env, "reader@example.org", "syria")
    load_samples(env, "idlib-water.html")
    env.feeds("digest", "send", "--all")
    [path] = list((env.state / "outbox" / "new").iterdir())
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "reader@example.org"
    assert "Idlib" in message.get_body(("plain",)).get_content()


def test_subscriber_commands_refuse_bad_input(env: Env, tmp_path: Path) -> None:
    bad = env.feeds("subscribers", "add", "not-an-address", "--topics", "syria", check=False)
    assert bad.returncode == 1 and "not a valid email address" in bad.stderr
    unknown = env.feeds("subscribers", "add", "a@example.org", "--topics", "sudan", check=False)
    assert unknown.returncode == 1 and "unknown topic(s): sudan" in unknown.stderr
    schedule = env.feeds("subscribers", "add", "a@example.org", "--schedule", "hourly",
                         check=False)
    assert schedule.returncode == 1 and "unknown schedule 'hourly'" in schedule.stderr
    csv = tmp_path / "people.csv"
    csv.write_text("email,topics,schedule\nb@example.org,syria;gaza,daily\nbroken,syria,\n"
                   "c@example.org,,\n", encoding="utf-8")
    result = env.feeds("subscribers", "import", str(csv))
    assert "2 added or updated, 1 skipped" in result.stdout
    assert "line 3: skipped" in result.stdout
    listed = env.feeds("subscribers", "list").stdout.splitlines()
    assert listed == ["b@example.org\tdaily\tactive\tsyria,gaza",
                      "c@example.org\tdaily\tactive\tsyria,gaza,ukraine-mediation"]
    assert "removed" in env.feeds("subscribers", "remove", "b@example.org").stdout


def test_latest_slot_respects_timezone_and_grace() -> None:
    from datetime import UTC, datetime
    daily = DigestConfig(cron="0 7 * * *", timezone="Europe/London", grace_seconds=6 * 3600)
    summer = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
    assert latest_slot(daily, summer) == datetime(2025, 7, 1, 6, 0, tzinfo=UTC)  # 07:00 BST
    assert latest_slot(daily, datetime(2025, 7, 1, 13, 0, tzinfo=UTC)) is None  # past grace
    assert latest_slot(daily, datetime(2025, 1, 1, 7, 30, tzinfo=UTC)) == datetime(
        2025, 1, 1, 7, 0, tzinfo=UTC)


def test_daemon_catches_up_a_missed_slot_once(env: Env) -> None:
    env.write_config(digests={"daily": {"cron": "* * * * *", "timezone": "UTC",
                                        "grace_seconds": 3600}})
    subscribe(env, "reader@example.org", "syria")
    load_samples(env, "idlib-water.html")
    env.sql("insert into digest_runs values ('daily', '2000-01-01T07:00:00+00:00', "  # it ran
            "'2000-01-01 07:00:00', '2000-01-01 07:00:01')")  # here before, long ago
    outbox = env.state / "outbox" / "new"
    outbox = env.state / "outbox" / "new"
    for _ in range(2):
        daemon = Process(env, "run", digests={"daily": {"cron": "* * * * *", "timezone": "UTC",
                                                        "grace_seconds": 3600}})
        daemon.wait_up()
        assert wait_for(lambda: outbox.exists() and any(outbox.iterdir()), 10), daemon.output()
        assert daemon.stop() == 0
    assert len(list((env.state / "outbox" / "new").iterdir())) == 1


def _decoded(message: EmailMessage) -> tuple[str, str]:
    return (message.get_body(("plain",)).get_content(),  # type: ignore[union-attr]
            message.get_body(("html",)).get_content())  # type: ignore[union-attr]


def test_eight_bit_text_goes_as_8bitmime_or_quoted_printable(env: Env, smtp: SMTPRecorder,
                                                             smtp_7bit: SMTPRecorder) -> None:
    """Digests with non-ASCII text go 8-bit (BODY=8BITMIME) to a server that offers it, and
    quoted-printable to one that does not; both readers see the same text."""
    subscribe(env, "reader@example.org", "gaza")
    load_samples(env, "doha-truce-talks.txt")
    texts = []
    for server in (smtp, smtp_7bit):
        with_smtp(env, server)
        env.sql("update subscribers set watermark = 0")
        env.feeds("digest", "send", "--all")
        [raw] = server.messages
        [message] = messages(server)
        encodings = {p["Content-Transfer-Encoding"] for p in message.iter_parts()}
        if server is smtp:
            assert not raw.isascii() and encodings == {"8bit"}
            assert "BODY=8BITMIME" in server.mail_options[0]
        else:
            assert raw.isascii() and encodings == {"quoted-printable"}
            assert not any(o.startswith("BODY=") for o in server.mail_options[0])
        texts.append(_decoded(message))
    assert texts[0] == texts[1]
    assert not texts[0][0].isascii()  # the sample's curly quotes and dashes came through
