"""What comes back to the envelope sender: VERP addresses, reading delivery status notifications
(RFC 3464) and feedback-loop complaints (ARF, RFC 5965), and the bounce mailbox they arrive in.

Every digest goes out with the envelope sender ``bounces+<token>@example.org``, so a bounce or a
complaint names its subscriber by the token, whatever the failed address looks like by then.
DSNs and the provider-specific bounce formats are read by flufl.bounce (Mailman's detector); ARF
reports by the stdlib email parser. Nothing here touches the database: callers map a `Bounce` to
a subscriber and decide what it means for them.

A mailbox (`MaildirBounces`, `ImapBounces`) yields each unread message as ``(handle, bytes)``;
``done(handle)`` marks one processed (seen), ``keep(handle)`` leaves one that could not be read
unread and flagged for a human. Neither ever deletes a message.
"""

from __future__ import annotations

import email
import email.message
import imaplib
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Literal, Protocol

from flufl.bounce import all_failures

from feeds.errors import FeedsError

log = logging.getLogger(__name__)

Kind = Literal["hard", "soft", "complaint", "unrecognized"]

# A token is opaque and URL-safe (made elsewhere); it must also be a valid dot-atom in a local part
TOKEN = re.compile(r"[A-Za-z0-9_~-]+(?:\.[A-Za-z0-9_~-]+)*")
LOCAL_PART_MAX = 64  # RFC 5321 4.5.3.1.1
# the headers a delivery agent records the envelope recipient in (Postfix, Exim, fetchmail, IMAP)
ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To")
# Where a feedback report names our envelope sender: the report's own field, then the original
# message's headers (Return-Path is the envelope sender as the provider received it)
ORIGINAL_SENDER_HEADERS = ("Return-Path", "List-Unsubscribe", "To")
# abuse/fraud/virus/other are a reader's complaint; not-spam and auth-failure are not
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other"})
# A permanent failure with one of these enhanced codes (RFC 3463) is about the message or our
# reputation, not about the address: it counts as soft (towards soft_limit), not as hard.
NOT_THE_ADDRESS = ("5.2.2", "5.2.3", "5.3.4", "5.6.", "5.7.")
STATUS_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
MAILTO = re.compile(r"<mailto:([^>?]+)", re.IGNORECASE)
# RFC 3834 and the vendor headers auto-responders set (Exchange, Zimbra, procmail/vacation)
AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response)|out of (the )?office|abwesenheit|absence|vacation)",
    re.IGNORECASE)
REASON_MAX = 200


class BounceMailboxError(FeedsError):
    """The bounce mailbox could not be opened, read or updated."""


@dataclass(frozen=True)
class Bounce:
    """What one returned message says: `token` names the subscriber (from the VERP address),
    `recipients` the failed addresses as reported (lowercased), `reason` the DSN status and
    diagnostic, or the feedback type, or why the message was not recognized. `unreadable` is
    True when the message could not be read at all (garbage, a report nothing could be found
    in): the mailbox should `keep` it for a human rather than mark it done. An auto-reply or a
    "not-spam" report is unrecognized but was read."""

    kind: Kind
    token: str | None
    recipients: tuple[str, ...]
    reason: str
    unreadable: bool = False


def _split_base(base: str) -> tuple[str, str]:
    local, at, domain = base.strip().strip("<>").rpartition("@")
    if not at or not local or not domain or "+" in local or "@" in local:
        raise ValueError(f"not a VERP base address (local@domain, no '+'): {base!r}")
    return local, domain


def verp_address(base: str, token: str) -> str:
    """``bounces@example.org`` and ``TOKEN`` → ``bounces+TOKEN@example.org``."""
    local, domain = _split_base(base)
    if not TOKEN.fullmatch(token):
        raise ValueError(f"a VERP token must be URL-safe, without '+' or '@': {token!r}")
    if len(local) + 1 + len(token) > LOCAL_PART_MAX:
        raise ValueError(f"the VERP local part would be longer than {LOCAL_PART_MAX} characters")
    return f"{local}+{token}@{domain}"


