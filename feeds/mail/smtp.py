"""Delivering finished messages over SMTP: STARTTLS or implicit TLS, up to smtp.connections
reused connections, an optional rate limit shared by all of them. The only SMTP code in feeds;
it never builds messages (feeds/mail/message.py does). 8-bit messages go with BODY=8BITMIME, or
re-encoded as quoted-printable to a server without it; to a server that offers PIPELINING, a
message's MAIL, RCPT and DATA go in one write."""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import ssl
import threading
import time

from feeds.config import SMTPConfig
from feeds.errors import DeliveryError
from feeds.mail.message import Outgoing, seven_bit

log = logging.getLogger(__name__)


class SMTPOutbox:
    """Safe to call from `parallel` threads at once: each send takes an idle connection, or
    opens one, and gives it back when the server has accepted the message; one that failed is
    closed. So at most `parallel` connections are open, fewer when fewer callers send."""

    def __init__(self, config: SMTPConfig) -> None:
        self.config = config
        self.parallel = config.connections
        self._idle: list[smtplib.SMTP] = []
        self._lock = threading.Lock()
        self._next = 0.0  # when the rate limit lets the next message start
        self._tls: ssl.SSLContext | None = None
        self._first = threading.Lock()  # held while no connection has worked yet
        self._worked = False  # a connection of this outbox got through (TLS, login)
        self._down: DeliveryError | None = None  # why the first connection failed

    def _connect(self) -> smtplib.SMTP:
        """A new connection, its TLS and login done. Until one has worked, connections are
        made one at a time and the first failure is kept: the other senders get it without
        asking the server again (one refused login a run, not one per connection), and it is
        `unreachable` (the run stops). Once one has worked, a failed connection is just a
        failed delivery, tried again (a server's limit on connections, a lost packet)."""
        if not self._worked:
            with self._first:
                if self._down is not None:
                    raise self._down
                if not self._worked:  # (another sender's first may have worked meanwhile)
                    try:
                        smtp = self._dial()
                    except DeliveryError as exc:
                        self._down = exc
                        raise
                    self._worked = True
                    return smtp
        try:
            return self._dial()
        except DeliveryError as exc:
            exc.unreachable = False
            raise

    def _dial(self) -> smtplib.SMTP:
        """A new connection, its TLS and login done; a failure here is the server's, not a
        message's: DeliveryError with `unreachable` set."""
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        if cfg.user and not cfg.password():
            raise DeliveryError(
                f"smtp.user is {cfg.user!r} but ${cfg.password_env} is empty", unreachable=True,
                hint=f"set {cfg.password_env} in the environment of feeds (systemd: "
                "Environment= or EnvironmentFile=)")
        smtp: smtplib.SMTP | None = None
        try:
            if cfg.security == "tls":
                smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_seconds,
                                        context=self._tls_context())
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
                if cfg.security == "starttls":
                    smtp.starttls(context=self._tls_context())
            if cfg.user:
                smtp.login(cfg.user, cfg.password())
            return smtp
        except smtplib.SMTPAuthenticationError as exc:
            _drop(smtp)
            raise DeliveryError(f"SMTP login to {where} refused: {exc.smtp_code} "
                                f"{_text(exc.smtp_error)}", unreachable=True,
                                hint=f"check smtp.user and the password in ${cfg.password_env}"
                                ) from exc
        except ssl.SSLCertVerificationError as exc:
            _drop(smtp)
            raise DeliveryError(f"SMTP connection to {where} failed: {exc}", unreachable=True,
                                hint="the server's certificate is not one this machine's CAs "
                                "vouch for (SSL_CERT_FILE names another CA bundle)") from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            _drop(smtp)
            raise DeliveryError(f"SMTP connection to {where} failed: {exc}",
                                unreachable=True) from exc

    def _tls_context(self) -> ssl.SSLContext:
        """One context for every connection, made at the first that uses TLS: making one
        loads the system's CA certificates (~40 ms of CPU each, for each of `parallel`
        connections, and for none when the server is reached without TLS)."""
        with self._lock:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            return self._tls

    def _pace(self) -> None:
        """Messages start at most rate_per_second a second, over all connections together."""
        rate = self.config.rate_per_second
        if rate <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + 1.0 / rate
        if start > now:
            time.sleep(start - now)

    def send(self, message: Outgoing) -> None:
        self._pace()
        with self._lock:
            smtp = self._idle.pop() if self._idle else None
        if smtp is None:
            smtp = self._connect()
        try:
            smtp.ehlo_or_helo_if_needed()
            data, options = message.data, []
            international = not (message.sender + message.recipient).isascii()
            if international and not smtp.has_extn("smtputf8"):
                raise DeliveryError(f"the server takes no internationalized address "
                                    f"(SMTPUTF8): {message.recipient}", permanent=True)
            if message.eight_bit:
                if smtp.has_extn("8bitmime"):
                    options.append("BODY=8BITMIME")
                elif international:  # its headers are UTF-8 (RFC 6532): no 7-bit form
                    raise DeliveryError(f"the server takes internationalized addresses but no "
                                        f"8-bit mail (8BITMIME, which SMTPUTF8 requires): "
                                        f"{message.recipient}", permanent=True)
                else:
                    data = seven_bit(data)
            if international:
                options.append("SMTPUTF8")
                smtp.command_encoding = "utf-8"
            _transaction(smtp, message.sender, message.recipient, data, options)
        except DeliveryError:  # refused before anything was sent: the connection is fine
            with self._lock:
                self._idle.append(smtp)
            raise
        except NoFinalReply as exc:
            _drop(smtp)
            raise DeliveryError(
                f"no reply from {self.config.host}:{self.config.port} to the end of the "
                f"message: {exc.__cause__}; it may have arrived, so it is sent again at the "
                "next run, not now", uncertain=True) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            _drop(smtp)
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryError(f"recipient refused: {code} {_text(reply)}",
                                permanent=code >= 500) from exc
        except smtplib.SMTPResponseException as exc:
            _drop(smtp)
            raise DeliveryError(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}",
                                permanent=exc.smtp_code >= 500) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            _drop(smtp)
            raise DeliveryError(f"SMTP connection to {self.config.host}:{self.config.port} "
                                f"failed: {exc}", permanent=False) from exc
        with self._lock:
            self._idle.append(smtp)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for smtp in idle:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()


