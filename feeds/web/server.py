"""The HTTP server: uvicorn (httptools, on uvloop) running one `Site`, with the bounds on a
request's head a public server needs and uvicorn lacks. It subclasses uvicorn's internals, so
pyproject.toml pins uvicorn below its next minor version."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from feeds.config import WILDCARD_HOSTS, Config
from feeds.errors import FeedsError
from feeds.web.app import Site


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the bounds a public server needs on a request's head.
    uvicorn stops its keep-alive timer at a request's first byte and sets no limit on the head,
    so a client sending one byte at a time, or headers without end, would hold a connection
    (and memory) for as long as it liked. Here the head must arrive within the idle timeout
    from the connection's start (or the previous response) and stay under MAX_HEAD bytes and
    MAX_FIELDS fields; a head over the limits gets 414 (its URL) or 431 (its headers)."""

    MAX_HEAD = 16 * 1024
    MAX_FIELDS = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._fields = 0
        self._refusal: bytes | None = None  # the status line for a head over the limits

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.timeout_keep_alive,
                                                    self.timeout_keep_alive_handler)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _count(self, size: int, refusal: bytes) -> None:
        self._head_bytes += size
        if self._head_bytes > self.MAX_HEAD or self._fields > self.MAX_FIELDS:
            self._refusal = refusal
            raise ValueError("request head too large")  # the parser stops; uvicorn answers

    def on_message_begin(self) -> None:
        self._head_bytes = self._fields = 0
        self._arm()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url), b"414 URI Too Long")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        self._count(len(name) + len(value) + 4, b"431 Request Header Fields Too Large")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            super().send_400_response(msg)
            return
        self.transport.write(b"HTTP/1.1 " + self._refusal + b"\r\ncontent-length: 0\r\n"
                             b"connection: close\r\n\r\n")
        self.transport.close()


class UvicornWithoutSignals(uvicorn.Server):
    """uvicorn's server, minus its signal handlers: the daemon has its own (SIGTERM first stops
    ingest, then the HTTP server) and stops this one by setting `should_exit`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Server:
    """Starts and stops the site on a host and port (0 picks a free port)."""

    def __init__(self, site: Site, host: str, port: int,
                 listener: socket.socket | None = None) -> None:
        """`listener`: a socket `bind_listener` already bound (the daemon binds before its
        start-up scan, so a taken port is refused at once)."""
        self.site = site
        self.host = host
        self.port = port if listener is None else int(listener.getsockname()[1])
        self._listener = listener
        self._server: UvicornWithoutSignals | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Bind (unless bound already) and serve; returns the port."""
        listener = self._listener or bind_listener(self.host, self.port)
        self._listener = None
        self.port = listener.getsockname()[1]
        config = uvicorn.Config(
            self.site, http=BoundedHeadProtocol, interface="asgi3", lifespan="off", log_config=None,
            access_log=False, proxy_headers=False, server_header=False,
            timeout_keep_alive=math.ceil(self.site.config.server.idle_timeout_seconds),
            timeout_graceful_shutdown=5)
        server = self._server = UvicornWithoutSignals(config)
        self._task = asyncio.create_task(server.serve(sockets=[listener]))
        while not server.started:
            if self._task.done():  # it could not start: say why
                self._task.result()
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.005)
        return self.port

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a FeedsError naming server.host and server.port
    with what to do (a taken port is the usual case: another feeds, or another program)."""
    where = f"{url_of(host, port).removeprefix('http://').rstrip('/')}"
    try:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except socket.gaierror as exc:
        raise FeedsError(f"cannot listen on {where} (server.host): {exc.strerror}",
                         hint="set server.host to an address of this machine, such as "
                              "127.0.0.1 or 0.0.0.0") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise FeedsError(f"cannot listen on {where} (server.host:port): the address is "
                             "already in use",
                             hint="another program (or another feeds) listens there; stop it, "
                                  "or set server.port to a free port") from None
        if exc.errno == errno.EACCES:
            raise FeedsError(f"cannot listen on {where} (server.host:port): permission denied",
                             hint="ports below 1024 need privileges; set server.port to 1024 "
                                  "or above (and put a reverse proxy in front)") from None
        raise FeedsError(f"cannot listen on {where} (server.host:port): "
                         f"{exc.strerror or exc}") from None


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def link_warnings(config: Config) -> list[str]:
    """What is likely wrong with where links point, for the daemon to say at start: a
    base_url naming this machine at another port, or links derived from a wildcard host."""
    server, base = config.server, config.site.base_url
    if config.base_url_from_server:
        if server.host in WILDCARD_HOSTS:
            return [f"site.base_url is not set and server.host {server.host!r} listens on "
                    f"every address: links name {base}; set site.base_url to the address "
                    "readers use"]
        return []
    url = urlsplit(base)
    port = url.port or (443 if url.scheme == "https" else 80)
    if url.hostname in LOOPBACK_HOSTS | {server.host} and server.port and port != server.port:
        return [f"site.base_url {base} names port {port}, but server.port is {server.port}: "
                "links will not reach this server; correct site.base_url, or leave it out to "
                "follow the server's address"]
    return []