def token_from_verp(address: str, base: str) -> str | None:
    """The token of a VERP address built on `base`, or None when the address is not ours
    (another domain or local part, no token, a token that `verp_address` would refuse).
    Accepts ``<…>`` brackets and a display name; the domain and base local part match in any
    case, the token is kept as written."""
    local, domain = _split_base(base)
    found = parseaddr(address.strip())[1] or address.strip().strip("<>")
    mine, at, their_domain = found.rpartition("@")
    head, plus, token = mine.partition("+")
    if not at or not plus or their_domain.lower().rstrip(".") != domain.lower():
        return None
    if head.lower() != local.lower() or not TOKEN.fullmatch(token):
        return None
    return token


def _first_token(values: Iterable[str], base: str | None) -> str | None:
    if base is None:
        return None
    for value in values:
        candidates = MAILTO.findall(value) or [a for _, a in getaddresses([value])]
        for address in candidates:
            token = token_from_verp(address, base)
            if token is not None:
                return token
    return None


def _headers(msg: email.message.Message, names: Iterable[str]) -> list[str]:
    return [str(value) for name in names for value in msg.get_all(name, [])]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REASON_MAX else text[:REASON_MAX - 1] + "…"


def classify(raw: bytes, base: str | None) -> Bounce:
    """Reads one returned message; never raises. `base` is the VERP base address
    (``bounces@example.org``), or None when digests go out without VERP (no token then); a
    malformed `base` is the caller's error (ValueError), not the message's."""
    if base is not None:
        _split_base(base)
    try:
        msg = email.message_from_bytes(raw)
        if not msg.keys():
            return Bounce("unrecognized", None, (), "not a mail message: no headers", True)
        return _classify(msg, base)
    except Exception as exc:  # the detectors raise on malformed parts; a bad message is data
        reason = _short(f"unreadable: {type(exc).__name__}: {exc}")
        return Bounce("unrecognized", None, (), reason, True)


def _classify(msg: email.message.Message, base: str | None) -> Bounce:
    envelope_token = _first_token(_headers(msg, ENVELOPE_HEADERS), base)
    report = _feedback_report(msg)
    if report is not None:
        return _complaint(report, _original_headers(msg), envelope_token, base)
    if _is_auto_reply(msg):
        return Bounce("unrecognized", envelope_token, (), "auto-reply, not a bounce")
    temporary, permanent = all_failures(msg)
    failed = sorted({a.decode("ascii").lower() for a in temporary | permanent})
    if not failed:
        reason = "no failed recipient or complaint found"
        return Bounce("unrecognized", envelope_token, (), reason, True)
    status, reason = _status_and_reason(msg, bool(permanent))
    hard = bool(permanent) and status.startswith("5") and not status.startswith(NOT_THE_ADDRESS)
    return Bounce("hard" if hard else "soft", envelope_token, tuple(failed), reason)


def _status_and_reason(msg: email.message.Message, permanent: bool) -> tuple[str, str]:
    """The enhanced status code and a short reason: from the first failed (or delayed)
    recipient block of the DSN, else from the first status code in the human-readable text."""
    wanted = ("fail", "error") if permanent else ("delayed",)
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status" or not part.is_multipart():
            continue
        for block in part.get_payload():
            if not isinstance(block, email.message.Message):
                continue
            if str(block.get("Action", "")).strip().lower().startswith(wanted):
                diagnostic = str(block.get("Diagnostic-Code", "")).partition(";")[2].strip()
                code = STATUS_CODE.search(diagnostic)  # Status is required; not always sent
                status = str(block.get("Status", "")).strip() or (code.group(1) if code else "")
                said = diagnostic if status and status in diagnostic else f"{status} {diagnostic}"
                return status, _short(said)
    for part in msg.walk():
        body = part.get_payload(decode=True) if part.get_content_type() == "text/plain" else None
        if isinstance(body, bytes):
            for line in body.decode("utf-8", "replace").splitlines():
                code = STATUS_CODE.search(line)
                if code:
                    return code.group(1), _short(line)
    status = "5.0.0" if permanent else "4.0.0"  # RFC 3463: "other undefined status"
    return status, f"{status} {'permanent' if permanent else 'temporary'} failure, no reason given"


