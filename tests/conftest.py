"""Shared fixtures: a temp inbox and config, the real console script, the shared corpus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.forked import run_forked

if TYPE_CHECKING:
    from feeds.store import Store
    from tests.chat import ChatServer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared"
SEEDS = SHARED / "corpus" / "seeds"
FEEDS_BIN = str(Path(sys.executable).with_name("feeds"))
# `scripts/test --postgres` sets this to a throwaway cluster: every Env gets its own database
POSTGRES = os.environ.get("FEEDS_TEST_POSTGRES", "")
# Env.feeds runs the command in a forked child of the test process (tests.forked), unless
# FEEDS_TEST_EXEC=1 asks for a fresh `feeds` process each time, as a user's shell starts it.
FORK = hasattr(os, "fork") and os.environ.get("FEEDS_TEST_EXEC", "") != "1"


def sqlite_only() -> None:
    if POSTGRES:
        pytest.skip("SQLite-specific (this run uses PostgreSQL)")


def transactions_begun(store: Store) -> list[bool]:
    """A list that grows by one for each transaction `store` begins from now on: True for a
    write transaction, False for a read."""
    import sqlalchemy as sa
    begun: list[bool] = []
    sa.event.listen(store.database.engine, "begin", lambda conn: begun.append(
        bool(conn.get_execution_options().get("feeds_write"))))
    return begun


def new_database(admin_url: str) -> str:
    import uuid

    import sqlalchemy as sa
    name = f"t_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def needs_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared/ is optional)")
    return path


def seed(prefix: str) -> Path:
    found = sorted(needs_shared(SEEDS).glob(f"{prefix}_*"))
    assert found, f"no seed {prefix}_* in {SEEDS}"
    return found[0]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) \
            + " }"
    raise TypeError(value)


def dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Enough TOML for our config (tests only; the product never writes config)."""
    plain = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and plain else []
    lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in plain.items()]
    for key, value in tables.items():
        name = f"{prefix}.{json.dumps(key)}" if prefix else json.dumps(key)
        lines.append(dump_toml(value, name))
    return "\n".join(lines) + "\n"


# One file with two stories, for tests of a file that later drops its second story (the
# first one, alone, reads exactly as it did in the pair).
HARBOUR = ("Harbour reopens after storm\n\nBy Ana Costa\n\nLISBON (Harbour Wire) - The harbour "
           "reopened on Monday after two weeks of repairs. Officials said ships would dock "
           "within hours.\n\nA backlog of vessels should clear by the end of the week.\n")
AIRPORT = ("Airport terminal plan approved\n\nThe airport said on Tuesday that a new terminal "
           "would open next year, with room for more flights and shops. Officials said "
           "construction was on schedule and on budget so far.\n")
TWO_STORIES = HARBOUR + "\n\n\n\n" + AIRPORT

