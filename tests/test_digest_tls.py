"""Digests over TLS, as a real relay wants them: STARTTLS (the default) or implicit TLS, the
server's certificate checked against the machine's trusted CAs, then a login. The server is
aiosmtpd on 127.0.0.1 with a certificate from a throwaway CA (trustme), which the `feeds`
process trusts through OpenSSL's SSL_CERT_FILE."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Env, SMTPRecorder, smtp_server
from tests.test_digest import deliveries, load_samples, messages, subscribe

PASSWORD = "correct horse"
# aiosmtpd's warning for AUTH without STARTTLS, said of the implicit-TLS server too
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class TLSRecorder(SMTPRecorder):
    """Keeps, for each message, whether its session was encrypted and who logged in."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[tuple[bool, str | None]] = []
        self.logins: list[str] = []  # each AUTH attempt's mechanism

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if session.auth_data else None
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.sessions.append((encrypted, login))
        return await super().handle_DATA(server, session, envelope)


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword
    server.event_handler.logins.append(mechanism)
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"digests"
          and auth_data.password == PASSWORD.encode())
    # handled=False: aiosmtpd answers a refusal with 535 itself
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@pytest.fixture
def ca(tmp_path: Path) -> Iterator[tuple[ssl.SSLContext, Path]]:
    """The server's context (a certificate for 127.0.0.1) and the CA file that trusts it."""
    import trustme
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    path = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    yield context, path


@contextmanager
def serve(security: str, context: ssl.SSLContext) -> Iterator[TLSRecorder]:
    # aiosmtpd offers AUTH only after STARTTLS unless told that implicit TLS is as good
    options: dict[str, Any] = (
        {"tls_context": context, "require_starttls": True} if security == "starttls"
        else {"ssl_context": context, "auth_require_tls": False})
    yield from smtp_server(TLSRecorder(), auth_required=True, authenticator=authenticator,
                           **options)


@pytest.fixture(params=["starttls", "tls"])
def relay(request: pytest.FixtureRequest,
          ca: tuple[ssl.SSLContext, Path]) -> Iterator[tuple[str, TLSRecorder]]:
    with serve(request.param, ca[0]) as server:
        yield request.param, server


def configure(env: Env, security: str, server: SMTPRecorder, connections: int = 4) -> None:
    env.write_config(smtp={"host": "127.0.0.1", "port": server.port,  # type: ignore[attr-defined]
                           "security": security, "user": "digests",
                           "connections": connections},
                     ingest={"settle_seconds": 0.0})


def test_a_digest_goes_encrypted_after_a_login(env: Env, relay: tuple[str, TLSRecorder],
                                               ca: tuple[ssl.SSLContext, Path]) -> None:
    security, server = relay
    configure(env, security, server)
    subscribe(env, "reader@example.org", "syria")
    subscribe(env, "second@example.org", "syria")
    load_samples(env, "idlib-water.html")
    trusted = {"SSL_CERT_FILE": str(ca[1]), "FEEDS_SMTP_PASSWORD": PASSWORD}
    result = env.feeds("digest", "send", "--all", env=trusted)
    assert "2 sent" in result.stdout, result.stdout + result.stderr
    assert server.sessions == [(True, "digests"), (True, "digests")]
    assert sorted(m["To"] for m in messages(server)) == ["reader@example.org",
                                                         "second@example.org"]


def test_a_refused_login_or_an_untrusted_certificate_keeps_the_digests_for_later(
        env: Env, ca: tuple[ssl.SSLContext, Path]) -> None:
    """The server's refusal stops the run at the first connection: no login is tried once
    per digest (an account locked for it would stop every later run too)."""
    with serve("starttls", ca[0]) as server:
        configure(env, "starttls", server)  # 4 connections: the first refusal is for all
        for address in ("reader@example.org", "second@example.org", "third@example.org"):
            subscribe(env, address, "syria")
        load_samples(env, "idlib-water.html")
        trusted = {"SSL_CERT_FILE": str(ca[1])}
        wrong = env.feeds("digest", "send", "--all", check=False,
                          env={**trusted, "FEEDS_SMTP_PASSWORD": "wrong"})
        assert re.search(r"SMTP login to 127\.0\.0\.1:\d+ refused: 535 5\.7\.8", wrong.stderr)
        assert "FEEDS_SMTP_PASSWORD" in wrong.stderr  # the hint names where the password is
        assert "3 deliveries wait for the next run" in wrong.stderr
        assert wrong.stderr.count("delivery failed") == 1  # said once, not by every sender
        assert "0 sent, 0 failed, 3 to retry" in wrong.stdout
        assert len(server.logins) <= 2, server.logins  # PLAIN, then LOGIN: one connection
        unset = env.feeds("digest", "send", "--all", check=False, env=trusted)
        assert "smtp.user is 'digests' but $FEEDS_SMTP_PASSWORD is empty" in unset.stderr
        assert len(server.logins) <= 2  # nothing tried without a password
        untrusted = env.feeds("digest", "send", "--all", check=False,
                              env={"FEEDS_SMTP_PASSWORD": PASSWORD})
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr, untrusted.stderr
        assert "SSL_CERT_FILE" in untrusted.stderr
        assert server.messages == []
        assert [status for _, status, _ in deliveries(env)] == ["pending"] * 3
        env.feeds("digest", "send", "--all", env={**trusted, "FEEDS_SMTP_PASSWORD": PASSWORD})
        assert len(server.messages) == 3
        assert [status for _, status, _ in deliveries(env)] == ["sent"] * 3
