"""Mail: finished MIME messages (`message`) delivered over SMTP (`smtp`) or into a Maildir
outbox (`maildir`). A layer-2 adapter: it imports models, errors and config only, and never
chooses what a message says."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from feeds.config import SMTPConfig
from feeds.mail.maildir import MaildirOutbox
from feeds.mail.message import LINE_LIMIT, MessageTemplate, Outgoing, Personal, seven_bit
from feeds.mail.smtp import SMTPOutbox, dot_stuffed

__all__ = [
    "LINE_LIMIT", "MaildirOutbox", "MessageTemplate", "Outbox", "Outgoing", "Personal",
    "SMTPOutbox", "dot_stuffed", "open_outbox", "seven_bit",
]


class Outbox(Protocol):
    # how many callers may send at once (each from its own thread)
    parallel: int

    def send(self, message: Outgoing) -> None: ...
    def close(self) -> None: ...


def open_outbox(smtp: SMTPConfig | None, state: Path) -> Outbox:
    if smtp is None:
        return MaildirOutbox(state / "outbox")
    return SMTPOutbox(smtp)