def _is_auto_reply(msg: email.message.Message) -> bool:
    """RFC 3834 auto-replies (vacation, out of office) come back to the envelope sender too.
    A real bounce may say Auto-Submitted as well, so a DSN or Exim's failure header wins."""
    if msg.get("X-Failed-Recipients") or any(
            p.get_content_type() == "message/delivery-status" for p in msg.walk()):
        return False
    submitted = str(msg.get("Auto-Submitted", "")).strip().lower()
    precedence = str(msg.get("Precedence", "")).strip().lower()
    return (submitted == "auto-replied" or precedence == "auto_reply"
            or any(msg.get(name) for name in AUTO_REPLY_HEADERS)
            or bool(AUTO_REPLY_SUBJECT.match(str(msg.get("Subject", "")))))


def _feedback_report(msg: email.message.Message) -> email.message.Message | None:
    """The fields of an ARF report (the message/feedback-report part), or None."""
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list):  # the parser reads the fields as one header block
                return next((p for p in payload if isinstance(p, email.message.Message)), None)
            return email.message_from_string(payload.lstrip() if isinstance(payload, str) else "")
    return None


def _original_headers(msg: email.message.Message) -> email.message.Message | None:
    """The original message's headers: a message/rfc822 part or a text/rfc822-headers part."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822" and part.is_multipart():
            first = part.get_payload(0)
            return first if isinstance(first, email.message.Message) else None
        if kind == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                return email.message_from_bytes(data.lstrip())
    return None


def _complaint(report: email.message.Message, original: email.message.Message | None,
               envelope_token: str | None, base: str | None) -> Bounce:
    feedback = str(report.get("Feedback-Type", "")).strip().lower()
    rcpt = _headers(report, ("Original-Rcpt-To",))
    if not rcpt and original is not None:
        rcpt = _headers(original, ("To",))
    recipients = tuple(sorted({a.lower() for _, a in getaddresses(rcpt) if "@" in a}))
    senders = _headers(report, ("Original-Mail-From",))
    if original is not None:
        senders += _headers(original, ORIGINAL_SENDER_HEADERS)
    token = _first_token(senders, base) or envelope_token
    if feedback not in COMPLAINT_TYPES:
        reason = f"feedback report of type {feedback or '(none)'}, not a complaint"
        return Bounce("unrecognized", token, recipients, _short(reason))
    return Bounce("complaint", token, recipients, f"feedback-type {feedback}")


class BounceMailbox(Protocol):
    """One interface over a Maildir and an IMAP folder; a handle is only valid for this object."""

    kept: int  # messages `keep` left for a human since this object was made

    def unread(self) -> Iterator[tuple[str, bytes]]: ...
    def done(self, handle: str) -> None: ...
    def keep(self, handle: str) -> None: ...
    def close(self) -> None: ...


def _maildir_flags(name: str) -> tuple[str, str]:
    unique, _, info = name.partition(":")
    return unique, info[2:] if info.startswith("2,") else ""


class MaildirBounces:
    """The Maildir the MTA delivers bounces into. Unread means neither seen (S) nor flagged (F),
    in new/ or cur/. `done` moves a message to cur/ with S; `keep` moves it to cur/ with F and
    without S, so a mail client shows it unread and flagged. Files are renamed, never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kept = 0
        for sub in ("tmp", "new", "cur"):
            try:
                (path / sub).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BounceMailboxError(f"cannot open the bounce Maildir {path}: {exc}",
                                         hint="check [bounces] maildir and its permissions") \
                    from exc

    def unread(self) -> Iterator[tuple[str, bytes]]:
        for sub in ("new", "cur"):
            for name in sorted(os.listdir(self.path / sub)):
                flags = _maildir_flags(name)[1]
                if name.startswith(".") or "S" in flags or "F" in flags or "T" in flags:
                    continue
                try:
                    data = (self.path / sub / name).read_bytes()
                except FileNotFoundError:  # moved meanwhile by another reader
                    continue
                yield f"{sub}/{name}", data

    def _move(self, handle: str, add: str, remove: str) -> None:
        sub, _, name = handle.partition("/")
        if sub not in ("new", "cur") or not name or "/" in name:
            raise BounceMailboxError(f"not a handle of this Maildir: {handle!r}")
        unique, flags = _maildir_flags(name)
        flags = "".join(sorted((set(flags) | set(add)) - set(remove)))
        try:
            os.rename(self.path / sub / name, self.path / "cur" / f"{unique}:2,{flags}")
        except OSError as exc:
            raise BounceMailboxError(f"cannot move {handle} in {self.path}: {exc}") from exc

    def done(self, handle: str) -> None:
        self._move(handle, "S", "")

    def keep(self, handle: str) -> None:
        self._move(handle, "F", "S")
        self.kept += 1
        log.warning("bounce message kept for a human maildir=%s message=%s", self.path, handle)

    def close(self) -> None:
        pass


