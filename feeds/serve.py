"""HTTP: public/ from memory with the caching feed readers rely on, plus /healthz, /metrics and
the unsubscribe pages.

The server is uvicorn (httptools, on uvloop) running one ASGI application, `Site`. Public files
take a short path of their own: one dictionary look-up, one stat() per file for all the requests
one pass of the event loop reads, and headers built once per file version. One helper
(`respond`) owns validators and compression: a strong ETag and a Last-Modified that change
together (publish rewrites a file only when its bytes change), 304 for a matching If-None-Match
or If-Modified-Since, gzip when the client accepts it (with Vary), HEAD, and a short
Cache-Control. A publish is visible at once. No request can name a path outside public/. The
few dynamic routes are Starlette's. `_Protocol` adds to uvicorn's bounds on a request's head
(time, size, header count) that a public server needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
import math
import os
import posixpath
import socket
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from feeds.config import Config
from feeds.render import environment
from feeds.store import Store
from feeds.tokens import verify

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".atom": "application/atom+xml",
    ".json": "application/feed+json",
    ".opml": "text/x-opml",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
_COMPRESSIBLE = (".atom", ".json", ".opml", ".html", ".xml", ".css", ".txt")
NOT_FOUND = (b"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found"
             b"</title></head><body><h1>Not found</h1><p>There is nothing at this address. "
             b"<a href=\"/\">Go to the front page</a>.</p></body></html>\n")


Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Resource:
    body: bytes
    gzipped: bytes | None
    etag: str
    last_modified: datetime
    stamp: tuple[int, int, int]  # (mtime_ns, size, inode): the file this was read from
    path: str
    not_modified: Headers  # a 304's headers: the validators and caching headers
    full: Headers  # a 200's: those, the type and the length
    gzip_not_modified: Headers | None  # the same for the gzipped body
    gzip_full: Headers | None


def _headers(**fields: str) -> Headers:
    return [(name.replace("_", "-").lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in fields.items()]


def _stamp_of(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_mtime_ns, st.st_size, st.st_ino


class PublicFiles:
    """public/ held in memory, up to `limit` bytes (the files served least recently go first);
    a changed file (new stat) is read again on its next request.

    A request for a path already held costs one dictionary look-up and one stat(), which the
    requests of one `tick` share (see Site.static); only a path not seen before (or whose file
    changed, or that was let go) is resolved and read."""

    def __init__(self, root: Path, max_age: int = 0, limit: int = 64 << 20) -> None:
        self.root = root.resolve()
        self.max_age = max_age
        self.limit = limit
        self.held = 0  # bytes of the bodies held
        self._by_url: OrderedDict[str, Resource] = OrderedDict()  # canonical URL path -> file
        self._checked: dict[str, int] = {}  # URL path -> the tick its file was last stat()ed

    def set_max_age(self, max_age: int, limit: int | None = None) -> None:
        """A reloaded config: headers are built again with the new max-age."""
        if max_age != self.max_age or (limit is not None and limit != self.limit):
            self.max_age = max_age
            self.limit = self.limit if limit is None else limit
            self._by_url, self.held = OrderedDict(), 0
            self._checked.clear()

    def __len__(self) -> int:
        return len(self._by_url)

    def _keep(self, url_path: str, resource: Resource) -> None:
        self._forget(url_path)
        self._by_url[url_path] = resource
        self.held += _size(resource)
        while self.held > self.limit and len(self._by_url) > 1:
            _url, old = self._by_url.popitem(last=False)
            self.held -= _size(old)

    def _forget(self, url_path: str) -> None:
        old = self._by_url.pop(url_path, None)
        self._checked.pop(url_path, None)
        if old is not None:
            self.held -= _size(old)

    def _locate(self, url_path: str) -> tuple[Path, bool] | None:
        """The file a (decoded) URL path names, and whether the path is already canonical;
        None when it is not a servable file under root."""
        if "\x00" in url_path or "\\" in url_path:
            return None
        normal = posixpath.normpath("/" + url_path.lstrip("/"))
        canonical = normal == url_path
        if normal == "/":
            normal = "/index.html"
        parts = normal.lstrip("/").split("/")
        if any(p.startswith(".") or p == "" for p in parts):
            return None
        candidate = self.root.joinpath(*parts)
        try:
            real = candidate.resolve(strict=True)
            real.relative_to(self.root)
        except (OSError, ValueError):
            return None
        return (real, canonical) if real.is_file() else None

    def get(self, url_path: str, tick: int | None = None) -> Resource | None:
        """The file a URL path names; requests passing the same `tick` share one check that a
        held file is unchanged (None: check it)."""
        known = self._by_url.get(url_path)
        if known is not None:
            if tick is not None and self._checked.get(url_path) == tick:
                return known
            try:
                if _stamp_of(os.stat(known.path)) == known.stamp:
                    self._by_url.move_to_end(url_path)
                    if tick is not None:
                        self._checked[url_path] = tick
                    return known
            except OSError:
                pass
            self._forget(url_path)  # gone or changed: resolve it again
        located = self._locate(url_path)
        if located is None:
            return None
        path, canonical = located
        resource = self._read(path)
        if resource is not None and canonical:  # other spellings of a path are not kept
            self._keep(url_path, resource)
            if tick is not None:
                self._checked[url_path] = tick
        return resource

    def _read(self, path: Path) -> Resource | None:
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = _stamp_of(st)
        try:
            body = path.read_bytes()
        except OSError:
            return None
        suffix = path.suffix.lower()
        gzipped = None
        if suffix in _COMPRESSIBLE and len(body) > 256:
            packed = gzip.compress(body, compresslevel=6, mtime=0)
            gzipped = packed if len(packed) < len(body) else None
        etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
        modified = datetime.fromtimestamp(st.st_mtime, UTC).replace(microsecond=0)
        content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
        validators = {"etag": etag, "last_modified": format_datetime(modified, usegmt=True),
                      "cache_control": f"public, max-age={self.max_age}"}
        if gzipped is not None:
            validators["vary"] = "Accept-Encoding"
        not_modified = _headers(**validators)
        gzip_not_modified = gzip_full = None
        if gzipped is not None:
            gzip_not_modified = _headers(**{**validators, "etag": f'"{etag.strip(chr(34))}-gzip"'})
            gzip_full = gzip_not_modified + _headers(
                content_encoding="gzip", content_type=content_type,
                content_length=str(len(gzipped)))
        resource = Resource(body, gzipped, etag, modified, stamp, str(path), not_modified,
                            not_modified + _headers(content_type=content_type,
                                                    content_length=str(len(body))),
                            gzip_not_modified, gzip_full)
        return resource


def _size(resource: Resource) -> int:
    return len(resource.body) + len(resource.gzipped or b"")


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    opaque = etag.strip('"')
    for tag in header.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        if tag in (opaque, f"{opaque}-gzip"):
            return True
    return False


def respond(resource: Resource, accept_encoding: str, if_none_match: str | None,
            if_modified_since: str | None) -> tuple[int, Headers, bytes]:
    """The one place that decides validators, 304s and compression: the status, headers and
    body for a request with these headers."""
    use_gzip = resource.gzip_full is not None and _accepts_gzip(accept_encoding)
    if if_none_match is not None:
        not_modified = _etag_matches(if_none_match, resource.etag)
    else:
        not_modified = False
        if if_modified_since:
            try:
                when = parsedate_to_datetime(if_modified_since)
                not_modified = when.tzinfo is not None and resource.last_modified <= when
            except (TypeError, ValueError):
                not_modified = False
    if use_gzip:
        assert resource.gzip_not_modified is not None and resource.gzip_full is not None
        assert resource.gzipped is not None
        if not_modified:
            return 304, resource.gzip_not_modified, b""
        return 200, resource.gzip_full, resource.gzipped
    if not_modified:
        return 304, resource.not_modified, b""
    return 200, resource.full, resource.body


_NOT_FOUND_HEADERS = _headers(content_type="text/html; charset=utf-8",
                              content_length=str(len(NOT_FOUND)))
_NOT_ALLOWED_HEADERS = _headers(allow="GET, HEAD", content_length="0")
_DYNAMIC = ("/healthz", "/metrics")
_UNSUBSCRIBE = "/unsubscribe/"
MAX_FORM_BYTES = 64 * 1024


class _TooLarge(Exception):
    pass


class Site:
    """The ASGI application: public files on a short path of their own; health, metrics and the
    unsubscribe pages through Starlette."""

    def __init__(self, config: Config, store: Store, secret: bytes | None = None) -> None:
        self.config = config
        self.store = store
        self.secret = secret
        self.files = PublicFiles(config.paths.public, config.server.max_age_seconds,
                                 config.server.memory_mb << 20)
        self.requests: Counter[int] = Counter()
        self.started = time.time()
        self._tick = 0
        self._ticking = False
        assert config.paths.templates is not None
        self.templates = environment(config.paths.templates)
        routes = [Route("/healthz", self.healthz), Route("/metrics", self.metrics)]
        if secret is not None:
            routes += [Route(_UNSUBSCRIBE + "{token}", self.unsubscribe_page, methods=["GET"]),
                       Route(_UNSUBSCRIBE + "{token}", self.unsubscribe, methods=["POST"])]
        self.routes = Starlette(routes=routes)

    def reconfigure(self, config: Config) -> None:
        """A reloaded config (SIGHUP): its max-age applies at once, also to files held."""
        self.config = config
        self.files.set_max_age(config.server.max_age_seconds, config.server.memory_mb << 20)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path in _DYNAMIC or (self.secret is not None and path.startswith(_UNSUBSCRIBE)):
            async def counted(message: Message) -> None:
                if message["type"] == "http.response.start":
                    self.requests[message["status"]] += 1
                await send(message)
            await self.routes(scope, receive, counted)
            return
        status, headers, body = self.static(scope)
        self.requests[status] += 1
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body",
                    "body": body if scope["method"] != "HEAD" else b""})

    def static(self, scope: Scope) -> tuple[int, Headers, bytes]:
        if scope["method"] not in ("GET", "HEAD"):
            return 405, _NOT_ALLOWED_HEADERS, b""
        resource = self.files.get(scope["path"], self._current_tick())
        if resource is None:
            return 404, _NOT_FOUND_HEADERS, NOT_FOUND
        accept_encoding, if_none_match, if_modified_since = "", None, None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"accept-encoding":
                accept_encoding = value.decode("latin-1")
            elif name == b"if-modified-since":
                if_modified_since = value.decode("latin-1")
        return respond(resource, accept_encoding, if_none_match, if_modified_since)

    def _current_tick(self) -> int:
        """A number shared by the requests the event loop handles in one pass: the loop runs
        the ready requests in order, then the callback that moves the tick on, scheduled behind
        them by the first. Those requests were all read before any of their responses went
        out, so a client's request sent after a response it got (and after a file changed)
        has a later tick, and its file is checked again: a change is seen on the next request.
        Under load the requests of one pass share one stat() (a fifth of the time of a 304)."""
        if not self._ticking:
            self._ticking = True
            asyncio.get_running_loop().call_soon(self._next_tick)
        return self._tick

    def _next_tick(self) -> None:
        self._tick += 1
        self._ticking = False

    # --- unsubscribe (RFC 8058 one-click, plus a page with per-topic choices) ----------------
    def _page(self, status: int, heading: str, message: str, **form: Any) -> Response:
        html = self.templates.get_template("unsubscribe.html").render(
            site=self.config.site, heading=heading, message=message, form=bool(form), **form)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def _invalid(self) -> Response:
        return self._page(400, "This link is not valid",
                          "The unsubscribe link is incomplete or was altered. Use the link "
                          "from your most recent digest.")

    async def unsubscribe_page(self, request: Request) -> Response:
        assert self.secret is not None
        email = verify(self.secret, request.path_params["token"])
        loop = asyncio.get_running_loop()
        subscriber = await loop.run_in_executor(None, self.store.subscriber, email) \
            if email else None
        if subscriber is None:
            return self._invalid()
        if subscriber.status != "active":
            return self._page(200, "You are unsubscribed",
                              f"{email} receives no digests from {self.config.site.title}.")
        topics = [{"slug": slug, "title": t.title, "chosen": slug in subscriber.topics}
                  for slug, t in self.config.topics.items()]
        return self._page(200, "Your subscription",
                          "Choose the topics you want, or unsubscribe from everything.",
                          email=email, topics=topics, action=request.url.path)

    async def _form(self, request: Request) -> Any:
        """The request's form, read within body_timeout_seconds and at most MAX_FORM_BYTES."""
        if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            raise _TooLarge
        seen = 0
        receive = request.receive

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_FORM_BYTES:
                raise _TooLarge
            return message

        async with asyncio.timeout(self.config.server.body_timeout_seconds):
            return await Request(request.scope, limited).form()

    async def unsubscribe(self, request: Request) -> Response:
        assert self.secret is not None
        email = verify(self.secret, request.path_params["token"])
        if email is None:
            return self._invalid()
        try:
            form = await self._form(request)
        except _TooLarge:
            return PlainTextResponse("Request body too large", status_code=413,
                                     headers={"Connection": "close"})
        except TimeoutError:
            response = self._page(408, "Request timed out",
                                  "The form took too long to arrive. Please try again.")
            response.headers["Connection"] = "close"
            return response
        loop = asyncio.get_running_loop()
        subscriber = await loop.run_in_executor(None, self.store.subscriber, email)
        if subscriber is None:
            return self._invalid()
        chosen = [str(t) for t in form.getlist("topics") if str(t) in self.config.topics]
        if form.get("action") == "update" and chosen:
            await loop.run_in_executor(None, self.store.set_subscriber_topics, email, chosen)
            log.info("subscriber topics changed email=%s topics=%s", email, ",".join(chosen))
            return self._page(200, "Topics saved",
                              f"{email} will receive: {', '.join(chosen)}.")
        # One-click (List-Unsubscribe=One-Click), the button, or no topics left: unsubscribe.
        await loop.run_in_executor(None, self.store.set_subscriber_status, email,
                                   "unsubscribed")
        log.info("subscriber unsubscribed email=%s one_click=%s", email,
                 form.get("List-Unsubscribe") == "One-Click")
        return self._page(200, "You are unsubscribed",
                          f"{email} will receive no more digests from "
                          f"{self.config.site.title}.")

    def _health(self) -> tuple[bool, dict[str, Any]]:
        try:
            counts = self.store.counts()
            runs = self.store.last_runs()
            failed = self.store.failed_files()
            pending = self.store.pending_count()
        except Exception as exc:  # any store failure is what health must report
            return False, {"status": "unhealthy", "error": f"store: {exc}"}
        published = (self.config.paths.public / "index.html").exists()
        healthy = published
        return healthy, {
            "status": "ok" if healthy else "unhealthy",
            "published": published,
            "last_ingest": _stamp(runs.get("ingest")),
            "last_publish": _stamp(runs.get("publish")),
            "last_digest": _stamp(runs.get("digest")),
            "counts": counts,
            "failed_files": len(failed),
            "pending_deliveries": pending,
        }

    async def healthz(self, request: Request) -> Response:
        healthy, data = await asyncio.get_running_loop().run_in_executor(None, self._health)
        return JSONResponse(data, status_code=200 if healthy else 503,
                            headers={"Cache-Control": "no-store"})

    def _metrics(self) -> str:
        counts = self.store.counts()
        runs = self.store.last_runs()
        deliveries = self.store.delivery_counts()
        lines = [
            "# HELP feeds_articles Articles stored.", "# TYPE feeds_articles gauge",
            f"feeds_articles {counts['articles']}",
            "# HELP feeds_stories Stories (same-event groups).", "# TYPE feeds_stories gauge",
            f"feeds_stories {counts['stories']}",
            "# HELP feeds_files Inbox files by status.", "# TYPE feeds_files gauge",
        ]
        for status in ("ok", "failed", "duplicate"):
            lines.append(f'feeds_files{{status="{status}"}} {counts[f"files_{status}"]}')
        lines += ["# HELP feeds_topic_articles Articles per topic.",
                  "# TYPE feeds_topic_articles gauge"]
        lines += [f'feeds_topic_articles{{topic="{k[6:]}"}} {v}' for k, v in sorted(
            counts.items()) if k.startswith("topic:")]
        publish = runs.get("publish")
        lines += ["# HELP feeds_publish_duration_seconds Duration of the last publish.",
                  "# TYPE feeds_publish_duration_seconds gauge",
                  f"feeds_publish_duration_seconds {publish.get('seconds', 0) if publish else 0}"]
        lines += ["# HELP feeds_deliveries Digest deliveries by status.",
                  "# TYPE feeds_deliveries gauge"]
        for status in ("pending", "sent", "failed"):
            lines.append(f'feeds_deliveries{{status="{status}"}} {deliveries.get(status, 0)}')
        lines += ["# HELP feeds_http_memory_bytes Public files held in memory by the server.",
                  "# TYPE feeds_http_memory_bytes gauge",
                  f"feeds_http_memory_bytes {self.files.held}",
                  "# HELP feeds_http_memory_files Public files held in memory by the server.",
                  "# TYPE feeds_http_memory_files gauge",
                  f"feeds_http_memory_files {len(self.files)}"]
        lines += ["# HELP feeds_http_responses_total HTTP responses by status code.",
                  "# TYPE feeds_http_responses_total counter"]
        lines += [f'feeds_http_responses_total{{code="{code}"}} {n}'
                  for code, n in sorted(self.requests.items())]
        return "\n".join(lines) + "\n"

    async def metrics(self, request: Request) -> Response:
        text = await asyncio.get_running_loop().run_in_executor(None, self._metrics)
        return PlainTextResponse(text, headers={"Cache-Control": "no-store"})


def _stamp(run: dict[str, Any] | None) -> str | None:
    return run["finished"].isoformat() if run else None


class _Protocol(HttpToolsProtocol):
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


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, minus its signal handlers: the daemon has its own (SIGTERM first stops
    ingest, then the HTTP server) and stops this one by setting `should_exit`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Server:
    """Starts and stops the site on a host and port (0 picks a free port)."""

    def __init__(self, site: Site, host: str, port: int) -> None:
        self.site = site
        self.host = host
        self.port = port
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Bind (an OSError says why not) and serve; returns the port."""
        family = socket.getaddrinfo(self.host or None, self.port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
        listener = socket.create_server((self.host, self.port), family=family, backlog=2048)
        self.port = listener.getsockname()[1]
        config = uvicorn.Config(
            self.site, http=_Protocol, interface="asgi3", lifespan="off", log_config=None,
            access_log=False, proxy_headers=False, server_header=False,
            timeout_keep_alive=math.ceil(self.site.config.server.idle_timeout_seconds),
            timeout_graceful_shutdown=5)
        server = self._server = _Uvicorn(config)
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
