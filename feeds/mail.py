"""Delivering finished messages: over SMTP (STARTTLS or implicit TLS, one reused connection,
an optional rate limit) or, without [smtp], into a Maildir outbox any mail client can open.
The only SMTP code in feeds; it never builds messages (feeds/message.py does). 8-bit messages
go with BODY=8BITMIME, or re-encoded as quoted-printable to a server without it."""

from __future__ import annotations

import contextlib
import logging
import mailbox
import smtplib
import ssl
import time
from pathlib import Path
from typing import Protocol

from feeds.config import SMTPConfig
from feeds.errors import DeliveryError
from feeds.message import Outgoing, seven_bit

log = logging.getLogger(__name__)


class Outbox(Protocol):
    def send(self, message: Outgoing) -> None: ...
    def close(self) -> None: ...


class MaildirOutbox:
    """Each message becomes a file in <state>/outbox/new (written to tmp/, then renamed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.box = mailbox.Maildir(str(path), create=True)

    def send(self, message: Outgoing) -> None:
        try:  # a Maildir file has the system's line ends
            self.box.add(message.data.replace(b"\r\n", b"\n"))
        except OSError as exc:
            raise DeliveryError(f"cannot write to the outbox {self.path}: {exc.strerror}") \
                from exc

    def close(self) -> None:
        self.box.close()


class SMTPOutbox:
    def __init__(self, config: SMTPConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None
        self._last = 0.0

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if cfg.security == "tls":
            smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_seconds,
                                    context=context)
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
            if cfg.security == "starttls":
                smtp.starttls(context=context)
        if cfg.user:
            smtp.login(cfg.user, cfg.password())
        return smtp

    def send(self, message: Outgoing) -> None:
        rate = self.config.rate_per_second
        if rate > 0:
            wait = self._last + 1.0 / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            smtp = self._smtp
            smtp.ehlo_or_helo_if_needed()
            data, options = message.data, []
            if message.eight_bit:
                if smtp.has_extn("8bitmime"):
                    options.append("BODY=8BITMIME")
                else:
                    data = seven_bit(data)
            smtp.sendmail(message.sender, [message.recipient], data, mail_options=options)
            self._last = time.monotonic()
        except smtplib.SMTPRecipientsRefused as exc:
            self._drop()
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryError(f"recipient refused: {code} {reply.decode(errors='replace')}",
                                permanent=code >= 500) from exc
        except smtplib.SMTPAuthenticationError as exc:
            self._drop()
            raise DeliveryError(f"SMTP login refused: {exc.smtp_code}", hint=(
                f"check smtp.user and the password in ${self.config.password_env}")) from exc
        except smtplib.SMTPResponseException as exc:
            self._drop()
            message_text = exc.smtp_error.decode(errors="replace") if isinstance(
                exc.smtp_error, bytes) else str(exc.smtp_error)
            raise DeliveryError(f"SMTP {exc.smtp_code}: {message_text}",
                                permanent=exc.smtp_code >= 500) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise DeliveryError(f"SMTP connection to {self.config.host}:{self.config.port} "
                                f"failed: {exc}", permanent=False) from exc

    def _drop(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError):
                self._smtp.close()
            self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._smtp = None


def open_outbox(smtp: SMTPConfig | None, state: Path) -> Outbox:
    if smtp is None:
        return MaildirOutbox(state / "outbox")
    return SMTPOutbox(smtp)
