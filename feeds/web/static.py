"""public/ served from memory with the caching feed readers rely on.

A request for a file costs one dictionary look-up, one stat() per file for all the requests one
pass of the event loop reads, and headers built once per file version. One helper (`respond`)
owns validators and compression: a strong ETag and a Last-Modified that change together
(publish rewrites a file only when its bytes change), 304 for a matching If-None-Match or
If-Modified-Since, gzip when the client accepts it (with Vary), HEAD, and a short
Cache-Control. A publish is visible at once. No request can name a path outside public/.

An address with no file whose notice publish wrote under gone/ (a retracted article, a removed
topic's page, feeds and archive pages) answers 410 Gone with that notice: the resource was
removed on purpose, so search engines and feed readers drop it instead of retrying a 404.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import posixpath
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from starlette.types import Scope

from feeds.urls import gone_notice_for

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
GZIP_LEVEL = 3  # see PublicFiles._read
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
    changed, or that was let go) is resolved and read. A new version of a file held can also
    be handed over by the publisher that wrote it (see HandOver), so the reader polling for it
    does not wait for its reading, compression and hash."""

    def __init__(self, root: Path, max_age: int = 0, limit: int = 64 << 20) -> None:
        self.root = root.resolve()
        self.max_age = max_age
        self.limit = limit
        self.held = 0  # bytes of the bodies held
        self._by_url: OrderedDict[str, Resource] = OrderedDict()  # canonical URL path -> file
        self._checked: dict[str, int] = {}  # URL path -> the tick its file was last stat()ed
        self.reads = 0  # files read from disk by requests
        self.handed = 0  # new versions the publisher handed over (see HandOver)
        self._generation = 0  # moved on when the headers change: a hand-over built before is old

    def set_max_age(self, max_age: int, limit: int | None = None) -> None:
        """A reloaded config: headers are built again with the new max-age."""
        if max_age != self.max_age or (limit is not None and limit != self.limit):
            self.max_age = max_age
            self.limit = self.limit if limit is None else limit
            self._by_url, self.held = OrderedDict(), 0
            self._checked.clear()
            self._generation += 1

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

    def holds(self, url_path: str) -> bool:
        """Whether a version of this (canonical) path is held. Asked from the publisher's
        thread: a dictionary look-up, whose answer can only be a moment old."""
        return url_path in self._by_url

    def prepare(self, url_path: str, body: bytes) -> tuple[int, str, Resource] | None:
        """A held path's new version, its file just put in place with these bytes: built on
        the caller's thread (the publisher's), to be `install`ed on the server's. None when
        the file in place is not those bytes (gone, or another size)."""
        path = self.root.joinpath(*url_path.lstrip("/").split("/"))
        try:
            st = os.stat(path)
        except OSError:
            return None
        if st.st_size != len(body):
            return None
        return self._generation, url_path, self._resource(path, st, body)

    def install(self, generation: int, url_path: str, resource: Resource) -> None:
        """Hold a version `prepare` built (on the server's thread), unless the headers have
        changed since; the next request still checks the file's stat() against it."""
        if generation != self._generation:
            return
        self._keep(url_path, resource)
        self.handed += 1

    def _read(self, path: Path) -> Resource | None:
        try:
            st = path.stat()
        except OSError:
            return None
        try:
            body = path.read_bytes()
        except OSError:
            return None
        self.reads += 1
        return self._resource(path, st, body)

    def _resource(self, path: Path, st: os.stat_result, body: bytes) -> Resource:
        stamp = _stamp_of(st)
        suffix = path.suffix.lower()
        gzipped = None
        if suffix in _COMPRESSIBLE and len(body) > 256:
            # compressed by the request that finds the file changed, which a reader polling
            # for a new entry waits for: level 3 takes a third of level 6's time on a 300 KB
            # feed, for about a fifth more bytes
            packed = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
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


class StaticResponder:
    """Answers GET and HEAD for public/ from a `PublicFiles`, sharing a stat() per file among
    the requests of one pass of the event loop."""

    def __init__(self, files: PublicFiles) -> None:
        self.files = files
        self._tick = 0
        self._ticking = False

    def answer(self, scope: Scope) -> tuple[int, Headers, bytes]:
        if scope["method"] not in ("GET", "HEAD"):
            return 405, _NOT_ALLOWED_HEADERS, b""
        tick = self._current_tick()
        resource = self.files.get(scope["path"], tick)
        status = 200
        if resource is None:
            notice = gone_notice_for(scope["path"])
            resource = None if notice is None else self.files.get(notice, tick)
            if resource is None:
                return 404, _NOT_FOUND_HEADERS, NOT_FOUND
            status = 410
        accept_encoding, if_none_match, if_modified_since = "", None, None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"accept-encoding":
                accept_encoding = value.decode("latin-1")
            elif name == b"if-modified-since":
                if_modified_since = value.decode("latin-1")
        if status == 410:  # preconditions apply to a 2xx answer only (RFC 9110 13.2.1)
            return (410, *respond(resource, accept_encoding, None, None)[1:])
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


class HandOver:
    """The publisher's new versions of files the server holds, handed to it as they are put
    in place (`feeds run`, where both live in one process): a reader polling a feed for a new
    entry then gets it without waiting for the server to read, compress and hash the file
    while the publisher goes on with the next ones. Built on the publisher's thread, held on
    the server's (through its event loop). Until `attach`, and for files no reader asked for
    (a backfill's pages), nothing is handed over."""

    def __init__(self) -> None:
        self._files: PublicFiles | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, files: PublicFiles, loop: asyncio.AbstractEventLoop) -> None:
        self._files, self._loop = files, loop

    def wants(self, relative: Path) -> bool:
        """Whether the server holds this file (a path under public/)."""
        files = self._files
        return files is not None and files.holds("/" + relative.as_posix())

    def committed(self, written: dict[Path, bytes]) -> None:
        """These files (path under public/ -> bytes) are in place: hand them over."""
        files, loop = self._files, self._loop
        if files is None or loop is None:
            return
        for relative, body in written.items():
            prepared = files.prepare("/" + relative.as_posix(), body)
            if prepared is None:
                continue
            try:
                loop.call_soon_threadsafe(files.install, *prepared)
            except RuntimeError:  # the loop has closed: the daemon is stopping
                return
