"""Bounces and complaints: VERP addresses, classification of real-format DSN and ARF messages,
and the Maildir and IMAP (a real Dovecot) bounce mailboxes."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.bounces import (
    Bounce,
    BounceMailbox,
    BounceMailboxError,
    ImapBounces,
    MaildirBounces,
    classify,
    token_from_verp,
    verp_address,
)
from tests.conftest import DATA

BOUNCES = DATA / "bounces"
BASE = "bounces@example.org"


@dataclass(frozen=True)
class Expected:
    kind: str
    token: str | None
    recipients: tuple[str, ...]
    reason: str  # a part of the reason


EXPECTED = {
    "postfix_user_unknown_5.1.1.eml": Expected(
        "hard", "Fq3xK9vLm2Tb-w7Z", ("ada.nobody@example.net",), "5.1.1"),
    "exim_classic_text_x_failed_recipients.eml": Expected(
        "hard", "Hc8pQ2wE5rT1yU6i", ("grace@example.com",), "550 5.1.1"),
    "postfix_delayed_mailbox_full_4.2.2.eml": Expected(
        "soft", "Mn4bV7cX0zL3kJ9h", ("linus@example.net",), "4.2.2"),
    "gmail_policy_rejection_5.7.1.eml": Expected(
        "soft", "Pq6wE1rT8yU3iO5a", ("margaret.h@example.com",), "5.7.1"),
    "arf_abuse_yahoo_feedback_loop.eml": Expected(
        "complaint", "Sd2fG7hJ4kL9zX1c", ("katherine.j@example.com",), "abuse"),
    "arf_abuse_headers_only_redacted_recipient.eml": Expected(
        "complaint", "Xk3jH6gF9dS2aQ7w", (), "abuse"),
    "out_of_office_exchange_auto_reply.eml": Expected(
        "unrecognized", "Vb5nM8qW2eR6tY0u", (), "auto-reply"),
    "vacation_gmail_re_subject_auto_replied.eml": Expected(
        "unrecognized", "Zr7tY4uI1oP8aS3d", (), "auto-reply"),
    "garbage_bytes.eml": Expected("unrecognized", None, (), "no headers"),
}
UNREADABLE = {"garbage_bytes.eml"}


def fixture_bytes(name: str) -> bytes:
    return (BOUNCES / name).read_bytes()


def test_every_fixture_has_an_expectation_and_a_readme_line() -> None:
    names = {p.name for p in BOUNCES.glob("*.eml")}
    assert names == set(EXPECTED)
    readme = (BOUNCES / "README").read_text(encoding="utf-8")
    assert all(f"{name}:" in readme for name in names), readme


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_classify_fixture(name: str) -> None:
    want = EXPECTED[name]
    got = classify(fixture_bytes(name), BASE)
    assert (got.kind, got.token, got.recipients) == (want.kind, want.token, want.recipients), got
    assert want.reason in got.reason, got
    assert got.unreadable == (name in UNREADABLE), got


def test_classify_without_a_verp_base_finds_no_token_but_the_same_failure() -> None:
    got = classify(fixture_bytes("postfix_user_unknown_5.1.1.eml"), None)
    assert (got.kind, got.token, got.recipients) == ("hard", None, ("ada.nobody@example.net",))


def test_classify_ignores_verp_addresses_of_another_base() -> None:
    got = classify(fixture_bytes("postfix_user_unknown_5.1.1.eml"), "bounces@example.net")
    assert got.kind == "hard" and got.token is None


def test_a_feedback_report_that_is_not_a_complaint_is_read_but_not_a_complaint() -> None:
    raw = fixture_bytes("arf_abuse_yahoo_feedback_loop.eml").replace(
        b"Feedback-Type: abuse", b"Feedback-Type: not-spam")
    got = classify(raw, BASE)
    assert (got.kind, got.token, got.unreadable) == ("unrecognized", "Sd2fG7hJ4kL9zX1c", False)
    assert "not-spam" in got.reason


def test_a_dsn_whose_status_is_permanent_but_not_about_the_address_is_soft() -> None:
    # 5.2.2 mailbox full, reported as a final failure: the address exists
    raw = fixture_bytes("postfix_user_unknown_5.1.1.eml").replace(
        b"Status: 5.1.1", b"Status: 5.2.2")
    assert classify(raw, BASE).kind == "soft"


def test_a_dsn_without_its_status_field_takes_the_code_of_its_diagnostic() -> None:
    raw = fixture_bytes("postfix_user_unknown_5.1.1.eml").replace(b"Status: 5.1.1\n", b"")
    got = classify(raw, BASE)
    assert (got.kind, got.recipients) == ("hard", ("ada.nobody@example.net",))
    assert got.reason.startswith("550 5.1.1"), got


def test_classify_refuses_a_malformed_verp_base_rather_than_every_message() -> None:
    with pytest.raises(ValueError, match="VERP base"):
        classify(fixture_bytes("postfix_user_unknown_5.1.1.eml"), "bounces+x@example.org")


def test_a_plain_message_with_no_failure_is_unreadable_with_its_token() -> None:
    raw = (b"From: someone@example.net\nTo: bounces+Ab12_cd@example.org\n"
           b"Subject: hello\n\nJust saying hello.\n")
    got = classify(raw, BASE)
    assert (got.kind, got.token, got.unreadable) == ("unrecognized", "Ab12_cd", True)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_classify_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    got = classify(raw, BASE)
    assert isinstance(got, Bounce) and got.kind in ("hard", "soft", "complaint", "unrecognized")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(EXPECTED)), st.integers(min_value=0, max_value=4000),
       st.binary(max_size=40))
def test_classify_never_raises_on_a_truncated_or_spliced_report(
        name: str, cut: int, junk: bytes) -> None:
    raw = fixture_bytes(name)
    got = classify(raw[:cut] + junk + raw[cut + len(junk):], BASE)
    assert isinstance(got, Bounce) and len(got.reason) <= 200


# --- VERP -----------------------------------------------------------------------------------

TOKENS = st.from_regex(r"[A-Za-z0-9_~-]{1,20}(\.[A-Za-z0-9_~-]{1,10}){0,2}", fullmatch=True)


@given(TOKENS)
def test_verp_round_trip(token: str) -> None:
    address = verp_address(BASE, token)
    assert address == f"bounces+{token}@example.org"
    assert token_from_verp(address, BASE) == token
    assert token_from_verp(f"<{address}>", BASE) == token
    assert token_from_verp(f"feeds <{address.replace('example.org', 'Example.ORG')}>",
                           BASE) == token


@pytest.mark.parametrize("address", [
    "bounces+tok@example.net",        # another domain
    "bounces+tok@mail.example.org",   # a subdomain is another domain
    "feeds+tok@example.org",          # another local part
    "bounces@example.org",            # no token
    "bounces+@example.org",           # an empty token
    "bounces+a+b@example.org",        # '+' inside the token
    "bounces+a..b@example.org",       # not a dot-atom
    "bounces+tok",                    # no domain
    "",
    "<>",
    "not an address at all",
])
def test_token_from_verp_refuses_what_is_not_ours(address: str) -> None:
    assert token_from_verp(address, BASE) is None


@pytest.mark.parametrize("token", ["", "a+b", "a@b", "with space", "a/b", "a..b", ".a",
                                   "x" * 60, "é"])
def test_verp_address_refuses_a_token_that_cannot_round_trip(token: str) -> None:
    with pytest.raises(ValueError):
        verp_address(BASE, token)


@pytest.mark.parametrize("base", ["bounces", "bounces+x@example.org", "@example.org", "a@"])
def test_verp_address_refuses_a_base_that_is_not_local_at_domain(base: str) -> None:
    with pytest.raises(ValueError):
        verp_address(base, "tok")


# --- mailboxes ------------------------------------------------------------------------------

def deliver(maildir: Path, name: str, data: bytes) -> Path:
    """As an MTA delivers: write into tmp/, then rename into new/."""
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    unique = f"{time.time_ns()}.{name.removesuffix('.eml')}.mail.example.org"
    (maildir / "tmp" / unique).write_bytes(data)
    os.rename(maildir / "tmp" / unique, maildir / "new" / unique)
    return maildir / "new" / unique


def process(box: BounceMailbox) -> list[Bounce]:
    """What the daemon will do with each message: classify, then done or keep."""
    found = []
    for handle, raw in box.unread():
        bounce = classify(raw, BASE)
        found.append(bounce)
        if bounce.unreadable:
            box.keep(handle)
        else:
            box.done(handle)
    return found


def tokens_of(found: list[Bounce]) -> list[str | None]:
    return sorted((b.token for b in found), key=str)


def test_maildir_processes_each_message_once_and_keeps_the_unreadable(tmp_path: Path) -> None:
    maildir = tmp_path / "bounces"
    for name in EXPECTED:
        deliver(maildir, name, fixture_bytes(name))
    box = MaildirBounces(maildir)
    found = process(box)
    assert tokens_of(found) == sorted((e.token for e in EXPECTED.values()), key=str)
    assert box.kept == len(UNREADABLE)
    assert list(box.unread()) == []
    assert process(MaildirBounces(maildir)) == []  # a later poll (or a restart) finds nothing
    assert not list((maildir / "new").iterdir())
    cur = {p.name.rpartition(":2,")[2]: p for p in (maildir / "cur").iterdir()}
    assert sorted(p.name.rpartition(":2,")[2] for p in (maildir / "cur").iterdir()) == \
        sorted(["F"] * len(UNREADABLE) + ["S"] * (len(EXPECTED) - len(UNREADABLE)))
    assert cur["F"].read_bytes() == fixture_bytes("garbage_bytes.eml")  # left as it came


def test_maildir_reads_unseen_messages_a_mail_client_moved_to_cur(tmp_path: Path) -> None:
    maildir = tmp_path / "bounces"
    path = deliver(maildir, "postfix", fixture_bytes("postfix_user_unknown_5.1.1.eml"))
    os.rename(path, maildir / "cur" / f"{path.name}:2,")  # opened, left unread
    (maildir / "cur" / "1.seen.host:2,S").write_bytes(fixture_bytes("garbage_bytes.eml"))
    box = MaildirBounces(maildir)
    assert [b.token for b in process(box)] == ["Fq3xK9vLm2Tb-w7Z"]
    assert sorted(p.name.rpartition(":2,")[2] for p in (maildir / "cur").iterdir()) == ["S", "S"]


def test_maildir_done_on_a_vanished_message_says_so(tmp_path: Path) -> None:
    maildir = tmp_path / "bounces"
    path = deliver(maildir, "x", fixture_bytes("postfix_user_unknown_5.1.1.eml"))
    box = MaildirBounces(maildir)
    [(handle, _)] = list(box.unread())
    path.unlink()
    with pytest.raises(BounceMailboxError, match="cannot move"):
        box.done(handle)
    with pytest.raises(BounceMailboxError, match="not a handle"):
        box.done("../../etc/passwd")


# --- IMAP against a real Dovecot ------------------------------------------------------------

DOVECOT = Path("/usr/sbin/dovecot")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def existing_user(*names: str) -> pwd.struct_passwd:
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip(f"dovecot as root needs an unprivileged user; none of {names} exists")


@dataclass(frozen=True)
class Dovecot:
    port: int
    maildir: Path
    owner: pwd.struct_passwd


def dovecot_config(root: Path, port: int) -> tuple[str, pwd.struct_passwd]:
    """A throwaway config: plain auth from a passwd-file, one Maildir, 127.0.0.1 only. As root,
    Dovecot refuses to run its login process as root and to give mail access to uid 0, so the
    services run as its own users (or nobody) and the Maildir belongs to nobody."""
    me = pwd.getpwuid(os.geteuid())
    if os.geteuid() == 0:
        login, internal = existing_user("dovenull", "nobody"), existing_user("dovecot", "nobody")
        owner = existing_user("nobody")
    else:
        login = internal = owner = me
    (root / "passwd").write_text("bounces:{PLAIN}secret::::::\n", encoding="utf-8")
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = {internal.pw_name}
default_internal_group = {grp.getgrgid(internal.pw_gid).gr_name}
default_login_user = {login.pw_name}
first_valid_uid = {owner.pw_uid}
first_valid_gid = {owner.pw_gid}
mail_location = maildir:{root}/mail/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={root}/mail
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
""", owner


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                if sock.recv(64).startswith(b"* OK"):
                    return True
        except OSError:
            time.sleep(0.1)
    return False


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if not DOVECOT.exists():
        pytest.skip(f"{DOVECOT} is missing (Debian: apt-get install dovecot-imapd)")
    # not pytest's tmp_path: its parents are mode 0700, and as root the login process runs as
    # another user who must reach the sockets under base_dir
    root = Path(tempfile.mkdtemp(prefix="feeds-dovecot-"))
    os.chmod(root, 0o755)
    port = free_port()
    config, owner = dovecot_config(root, port)
    (root / "dovecot.conf").write_text(config, encoding="utf-8")
    maildir = root / "mail" / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    with open(root / "startup.log", "wb") as out:
        process = subprocess.Popen([str(DOVECOT), "-F", "-c", str(root / "dovecot.conf")],
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        if not wait_for_port(port, process, 15):
            logs = [root / "startup.log", root / "dovecot.log"]
            output = "".join(p.read_text(encoding="utf-8", errors="replace")
                             for p in logs if p.exists())
            pytest.skip(f"dovecot did not start on 127.0.0.1:{port}: {output[-600:]}")
        yield Dovecot(port, maildir, owner)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)


