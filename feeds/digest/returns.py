"""What comes back from digests, applied to the list. Each unread message in the bounce
mailbox is read once (`feeds.bounces.classify`), recorded, and decides for its subscriber: a
hard bounce, or `soft_limit` soft bounces in a row, marks them `bounced`, a complaint
`complained`, and a message with the subject "unsubscribe" (the `List-Unsubscribe` mailto)
unsubscribes its sender. A message naming nobody is recorded and logged; one that cannot be
read is left in the mailbox, flagged for a human, and counted. Nothing is ever deleted."""

from __future__ import annotations

import email
import email.policy
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr

from feeds.bounces import Bounce, BounceMailbox, ImapBounces, MaildirBounces, classify
from feeds.config import Config
from feeds.errors import FeedsError
from feeds.models import Subscriber
from feeds.store import Store, WriteTransaction
from feeds.store.bounces import SUPPRESSED

log = logging.getLogger("feeds.bounces")

# what each kind of message does to the subscriber it names
_STATUS_OF = {"hard": "bounced", "complaint": "complained"}


@dataclass(slots=True)
class BounceRun:
    """One pass over the mailbox: messages by outcome (hard, soft, complaint, unrecognized,
    unsubscribe, unknown: naming no subscriber, kept: unreadable), and who was suppressed."""

    outcomes: Counter[str] = field(default_factory=Counter)
    suppressed: list[tuple[str, str]] = field(default_factory=list)  # (email, new status)


def open_mailbox(config: Config) -> BounceMailbox:
    bounces = config.bounces
    if bounces.maildir is not None:
        return MaildirBounces(config.source.parent / bounces.maildir)
    if bounces.imap_host:
        return ImapBounces(bounces.imap_host, bounces.imap_port, bounces.imap_user,
                           bounces.imap_password(), bounces.imap_folder, bounces.imap_ssl)
    raise FeedsError("no bounce mailbox is configured",
                     hint="set [bounces] maildir or imap_host (see docs/bounces.md)")


def process_bounces(config: Config, store: Store, *,
                    clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> BounceRun:
    """Read every unread message in the bounce mailbox and apply it."""
    run = BounceRun()
    mailbox = open_mailbox(config)
    try:
        for handle, raw in mailbox.unread():
            with store.write() as tx:
                outcome, suppressed = apply_message(config, tx, handle, raw, clock())
            # recorded before marked: a crash in between reads the message again, which is
            # harmless but for one soft bounce counted twice
            if outcome == "kept":
                mailbox.keep(handle)
            else:
                mailbox.done(handle)
            run.outcomes[outcome] += 1
            if suppressed is not None:
                run.suppressed.append(suppressed)
    finally:
        mailbox.close()
    if run.outcomes:
        log.info("bounce mailbox read %s", " ".join(
            f"{kind}={count}" for kind, count in sorted(run.outcomes.items())))
    return run


def apply_message(config: Config, tx: WriteTransaction, handle: str, raw: bytes,
                  now: datetime) -> tuple[str, tuple[str, str] | None]:
    """Record one returned message and apply it; (outcome, (email, new status) or None)."""
    sender = unsubscribe_request(config, raw)
    if sender is not None:
        return _unsubscribe(tx, sender, handle, now)
    bounce = classify(raw, config.bounces.address or None)
    if bounce.unreadable:
        tx.record_bounce(received=now, kind="kept", email=None, token=bounce.token,
                         reason=bounce.reason, message=handle)
        return "kept", None
    subscriber = subscriber_of_bounce(tx, bounce)
    tx.record_bounce(received=now, kind=bounce.kind,
                     email=subscriber.email if subscriber else None, token=bounce.token,
                     reason=bounce.reason, message=handle)
    if bounce.kind == "unrecognized":
        return "unrecognized", None
    if subscriber is None:
        log.warning("bounce for no known subscriber kind=%s token=%s recipients=%s message=%s",
                    bounce.kind, bounce.token, ",".join(bounce.recipients) or "-", handle)
        return "unknown", None
    status = _STATUS_OF.get(bounce.kind)
    if bounce.kind == "soft":
        in_a_row = tx.count_soft_bounce(subscriber.email)
        if in_a_row >= config.bounces.soft_limit:
            status = "bounced"
    if status is not None and tx.suppress(subscriber.email, status):
        log.warning("subscriber suppressed email=%s status=%s reason=%s", subscriber.email,
                    status, bounce.reason)
        return bounce.kind, (subscriber.email, status)
    return bounce.kind, None


def subscriber_of_bounce(tx: WriteTransaction, bounce: Bounce) -> Subscriber | None:
    """The subscriber a message names: by its VERP token, else by a failed address."""
    if bounce.token is not None:
        found = tx.subscriber_by_token(bounce.token)
        if found is not None:
            return found
    for address in bounce.recipients:
        found = tx.subscriber_by_address(address)
        if found is not None:
            return found
    return None


def unsubscribe_request(config: Config, raw: bytes) -> str | None:
    """The sender of a message asking to unsubscribe by mail (`List-Unsubscribe`'s mailto:
    the subject "unsubscribe"), or None. Only when that mailto is on (it names this mailbox);
    an automatic message never counts as a request."""
    if not unsubscribe_mailto(config):
        return None
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        subject = str(msg.get("Subject", "")).strip().lower()
        automatic = str(msg.get("Auto-Submitted", "no")).strip().lower() != "no"
        sender = parseaddr(str(msg.get("From", "")))[1]
    except Exception:  # a malformed message is the classifier's to report
        return None
    if subject != "unsubscribe" or automatic or "@" not in sender:
        return None
    return sender


def _unsubscribe(tx: WriteTransaction, sender: str, handle: str,
                 now: datetime) -> tuple[str, tuple[str, str] | None]:
    subscriber = tx.subscriber_by_address(sender)
    tx.record_bounce(received=now, kind="unsubscribe",
                     email=subscriber.email if subscriber else sender, token=None,
                     reason="unsubscribe request by mail", message=handle)
    if subscriber is None or subscriber.status in SUPPRESSED:
        log.info("unsubscribe by mail from no active subscriber from=%s", sender)
        return "unsubscribe", None
    tx.set_subscriber_status(subscriber.email, "unsubscribed")
    log.info("unsubscribed by mail email=%s", subscriber.email)
    return "unsubscribe", (subscriber.email, "unsubscribed")


def unsubscribe_mailto(config: Config) -> str:
    """The mailto address `List-Unsubscribe` may carry: only `mail.unsubscribe_mailto`, and
    only when the daemon reads the bounce mailbox, which that address must deliver into."""
    if config.mail.unsubscribe_mailto and config.bounces.reads_mailbox:
        return config.mail.unsubscribe_mailto
    return ""