class Env:
    """A temp installation: config.toml, inbox/, public/, state/ in one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inbox = root / "inbox"
        self.public = root / "public"
        self.state = root / "state"
        self.config = root / "config.toml"
        self.database_url = new_database(POSTGRES) if POSTGRES else \
            f"sqlite:///{self.state / 'feeds.db'}"
        self.inbox.mkdir()
        self.write_config()

    def write_config(self, **extra: Any) -> None:
        base = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
        base = _merge(base, {"paths": {"inbox": "inbox", "public": "public", "state": "state"},
                             "ingest": {"settle_seconds": 0.0}})
        if POSTGRES:
            base = _merge(base, {"store": {"url": self.database_url}})
        self.config.write_text(dump_toml(_merge(base, extra)), encoding="utf-8")

    def feeds(self, *args: str, check: bool = True, timeout: float = 60,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = ["--config", str(self.config), *args]
        environment = {**os.environ, **(env or {})}
        if FORK:
            result = run_forked(argv, cwd=str(self.root), env=environment, timeout=timeout)
        else:
            result = subprocess.run([FEEDS_BIN, *argv], capture_output=True, text=True,
                                    timeout=timeout, cwd=self.root, env=environment)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def drop(self, name: str, content: str | bytes) -> Path:
        path = self.inbox / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path

    def explain(self, *paths: Path) -> list[dict[str, Any]]:
        out = self.feeds("explain", "--json", *map(str, paths)).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def status(self) -> dict[str, Any]:
        return json.loads(self.feeds("status", "--json").stdout)

    def sql(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on this installation's database, whichever it is."""
        import sqlalchemy as sa
        engine = sa.create_engine(self.database_url)
        try:
            with engine.begin() as conn:
                result = conn.execute(sa.text(query), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def fresh_database(self) -> None:
        """Start over with an empty database (and, on SQLite, an empty state folder)."""
        if POSTGRES:
            self.database_url = new_database(POSTGRES)
            self.write_config()
        else:
            import shutil
            shutil.rmtree(self.state, ignore_errors=True)

    def database_is_sound(self) -> None:
        if not POSTGRES:
            assert self.sql("pragma integrity_check") == [("ok",)]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


@pytest.fixture
def article_text() -> Callable[[str], str]:
    def make(title: str, body: str = "The council said on Monday that the plan would go "
             "ahead. Residents welcomed the decision at a public meeting.") -> str:
        return f"{title}\n\n{body}\n"
    return make


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


class Process:
    """A feeds subprocess (run or serve) on a free loopback port."""

    def __init__(self, env: Env, *args: str, new_session: bool = False, **config: Any) -> None:
        """`new_session`: its own process group, so a test can signal it as a terminal's
        Ctrl-C does (the whole group), leaving the test runner alone."""
        self.env = env
        self.args = args
        self.port = free_port()
        env.write_config(**_merge({"server": {"host": "127.0.0.1", "port": self.port},
                                   "ingest": {"settle_seconds": 0.0, "rescan_seconds": 3600}},
                                  config))
        self.log = env.root / f"feeds-{self.port}.log"
        self.handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([FEEDS_BIN, "--config", str(env.config), *args],
                                     stdout=self.handle, stderr=subprocess.STDOUT, cwd=env.root,
                                     start_new_session=new_session)
        self.url = f"http://127.0.0.1:{self.port}/"

    def up(self) -> bool:
        import httpx
        try:
            return httpx.get(self.url + "healthz", timeout=1).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def wait_up(self) -> None:
        """Serving, and for `run`, done with its startup scan and full publish (the server
        answers from the start, with what public/ held)."""
        assert wait_for(lambda: self.up() or self.proc.poll() is not None, 20), self.output()
        if self.args[:1] == ("run",):
            assert wait_for(lambda: "startup scan finished" in self.output()
                            or self.proc.poll() is not None, 60), self.output()
        assert self.proc.poll() is None, self.output()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = 15, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.handle.close()
        return code


class SMTPRecorder:
    """An aiosmtpd handler that keeps what it receives and can misbehave on request:
    `replies` holds codes to answer the next DATA commands with ("drop" closes the socket)."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.recipients: list[str] = []
        self.mail_options: list[list[str]] = []
        self.replies: list[str] = []
        self.block: Callable[[], None] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            reply = self.replies.pop(0)
            if reply == "drop":
                server.transport.close()
                return "421 closing"
            return reply
        if self.block is not None:
            import asyncio
            await asyncio.get_running_loop().run_in_executor(None, self.block)
        self.messages.append(envelope.original_content or envelope.content)
        self.recipients.extend(envelope.rcpt_tos)
        self.mail_options.append(list(envelope.mail_options))
        return "250 OK"


@pytest.fixture
def smtp() -> Any:
    yield from smtp_server()


@pytest.fixture
def smtp_7bit() -> Any:
    """A server that does not offer 8BITMIME (it decodes what it receives as text)."""
    yield from smtp_server(decode_data=True)


@pytest.fixture
def smtp_ascii() -> Any:
    """A server that does not offer SMTPUTF8 (internationalized addresses)."""
    yield from smtp_server(enable_SMTPUTF8=False)


class PipeliningRecorder(SMTPRecorder):
    """A server that offers PIPELINING (RFC 2920), refuses the recipients in `refuse`, and
    keeps the bytes of each read from a client (`chunks`): commands that arrive in one read
    were sent without waiting for a reply."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []
        self.refuse: set[str] = set()
        self.refuse_mail: list[str] = []  # replies to the next MAIL commands (421: then close)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self.refuse_mail:
            reply = self.refuse_mail.pop(0)
            if reply.startswith("421"):  # said, and the connection closed at once
                await server.push(reply)
                server.transport.close()
                return "421 closed"  # aiosmtpd's own push of this goes nowhere
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def smtp_pipelining() -> Any:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP
    recorder = PipeliningRecorder()

    class Reads(SMTP):
        def data_received(self, data: bytes) -> None:
            recorder.chunks.append(data)
            super().data_received(data)

    class Recording(Controller):
        def factory(self) -> SMTP:
            return Reads(self.handler, **self.SMTP_kwargs)

    yield from smtp_server(recorder, Recording)


def smtp_server(recorder: SMTPRecorder | None = None, controller_class: Any = None,
                **options: Any) -> Any:
    """aiosmtpd on a free loopback port with `recorder` as its handler, for as long as the
    generator runs (it stops the server however the caller's block ends)."""
    from aiosmtpd.controller import Controller
    recorder = recorder or SMTPRecorder()
    controller = (controller_class or Controller)(recorder, hostname="127.0.0.1",
                                                  port=free_port(), **options)
    controller.start()
    recorder.port = controller.port  # type: ignore[attr-defined]
    try:
        yield recorder
    finally:
        controller.stop()


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    """An OpenAI-compatible endpoint on loopback (tests.chat)."""
    from tests.chat import ChatServer
    server = ChatServer()
    yield server
    server.close()