def give_to(owner: pwd.struct_passwd, top: Path) -> None:
    for path in [top, *top.rglob("*")]:
        os.chown(path, owner.pw_uid, owner.pw_gid)


def test_imap_reads_a_real_dovecot_folder_once_and_keeps_the_unreadable(
        dovecot: Dovecot) -> None:
    for name in EXPECTED:
        deliver(dovecot.maildir, name, fixture_bytes(name))
    give_to(dovecot.owner, dovecot.maildir.parent)

    def connect() -> ImapBounces:
        return ImapBounces("127.0.0.1", dovecot.port, "bounces", "secret", "INBOX", ssl=False,
                           move_to="Processed")

    box = connect()
    try:
        seen = {raw.replace(b"\r\n", b"\n") for _, raw in box.unread()}
        # fetched whole and unchanged; IMAP carries no NUL bytes, so Dovecot alters the garbage
        assert len(seen) == len(EXPECTED)
        assert seen >= {fixture_bytes(name) for name in EXPECTED if name not in UNREADABLE}
        found = process(box)
        assert box.kept == len(UNREADABLE)
    finally:
        box.close()
    assert tokens_of(found) == sorted((e.token for e in EXPECTED.values()), key=str)
    again = connect()
    try:
        assert process(again) == []
    finally:
        again.close()
    processed = connect()
    try:
        # done moved the read ones out of INBOX; the kept one stays there, unseen and flagged
        inbox = processed.imap.uid("SEARCH", "ALL")[1][0].split()
        flagged = processed.imap.uid("SEARCH", "UNSEEN", "FLAGGED")[1][0].split()
        assert inbox == flagged and len(inbox) == len(UNREADABLE)
        processed.imap.select('"Processed"')
        moved = processed.imap.uid("SEARCH", "SEEN")[1][0].split()
        assert len(moved) == len(EXPECTED) - len(UNREADABLE)
    finally:
        processed.close()


def test_imap_with_a_wrong_password_or_folder_says_which_settings_to_check(
        dovecot: Dovecot) -> None:
    give_to(dovecot.owner, dovecot.maildir.parent)
    with pytest.raises(BounceMailboxError, match=r"mailbox bounces@127\.0\.0\.1:\d+/INBOX: "
                                                 r"\[AUTHENTICATIONFAILED\]") as caught:
        ImapBounces("127.0.0.1", dovecot.port, "bounces", "wrong", "INBOX", ssl=False)
    assert caught.value.hint and "imap_password_env" in caught.value.hint
    with pytest.raises(BounceMailboxError, match="select Nowhere: NO") as caught:
        ImapBounces("127.0.0.1", dovecot.port, "bounces", "secret", "Nowhere", ssl=False)
    assert caught.value.hint and "imap_folder" in caught.value.hint


def test_imap_that_nobody_answers_is_a_bounce_mailbox_error() -> None:
    with pytest.raises(BounceMailboxError, match="cannot connect"):
        ImapBounces("127.0.0.1", free_port(), "bounces", "secret", "INBOX", ssl=False,
                    timeout=5)