def _said(exc: Exception) -> str:
    """imaplib raises with the server's bytes as its argument; show them as text."""
    first = exc.args[0] if exc.args else exc
    return first.decode("utf-8", "replace") if isinstance(first, bytes) else str(exc)


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapBounces:
    """An IMAP folder the bounces are delivered to. Unread means UNSEEN and UNFLAGGED; messages
    are fetched with BODY.PEEK so reading marks nothing. `done` sets \\Seen (and moves the
    message to `move_to` when given); `keep` sets \\Flagged and leaves it unseen."""

    def __init__(self, host: str, port: int, user: str, password: str, folder: str = "INBOX",
                 ssl: bool = True, *, move_to: str | None = None,
                 timeout: float = 30.0) -> None:
        self.folder = folder
        self.move_to = move_to
        self.kept = 0
        where = f"{user}@{host}:{port}/{folder}"
        try:
            self.imap = (imaplib.IMAP4_SSL(host, port, timeout=timeout) if ssl
                         else imaplib.IMAP4(host, port, timeout=timeout))
        except OSError as exc:
            raise BounceMailboxError(f"cannot connect to the bounce mailbox {where}: {exc}",
                                     hint="check [bounces] imap_host and imap_port") from exc
        try:
            self.imap.login(user, password)
            # imaplib keeps the greeting's list; a server announces more (MOVE) once logged in
            answer = self._ok(self.imap.capability(), "capability")
            self.capabilities = frozenset(
                b" ".join(x for x in answer if isinstance(x, bytes)).decode().upper().split())
            self._ok(self.imap.select(_quoted(folder)), f"select {folder}")
            if move_to:
                self.imap.create(_quoted(move_to))  # NO when it exists already; fine
        except (imaplib.IMAP4.error, OSError, BounceMailboxError) as exc:
            self.close()
            raise BounceMailboxError(f"cannot open the bounce mailbox {where}: {_said(exc)}",
                                     hint="check [bounces] imap_user, imap_password_env and "
                                          "imap_folder") from exc

    @staticmethod
    def _ok(answer: tuple[str, Sequence[object]], what: str) -> Sequence[object]:
        status, data = answer
        if status != "OK":
            raise BounceMailboxError(f"IMAP {what}: {status} {data!r}")
        return data

    def _command(self, what: str, *args: str) -> Sequence[object]:
        try:
            return self._ok(self.imap.uid(*args), what)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise BounceMailboxError(f"IMAP {what} in {self.folder}: {_said(exc)}") from exc

    def unread(self) -> Iterator[tuple[str, bytes]]:
        found = self._command("search", "SEARCH", "UNSEEN", "UNFLAGGED")
        uids = b" ".join(x for x in found if isinstance(x, bytes)).split()
        for uid in (u.decode("ascii") for u in uids):
            for item in self._command(f"fetch {uid}", "FETCH", uid, "(BODY.PEEK[])"):
                if isinstance(item, tuple) and isinstance(item[1], bytes):
                    yield uid, item[1]
                    break

    def done(self, handle: str) -> None:
        self._command(f"store {handle}", "STORE", handle, "+FLAGS", "(\\Seen)")
        if self.move_to:
            if "MOVE" in self.capabilities:
                self._command(f"move {handle}", "MOVE", handle, _quoted(self.move_to))
            else:  # copied and seen; the original stays rather than expunge a human's deletions
                self._command(f"copy {handle}", "COPY", handle, _quoted(self.move_to))

    def keep(self, handle: str) -> None:
        self._command(f"store {handle}", "STORE", handle, "+FLAGS", "(\\Flagged)")
        self.kept += 1
        log.warning("bounce message kept for a human folder=%s uid=%s", self.folder, handle)

    def close(self) -> None:
        try:
            if self.imap.state == "SELECTED":
                self.imap.close()
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass  # the connection is gone either way
