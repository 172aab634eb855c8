"""Signed tokens under a secret from the environment (FEEDS_SECRET) or made once in the state
folder (state/secret.key, mode 0600): the expiring confirmation links of double opt-in
(itsdangerous over a sign-up's id), and the HMAC unsubscribe tokens of mails sent before
subscribers had opaque tokens (base64url(email) "." HMAC-SHA256), still accepted because
RFC 8058 readers keep one-click links for months."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

PURPOSE = b"feeds-unsubscribe-v1:"
CONFIRM_SALT = "feeds-confirm-signup-v1"


@dataclass(frozen=True)
class ConfirmLink:
    """What a confirmation token says: the sign-up it names, or why it names none."""

    signup_id: int | None
    expired: bool = False
    email_key: str = ""  # the lowercased address it was mailed to


def confirm_token(secret: bytes, signup_id: int, email: str) -> str:
    """The link of one sign-up: its id and the address it was mailed to, so a link whose
    sign-up is gone can never name another one that got the same id."""
    return str(URLSafeTimedSerializer(secret, salt=CONFIRM_SALT).dumps(
        [signup_id, email.strip().lower()]))


def read_confirm_token(secret: bytes, token: str, max_age_seconds: int) -> ConfirmLink:
    """The sign-up a confirmation token names, if it is genuine and not older than
    `max_age_seconds`."""
    if len(token) > 200:
        return ConfirmLink(None)
    serializer = URLSafeTimedSerializer(secret, salt=CONFIRM_SALT)
    try:
        value = serializer.loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        return ConfirmLink(None, expired=True)
    except BadSignature:
        return ConfirmLink(None)
    if (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int)
            and isinstance(value[1], str)):
        return ConfirmLink(value[0], email_key=value[1])
    return ConfirmLink(None)


def load_secret(state: Path) -> bytes:
    env = os.environ.get("FEEDS_SECRET")
    if env:
        return env.encode("utf-8")
    path = state / "secret.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    state.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, email: str) -> str:
    return _b64(hmac.new(secret, PURPOSE + email.encode("utf-8"), hashlib.sha256).digest())


def sign(secret: bytes, email: str) -> str:
    return f"{_b64(email.encode('utf-8'))}.{_mac(secret, email)}"


def verify(secret: bytes, token: str) -> str | None:
    """The email a token was made for, or None when it is forged, altered or malformed."""
    payload, dot, mac = token.partition(".")
    if not dot or len(token) > 800:
        return None
    try:
        email = _unb64(payload).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return email if hmac.compare_digest(mac, _mac(secret, email)) else None
