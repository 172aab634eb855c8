"""Without [smtp], messages go into a Maildir outbox any mail client can open."""

from __future__ import annotations

import mailbox
from pathlib import Path

from feeds.errors import DeliveryError
from feeds.mail.message import Outgoing


class MaildirOutbox:
    """Each message becomes a file in <state>/outbox/new (written to tmp/, then renamed)."""

    parallel = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        self.box = mailbox.Maildir(str(path), create=True)

    def send(self, message: Outgoing) -> None:
        # what an MTA delivering the message would add: where a bounce would go
        data = b"Return-Path: <" + message.sender.encode() + b">\r\n" + message.data
        try:  # a Maildir file has the system's line ends
            self.box.add(data.replace(b"\r\n", b"\n"))
        except OSError as exc:
            raise DeliveryError(f"cannot write to the outbox {self.path}: {exc.strerror}") \
                from exc

    def close(self) -> None:
        self.box.close()
