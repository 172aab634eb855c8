"""HTTP: public/ from memory with the caching feed readers rely on, plus /healthz and /metrics.

One helper (`respond`) owns validators and compression: a strong ETag and a Last-Modified that
change together (publish rewrites a file only when its bytes change), 304 for a matching
If-None-Match or If-Modified-Since, gzip when the client accepts it (with Vary), HEAD, and a short
Cache-Control. Files are held in memory and revalidated with one stat() per request, so a
publish is visible at once. No request can name a path outside public/.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import os
import posixpath
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

from aiohttp import web

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


@dataclass(frozen=True, slots=True)
class Resource:
    body: bytes
    gzipped: bytes | None
    etag: str
    last_modified: datetime
    content_type: str
    stamp: tuple[int, int, int]  # (mtime_ns, size, inode): the file this was read from
    path: str
    headers: dict[str, str]  # the validators and caching headers of the identity body
    gzip_headers: dict[str, str] | None  # the same for the gzipped body


def _stamp_of(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_mtime_ns, st.st_size, st.st_ino


class PublicFiles:
    """public/ held in memory; a changed file (new stat) is read again on its next request.

    A request for a path already served costs one dictionary look-up and one stat(); only a
    path not seen before (or whose file changed) is resolved and read again."""

    def __init__(self, root: Path, max_age: int = 0) -> None:
        self.root = root.resolve()
        self.max_age = max_age
        self._cache: dict[str, Resource] = {}  # by file path
        self._by_url: dict[str, Resource] = {}  # by canonical URL path: the fast path

    def set_max_age(self, max_age: int) -> None:
        """A reloaded config: headers are built again with the new max-age."""
        if max_age != self.max_age:
            self.max_age = max_age
            self._cache, self._by_url = {}, {}

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

    def get(self, url_path: str) -> Resource | None:
        known = self._by_url.get(url_path)
        if known is not None:
            try:
                if _stamp_of(os.stat(known.path)) == known.stamp:
                    return known
            except OSError:
                pass
            self._by_url.pop(url_path, None)  # gone or changed: resolve it again
        located = self._locate(url_path)
        if located is None:
            return None
        path, canonical = located
        resource = self._read(path)
        if resource is not None and canonical:  # other spellings of a path are not kept
            self._by_url[url_path] = resource
        return resource

    def _read(self, path: Path) -> Resource | None:
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = _stamp_of(st)
        key = str(path)
        cached = self._cache.get(key)
        if cached is not None and cached.stamp == stamp:
            return cached
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
        headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True),
                   "Cache-Control": f"public, max-age={self.max_age}"}
        gzip_headers = None
        if gzipped is not None:
            headers["Vary"] = "Accept-Encoding"
            gzip_headers = {**headers, "ETag": f'"{etag.strip(chr(34))}-gzip"'}
        resource = Resource(body, gzipped, etag, modified,
                            CONTENT_TYPES.get(suffix, "application/octet-stream"), stamp, key,
                            headers, gzip_headers)
        self._cache[key] = resource
        return resource


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


def respond(request: web.Request, resource: Resource) -> web.Response:
    """The one place that decides validators, 304s and compression."""
    use_gzip = resource.gzip_headers is not None and _accepts_gzip(
        request.headers.get("Accept-Encoding", ""))
    headers = resource.gzip_headers if use_gzip else resource.headers
    assert headers is not None
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        not_modified = _etag_matches(if_none_match, resource.etag)
    else:
        not_modified = False
        since = request.headers.get("If-Modified-Since")
        if since:
            try:
                when = parsedate_to_datetime(since)
                not_modified = when.tzinfo is not None and resource.last_modified <= when
            except (TypeError, ValueError):
                not_modified = False
    if not_modified:
        return web.Response(status=304, headers=headers)
    if use_gzip:
        assert resource.gzipped is not None
        return web.Response(body=resource.gzipped, headers={
            **headers, "Content-Encoding": "gzip", "Content-Type": resource.content_type})
    return web.Response(body=resource.body,
                        headers={**headers, "Content-Type": resource.content_type})


class Site:
    """The aiohttp application: public files, health and metrics."""

    def __init__(self, config: Config, store: Store, secret: bytes | None = None) -> None:
        self.config = config
        self.store = store
        self.secret = secret
        self.files = PublicFiles(config.paths.public, config.server.max_age_seconds)
        self.requests: Counter[int] = Counter()
        self.started = time.time()
        assert config.paths.templates is not None
        self.templates = environment(config.paths.templates)

    def reconfigure(self, config: Config) -> None:
        """A reloaded config (SIGHUP): its max-age applies at once, also to files held."""
        self.config = config
        self.files.set_max_age(config.server.max_age_seconds)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024, middlewares=[self._count])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        if self.secret is not None:
            app.router.add_get("/unsubscribe/{token}", self.unsubscribe_page)
            app.router.add_post("/unsubscribe/{token}", self.unsubscribe)
        app.router.add_get("/{path:.*}", self.static)
        return app

    @web.middleware
    async def _count(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self.requests[exc.status] += 1
            raise
        self.requests[response.status] += 1
        return response

    async def static(self, request: web.Request) -> web.Response:
        resource = self.files.get(request.path)
        if resource is None:
            return web.Response(status=404, body=NOT_FOUND,
                                content_type="text/html", charset="utf-8")
        return respond(request, resource)

    # --- unsubscribe (RFC 8058 one-click, plus a page with per-topic choices) ----------------
    def _page(self, status: int, heading: str, message: str, **form: Any) -> web.Response:
        html = self.templates.get_template("unsubscribe.html").render(
            site=self.config.site, heading=heading, message=message, form=bool(form), **form)
        return web.Response(status=status, text=html, content_type="text/html",
                            charset="utf-8", headers={"Cache-Control": "no-store"})

    def _invalid(self) -> web.Response:
        return self._page(400, "This link is not valid",
                          "The unsubscribe link is incomplete or was altered. Use the link "
                          "from your most recent digest.")

    async def unsubscribe_page(self, request: web.Request) -> web.Response:
        assert self.secret is not None
        email = verify(self.secret, request.match_info["token"])
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
                          email=email, topics=topics, action=request.path)

    async def unsubscribe(self, request: web.Request) -> web.Response:
        assert self.secret is not None
        email = verify(self.secret, request.match_info["token"])
        if email is None:
            return self._invalid()
        try:
            async with asyncio.timeout(self.config.server.body_timeout_seconds):
                form = await request.post()
        except TimeoutError:
            return self._page(408, "Request timed out",
                              "The form took too long to arrive. Please try again.")
        loop = asyncio.get_running_loop()
        subscriber = await loop.run_in_executor(None, self.store.subscriber, email)
        if subscriber is None:
            return self._invalid()
        chosen = [str(t) for t in form.getall("topics", []) if str(t) in self.config.topics]
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

    async def healthz(self, request: web.Request) -> web.Response:
        healthy, data = await asyncio.get_running_loop().run_in_executor(None, self._health)
        return web.json_response(data, status=200 if healthy else 503,
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
        lines += ["# HELP feeds_http_responses_total HTTP responses by status code.",
                  "# TYPE feeds_http_responses_total counter"]
        lines += [f'feeds_http_responses_total{{code="{code}"}} {n}'
                  for code, n in sorted(self.requests.items())]
        return "\n".join(lines) + "\n"

    async def metrics(self, request: web.Request) -> web.Response:
        text = await asyncio.get_running_loop().run_in_executor(None, self._metrics)
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"Cache-Control": "no-store"})


def _stamp(run: dict[str, Any] | None) -> str | None:
    return run["finished"].isoformat() if run else None


class Server:
    """Starts and stops the site on a host and port (0 picks a free port)."""

    def __init__(self, site: Site, host: str, port: int) -> None:
        self.site = site
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        # aiohttp's keep-alive timer also runs while request headers are still arriving, so
        # it bounds slow ("slowloris") clients as well as idle ones
        idle = self.site.config.server.idle_timeout_seconds
        self._runner = web.AppRunner(self.site.app(), access_log=None, handle_signals=False,
                                     keepalive_timeout=idle)
        await self._runner.setup()
        tcp = web.TCPSite(self._runner, self.host, self.port, reuse_address=True,
                          shutdown_timeout=5.0)
        await tcp.start()
        sockets = getattr(tcp._server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"