class NoFinalReply(Exception):  # noqa: N818 - a condition, not a failure of ours
    """The message went, but no reply to its end came (a timeout, a dropped connection): the
    server may or may not have taken it."""


# RFC 5321 4.5.3.2.6: a client waits 10 minutes for the reply to the final ".", which a
# server may send only after its filters ran; one that gave up sooner sent the message again
FINAL_REPLY_SECONDS = 600.0


_ACCEPTED = ((250,), (250, 251), (354,))  # the replies that let MAIL, RCPT and DATA go on


def _transaction(smtp: smtplib.SMTP, sender: str, recipient: str, data: bytes,
                 options: list[str]) -> None:
    """MAIL, RCPT and DATA for one message to one recipient: what smtplib's sendmail does, and
    raising the same exceptions, but cheaper for big bodies (see `dot_stuffed`) and plain
    addresses. To a server that offers PIPELINING (RFC 2920) the three commands go in one
    write and their replies are read after it, so a message costs two round trips, not four:
    over a relay 30 ms away, that halves the time each connection spends on a digest."""
    extra = "".join(f" {option}" for option in options)
    commands = (f"MAIL FROM:{_path(sender)}{extra}", f"RCPT TO:{_path(recipient)}", "DATA")
    if any("\r" in command or "\n" in command for command in commands):
        # what smtplib's putcmd refuses too: a line break would start a command of its own
        raise DeliveryError(f"an address holds a line break: {sender!r} to {recipient!r}",
                            permanent=True)
    pipelined = smtp.has_extn("pipelining")
    if pipelined:
        smtp.send("".join(f"{command}\r\n" for command in commands))
    refusal: smtplib.SMTPException | None = None
    for step, command in enumerate(commands):
        if not pipelined:
            smtp.putcmd(command)
        try:
            code, reply = smtp.getreply()
        except smtplib.SMTPServerDisconnected:
            if refusal is not None:  # a server that refused, then closed: say its refusal
                raise refusal from None
            raise
        if code in _ACCEPTED[step] or refusal is not None:
            continue
        refusal = (smtplib.SMTPSenderRefused(code, reply, sender) if step == 0 else
                   smtplib.SMTPRecipientsRefused({recipient: (code, reply)}) if step == 1 else
                   smtplib.SMTPDataError(code, reply))
        # unpipelined, nothing more was sent; a 421 closes the connection. Otherwise the
        # rest of the group's replies are read first (a server may even accept DATA after
        # refusing the recipient: the body is not sent, and the connection is closed)
        if not pipelined or code == 421:
            raise refusal
    if refusal is not None:
        raise refusal
    smtp.send(dot_stuffed(data))
    if smtp.sock is not None:  # smtp.timeout: the connection's own, smtp.timeout_seconds
        smtp.sock.settimeout(max(smtp.timeout, FINAL_REPLY_SECONDS))
    try:
        code, reply = smtp.getreply()
    except (OSError, smtplib.SMTPServerDisconnected) as exc:
        raise NoFinalReply from exc
    if smtp.sock is not None:
        smtp.sock.settimeout(smtp.timeout)
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


_PLAIN_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"]+@[^\s<>()\[\]\\,;:\"@]+")


def _path(address: str) -> str:
    """An SMTP path: <address>, quoted the way smtplib quotes when it is not plain."""
    return f"<{address}>" if _PLAIN_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


def dot_stuffed(data: bytes) -> bytes:
    """DATA's body and its end: a dot at a line's start doubled, a last line end, then ".".
    The same bytes as smtplib's regular expression (a line starts after each LF), which is
    tried at every position of the body and took as long as the rest of a digest's
    sending."""
    stuffed = data.replace(b"\n.", b"\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _drop(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        with contextlib.suppress(OSError):
            smtp.close()
