"""Store -> public/: Atom feeds (feedgen), JSON Feed 1.1, OPML and HTML pages (Jinja2).

The only writer of public/. Every file is written atomically (temp file, fsync, rename) and only
when its bytes change, so publishing twice with no change leaves every file (and its mtime)
as it was. Nothing depends on the build time: a feed's <updated> is its newest entry's.

Each feed document holds the `feeds.entries` most recently added articles, newest first. Older
ones stay reachable through RFC 5005 archive documents: pages of that many articles in the
order they were added, which never change once full (feeds/<slug>/archive-<n>.atom).
"""

from __future__ import annotations

import contextlib
import copy
import html
import itertools
import json
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from xml.etree import ElementTree

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds import __version__
from feeds.config import Config
from feeds.errors import PublishError
from feeds.models import Byline, Item
from feeds.render import environment
from feeds.store import Store
from feeds.workers import worker_pool

log = logging.getLogger(__name__)

ALL = "all"
_OWN_FOLDERS = ("articles", "feeds", "topics")
_OWN_SUFFIXES = (".html", ".atom", ".json")
_FEED_NAMESPACE = uuid.UUID("9a3c3b0e-2f7d-4d0e-8f55-7b2f6c1a4e90")
_HISTORY_NS = "http://purl.org/syndication/history/1.0"
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MAX_PAGE_DELAY = 2.0  # seconds a paused publish may leave topic pages and the front page


# --- feedgen extensions: what feedgen 1.0 cannot emit itself --------------------------------
class _EntryParts(BaseEntryExtension):  # type: ignore[misc]
    """An entry's author, categories and <link rel="related">, written straight into the
    entry: feedgen drops `rel` on entry links (lkiesow/python-feedgen#135), which turns them
    into duplicate alternates, and its per-call argument checks cost more than the rest of
    an entry (these values are built here, never taken from input unchecked)."""

    def __init__(self) -> None:
        self.author = ""
        self.categories: list[tuple[str, str, str]] = []  # (term, label, scheme)
        self.links: list[tuple[str, str]] = []

    def extend_atom(self, entry: Any) -> Any:
        etree.SubElement(etree.SubElement(entry, "author"), "name").text = self.author
        for term, label, scheme in self.categories:
            etree.SubElement(entry, "category", term=term, label=label, scheme=scheme)
        for href, title in self.links:
            etree.SubElement(entry, "link", rel="related", type="text/html", href=href,
                             title=title)
        return entry


class _BuiltOnce(FeedEntry):  # type: ignore[misc]
    """A feed entry whose Atom element is built once and copied into each feed that lists
    it: most entries of a feed are the same from one publish to the next."""

    def __init__(self) -> None:
        super().__init__()
        self._element: Any = None

    def atom_entry(self, extensions: bool = True) -> Any:
        if self._element is None:  # the first feed takes the element itself
            self._element = super().atom_entry(extensions)
            return self._element
        return copy.deepcopy(self._element)  # later ones a copy (it stays in the first)


class _ArchiveMarker(BaseExtension):  # type: ignore[misc]
    """<fh:archive/> marks an RFC 5005 archive document."""

    def extend_ns(self) -> dict[str, str]:
        return {"fh": _HISTORY_NS}

    def extend_atom(self, feed: Any) -> Any:
        feed.insert(0, etree.Element(f"{{{_HISTORY_NS}}}archive"))
        return feed


class _NoArchive(BaseExtension):  # type: ignore[misc]
    def extend_atom(self, feed: Any) -> Any:
        return feed


# --- writing ------------------------------------------------------------------------------
class _Staged:
    """Files written beside their places (temporary names), then committed together: made
    durable and renamed into place in the order staged, so a reader sees each file whole, old
    or new, and never a file whose data a crash lost. Writing and the fsync of each file run
    on several threads at once: the filesystem's journal takes the fsyncs in one commit, where
    one after another waited for the disk each time (a first publish of 5,000 articles spent
    2.8 of its 7.5 s there), and the thread that renders the next page does not wait for the
    last one's write (creating a file alone took 7 % of a backfill's main thread)."""

    def __init__(self, writer: ThreadPoolExecutor) -> None:
        self.writer = writer
        self.files: list[tuple[str, Path, Future[None]]] = []  # (temporary, place, its write)
        self._folders: set[Path] = set()
        self._names = itertools.count()  # temporary names: this stage's token and a number
        self._token = secrets.token_hex(6)

    def add(self, path: Path, data: bytes) -> bool:
        """Stage `data` for `path`, unless the file already holds exactly that."""
        try:
            if path.read_bytes() == data:
                return False
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise PublishError(f"cannot read {path}: {exc.strerror}") from None
        folder = path.parent
        if folder not in self._folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PublishError(f"cannot write {path}: {exc.strerror}",
                                   hint="check that the public folder is writable") from None
            self._folders.add(folder)
        tmp = str(folder / f".{path.name}.{self._token}{next(self._names)}.tmp")
        self.files.append((tmp, path, self.writer.submit(_write_durably, tmp, data)))
        return True

    def commit(self) -> None:
        """Wait until every staged file is durable, then put each in its place, in order."""
        for _tmp, path, write in self.files:
            try:
                write.result()
            except OSError as exc:
                self._failed(path, exc)
        for done, (tmp, path, _write) in enumerate(self.files):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                del self.files[:done]
                self._failed(path, exc)
        self.files = []

    def discard(self) -> None:
        """Remove what was staged and not committed (once its write has ended)."""
        files, self.files = self.files, []
        futures_wait([write for _tmp, _path, write in files])
        for tmp, _path, _write in files:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _failed(self, path: Path, exc: OSError) -> NoReturn:
        self.discard()
        raise PublishError(f"cannot write {path}: {exc.strerror}",
                           hint="check free space and permissions of the public folder; "
                                "the previous file is intact") from None


def _write_durably(tmp: str, data: bytes) -> None:
    """A new file holding `data`, on disk when this returns (mode 0644 whatever the umask)."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, 0o644)
        os.fsync(fd)
    finally:
        os.close(fd)


# --- what each page and feed shows ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FeedSpec:
    slug: str
    title: str
    description: str
    atom_url: str
    json_url: str
    page_url: str


@dataclass(slots=True)
class PublishReport:
    written: int = 0
    unchanged: int = 0
    removed: int = 0  # files a full publish no longer writes (see Publisher._prune)
    seconds: float = 0.0
    changed_feeds: list[str] = field(default_factory=list)  # Atom URLs whose bytes changed


@dataclass
class _Pending:
    """Pages a publish has still to write: these siblings' pages, these topics' pages (None:
    all of them), and always the front page."""
    siblings: set[str]
    topics: set[str] | None
    since: float = field(default_factory=time.monotonic)  # when they were first put off

    def merge(self, other: _Pending) -> _Pending:
        topics = None if self.topics is None or other.topics is None \
            else self.topics | other.topics
        return _Pending(self.siblings | other.siblings, topics, min(self.since, other.since))


class HubNotifier:
    """WebSub: tell the hub which feeds changed (hub.mode=publish), from a background thread,
    retrying with backoff; publishing never waits for the hub."""

    def __init__(self, hub: str, *, attempts: int = 4, backoff: float = 0.5) -> None:
        self.hub = hub
        self.attempts = attempts
        self.backoff = backoff
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="websub")

    def notify(self, urls: Sequence[str]) -> None:
        if urls:
            self._pool.submit(self._post, list(urls))

    def _post(self, urls: list[str]) -> None:
        import httpx  # only with a hub configured: every publish would pay for importing it

        pending, problems = list(urls), {}
        with httpx.Client(timeout=5) as client:
            for attempt in range(self.attempts):
                if attempt:
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                for url in list(pending):
                    try:
                        response = client.post(self.hub, data={"hub.mode": "publish",
                                                               "hub.url": url})
                    except httpx.HTTPError as exc:
                        problems[url] = str(exc) or type(exc).__name__
                        continue
                    if response.status_code < 300:
                        pending.remove(url)
                        log.info("websub ping hub=%s url=%s", self.hub, url)
                    else:
                        problems[url] = f"HTTP {response.status_code}"
                if not pending:
                    return
        for url in pending:
            log.warning("websub ping failed hub=%s url=%s error=%s", self.hub, url,
                        problems.get(url))

    def close(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


class Publisher:
    def __init__(self, config: Config, store: Store, *, helpers: int = 0) -> None:
        """`helpers`: worker processes that render article pages beside this one when a
        publish has many (a backfill, a full rebuild); only for the `feeds` command (see
        feeds.workers)."""
        self.config = config
        self.store = store
        self.base = config.site.base_url
        self.public = config.paths.public
        assert config.paths.templates is not None
        # Templates are checked for edits once per publish (one listing of their folder),
        # not by Jinja at each page, where each file a page extends or includes cost a stat
        # (17 % of a backfill's publish). An edit shows from the next publish on.
        self.templates = environment(config.paths.templates, auto_reload=False)
        self._template_stamps: dict[str, tuple[int, int]] = {}
        self.specs = self._specs()
        self.spec_of = {spec.slug: spec for spec in self.specs}
        self.hub = HubNotifier(config.websub.hub) if config.websub.hub else None
        self._content: dict[tuple[str, datetime], str] = {}
        # the Atom entries of the current feeds, built before; past twice what the feeds
        # hold, those no feed used in the last publish are dropped
        self._entries: dict[tuple[Any, ...], _BuiltOnce] = {}
        self._used: set[tuple[Any, ...]] = set()
        # the items of the last publishes, so the next one decodes only what changed
        self._seen: dict[str, Item] = {}
        self.topic_titles = {slug: t.title for slug, t in config.topics.items()}
        self._pending: _Pending | None = None  # pages a paused publish left
        # files are written staged, made durable and put in place together (see _Staged)
        self._writer = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="publish-write")
        self._files = _Staged(self._writer)
        self._versions: list[tuple[str, datetime]] = []  # article pages written, not recorded
        self._helper_count = helpers
        self._helpers: ProcessPoolExecutor | None = None  # started for the first big publish

    def close(self) -> None:
        """Wait for outstanding hub pings (they retry for a few seconds at most)."""
        if self.hub is not None:
            self.hub.close()
        self._writer.shutdown()
        if self._helpers is not None:
            self._helpers.shutdown(cancel_futures=True)

    def _specs(self) -> list[FeedSpec]:
        site = self.config.site
        specs = [FeedSpec(ALL, f"{site.title}: all topics", site.description,
                          f"{self.base}feeds/{ALL}.atom", f"{self.base}feeds/{ALL}.json",
                          f"{self.base}index.html")]
        for slug, topic in self.config.topics.items():
            specs.append(FeedSpec(slug, f"{site.title}: {topic.title}",
                                  topic.description or topic.title,
                                  f"{self.base}feeds/{slug}.atom",
                                  f"{self.base}feeds/{slug}.json",
                                  f"{self.base}topics/{slug}.html"))
        return specs

    def article_url(self, item_id: str) -> str:
        return f"{self.base}articles/{item_id}.html"

    # --- the run ------------------------------------------------------------------------
    def publish(self, changed: Iterable[str] | None = None,
                topics: Iterable[str] | None = None, *,
                pause: Callable[[], bool] | None = None) -> PublishReport:
        """Everything (changed=None), or what the changed article ids touch. `topics`, when
        known, limits the feeds rebuilt to those topics and "all" (new articles: the topics
        they are in; an edit may have left a topic, so edits pass None). Daemons sharing a
        database and public/ publish one at a time; each writes what the store holds, so
        the files are the same whoever writes them.

        `pause`: asked between the pages that come after the feeds (story siblings' pages,
        topic pages, the front page); when it says yes, they are left `pending` for the next
        publish or `finish()`, so a file that arrives meanwhile is not kept waiting for them.
        Article pages and feeds are always written in full."""
        self._reload_edited_templates()
        with self.store.exclusive("publish"), self._committed():
            return self._publish(changed, topics, pause)

    def forget(self) -> None:
        """Drop what earlier publishes built (entries, content, decoded items)."""
        self._content.clear()
        self._entries.clear()
        self._seen.clear()

    @property
    def pending(self) -> bool:
        """Pages a paused publish left to write."""
        return self._pending is not None

    def finish(self) -> PublishReport:
        """Write the pages a paused publish left."""
        report = PublishReport()
        with self.store.exclusive("publish"), self._committed():
            pages, self._pending = self._pending, None
            if pages is not None:
                self._write_pages(pages, {}, {}, report, None)
                log.info("publish of put-off pages finished written=%d unchanged=%d",
                         report.written, report.unchanged)
        return report

    def _publish(self, changed: Iterable[str] | None, topics: Iterable[str] | None,
                 pause: Callable[[], bool] | None) -> PublishReport:
        started, clock = datetime.now(UTC), time.perf_counter()
        report = PublishReport()
        changed_ids = None if changed is None else set(changed)
        wanted = None if topics is None or changed_ids is None else {ALL, *topics}
        owed, self._pending = self._pending, None
        if changed_ids is None:
            owed = None  # everything is written below
        if (changed_ids is not None and not changed_ids and owed is None
                and (self.public / "index.html").exists()):
            return report
        # listed before the store is read, so a file another daemon writes meanwhile is kept
        present = self._own_files() if changed_ids is None else None
        # article pages first: a feed never links to a page not written yet
        siblings = self._write_articles(changed_ids, report)
        current: dict[str, list[Item]] = {}
        titles: dict[str, Byline] = {}
        archives: list[_Job] = []
        for spec in self.specs:  # each feed goes out as soon as it is read ("all" first)
            if self._touched(spec, wanted, Path("feeds") / f"{spec.slug}.atom"):
                current[spec.slug] = self._feed_items(spec, titles)
                archives += self._write_feed(spec, current[spec.slug], report, changed_ids,
                                             titles)
        self._run_jobs(archives, report, SHARED_ARCHIVE_MIN)  # then the feeds' archive pages
        if len(self._entries) > 2 * len(self.specs) * self.config.feeds.entries:
            self._entries = {key: self._entries[key] for key in self._used
                             if key in self._entries}
        self._used = set()
        # Then the pages that list articles: they may wait for a file that is arriving.
        pages = _Pending(siblings, None if wanted is None else set(wanted))
        if owed is not None:
            pages = pages.merge(owed)
        self._write_pages(pages, current, titles, report, pause)
        self._files.commit()
        # after the feeds: recording which versions the pages show never delays them
        versions, self._versions = self._versions, []
        self.store.pages_written(versions)
        if present is not None:
            self._prune(present, report)
        if self.hub is not None:
            self.hub.notify(report.changed_feeds)
        report.seconds = time.perf_counter() - clock
        self.store.record_run("publish", started, datetime.now(UTC), True,
                              {"written": report.written, "unchanged": report.unchanged,
                               "seconds": round(report.seconds, 3)})
        log.info("publish finished written=%d unchanged=%d%s seconds=%.3f%s", report.written,
                 report.unchanged, f" removed={report.removed}" if report.removed else "",
                 report.seconds, " (pages pending)" if self.pending else "")
        return report

    def _own_files(self) -> list[Path]:
        """The files in public/ that publish writes and may remove: pages, feeds and archive
        pages under articles/, feeds/ and topics/ (not temporary files, not anything else)."""
        found = []
        for folder in _OWN_FOLDERS:
            for parent, _dirs, names in os.walk(self.public / folder):
                found += [Path(parent, name).relative_to(self.public) for name in names
                          if name.endswith(_OWN_SUFFIXES) and not name.startswith(".")]
        return found

    def _prune(self, present: Sequence[Path], report: PublishReport) -> None:
        """After a full publish, remove the files it did not write: the pages of articles no
        longer stored (a story dropped from its file), the feeds and pages of topics no longer
        configured, archive pages past the current count. `present` was listed before the
        store was read: a file written for an article committed meanwhile is not in it."""
        keep = {Path("articles") / f"{i}.html" for i in self.store.article_ids()}
        for spec in self.specs:
            keep |= {Path("feeds") / f"{spec.slug}.atom", Path("feeds") / f"{spec.slug}.json"}
            keep |= {self._archive_path(spec, page)
                     for page in range(1, self._full_pages(spec) + 1)}
            if spec.slug != ALL:
                keep.add(Path("topics") / f"{spec.slug}.html")
        for relative in present:
            if relative not in keep:
                with contextlib.suppress(FileNotFoundError):
                    (self.public / relative).unlink()
                    report.removed += 1
                with contextlib.suppress(OSError):  # a topic's archive folder, once empty
                    if relative.parent.parent == Path("feeds"):
                        (self.public / relative.parent).rmdir()

    def _full_pages(self, spec: FeedSpec) -> int:
        """The feed's archive pages: every full page of entries but the newest."""
        size = self.config.feeds.entries
        total = self.store.count_items(None if spec.slug == ALL else spec.slug)
        return total // size if total > size else 0

    def _feed_items(self, spec: FeedSpec, titles: dict[str, Byline]) -> list[Item]:
        """A feed's newest entries, newest first; their stories' other reports go in
        `titles`."""
        items = self._items(topic=None if spec.slug == ALL else spec.slug,
                            limit=self.config.feeds.entries, order="created")
        items.sort(key=lambda i: (i.published, i.updated, i.id), reverse=True)
        titles.update(self._related(items, known=titles))
        return items

    def _write_pages(self, pages: _Pending, current: dict[str, list[Item]],
                     titles: dict[str, Byline], report: PublishReport,
                     pause: Callable[[], bool] | None) -> None:
        """Siblings' pages (their "also reported by" lists), topic pages, the front page
        and the OPML list, asking `pause` before each; what is left stays pending."""
        def listed(spec: FeedSpec) -> list[Item]:
            if spec.slug not in current:
                current[spec.slug] = self._feed_items(spec, titles)
            return current[spec.slug]

        def paused() -> bool:
            # never put off for long: a steady stream of files must not starve these pages
            if (pause is not None and time.monotonic() - pages.since < MAX_PAGE_DELAY
                    and pause()):
                self._pending = pages
                return True
            return False

        if pages.siblings:
            if paused():
                return
            items = self._items(ids=pages.siblings)
            related = self._related(items)
            for item in items:
                if paused():
                    return
                self._render_article(item, related, report)
                pages.siblings.discard(item.id)
            pages.siblings.clear()  # the rest are no longer stored
        todo = [spec for spec in self.specs[1:]
                if self._touched(spec, pages.topics, Path("topics") / f"{spec.slug}.html")]
        pages.topics = {spec.slug for spec in todo}
        for spec in todo:
            if paused():
                return
            self._write(Path("topics") / f"{spec.slug}.html", self._page(
                "topic.html", topic=self._topic_view(spec, listed(spec), titles)), report)
            pages.topics.discard(spec.slug)
        for spec in self.specs[1:]:  # the front page lists every topic: read them first
            if spec.slug not in current:
                if paused():
                    return
                listed(spec)
        if paused():
            return
        self._write(Path("index.html"), self._page("index.html", topics=[
            self._topic_view(spec, listed(spec)[:5], titles) for spec in self.specs[1:]]),
            report)
        self._write(Path("feeds.opml"), self._opml(), report)

    def _touched(self, spec: FeedSpec, wanted: set[str] | None, output: Path) -> bool:
        """Rebuild this output? Yes when its topic is wanted, and whenever it does not exist."""
        return wanted is None or spec.slug in wanted or not (self.public / output).exists()

    @contextmanager
    def _committed(self) -> Iterator[None]:
        """What the block wrote is in place when it ends; nothing of it when it fails."""
        try:
            yield
            self._files.commit()
        finally:
            self._files.discard()

    def _write(self, relative: Path, data: bytes, report: PublishReport) -> bool:
        """Stage a file (put in place by the next commit, at the latest when the publish
        ends); False when it already holds `data`."""
        if self._files.add(self.public / relative, data):
            report.written += 1
            if len(self._files.files) >= MAX_STAGED:
                self._files.commit()
            return True
        report.unchanged += 1
        return False

    # --- feeds --------------------------------------------------------------------------
    def _write_feed(self, spec: FeedSpec, items: list[Item], report: PublishReport,
                    changed: set[str] | None, related: dict[str, Byline]) -> list[_Job]:
        """The feed (Atom and JSON), in place when this returns; the archive pages to write
        after it, as runs of consecutive pages."""
        full_pages = self._full_pages(spec)
        prev = self._archive_url(spec, full_pages) if full_pages else None
        if self._write(Path("feeds") / f"{spec.slug}.atom",
                       self.atom(spec, items, prev_archive=prev, related=related), report):
            report.changed_feeds.append(spec.atom_url)
        self._write(Path("feeds") / f"{spec.slug}.json", self.json_feed(spec, items), report)
        self._files.commit()  # the feed goes out now; its archive pages follow
        pages = set(range(1, full_pages + 1))
        if changed is not None:
            # A full page changes only when it is new or one of its articles was edited.
            folder = self.public / self._archive_path(spec, 1).parent
            try:  # one directory listing, not a stat per page
                present = set(os.listdir(folder))
            except FileNotFoundError:
                present = set()
            missing = {p for p in pages if self._archive_path(spec, p).name not in present}
            pages = missing | self._pages_holding(spec, changed, full_pages)
        return [_ArchivePages(spec.slug, first, count)
                for first, count in _runs(sorted(pages), ARCHIVE_READ_PAGES)]

    def _write_archive_run(self, spec: FeedSpec, first: int, count: int,
                           report: PublishReport) -> None:
        """Archive pages first .. first + count - 1 of a feed. Consecutive pages are read
        together: one OFFSET query per run, not per page, so a first publish of a big store
        is not quadratic in its size."""
        size = self.config.feeds.entries
        run = self._items(topic=None if spec.slug == ALL else spec.slug, limit=size * count,
                          offset=(first - 1) * size, order="created", oldest_first=True)
        for page in range(first, first + count):
            page_items = run[(page - first) * size:(page - first + 1) * size]
            page_items.reverse()
            self._write(self._archive_path(spec, page), self.atom(
                spec, page_items, archive_page=page,
                prev_archive=self._archive_url(spec, page - 1) if page > 1 else None),
                report)

    @staticmethod
    def _archive_path(spec: FeedSpec, page: int) -> Path:
        return Path("feeds") / spec.slug / f"archive-{page}.atom"

    def _pages_holding(self, spec: FeedSpec, changed: set[str], full_pages: int) -> set[int]:
        size = self.config.feeds.entries
        topic = None if spec.slug == ALL else spec.slug
        positions = self.store.positions(changed, topic=topic)
        return {pos // size + 1 for pos in positions.values() if pos // size + 1 <= full_pages}

    def _archive_url(self, spec: FeedSpec, page: int) -> str:
        return f"{self.base}feeds/{spec.slug}/archive-{page}.atom"

    def feed_id(self, spec: FeedSpec) -> str:
        return uuid.uuid5(_FEED_NAMESPACE, f"feed:{spec.slug}").urn

    def atom(self, spec: FeedSpec, items: Sequence[Item], *, prev_archive: str | None = None,
             archive_page: int | None = None, related: dict[str, Byline] | None = None) -> bytes:
        site = self.config.site
        fg = FeedGenerator()
        fg.register_extension("history", _ArchiveMarker if archive_page else _NoArchive,
                              _EntryParts, atom=True, rss=False)
        fg.id(self.feed_id(spec))
        fg.title(spec.title if archive_page is None else f"{spec.title} (archive {archive_page})")
        fg.subtitle(spec.description)
        fg.author({"name": site.author})
        fg.language(site.language)
        fg.generator("feeds", version=__version__)
        self_url = self._archive_url(spec, archive_page) if archive_page else spec.atom_url
        fg.link(href=self_url, rel="self", type="application/atom+xml")
        fg.link(href=spec.page_url, rel="alternate", type="text/html")
        if archive_page:
            fg.link(href=spec.atom_url, rel="current", type="application/atom+xml")
            # Always present, so a full page never changes; the newest page's link resolves
            # once the next page fills (readers walk back from the subscription document).
            fg.link(href=self._archive_url(spec, archive_page + 1), rel="next-archive",
                    type="application/atom+xml")
        if prev_archive:
            fg.link(href=prev_archive, rel="prev-archive", type="application/atom+xml")
        if self.config.websub.hub and not archive_page:
            fg.link(href=self.config.websub.hub, rel="hub")
        fg.updated(max((i.updated for i in items), default=_EPOCH))
        if related is None and archive_page is None:
            related = self._related(items)
        # feedgen prepends each new entry; add oldest first so the document is newest first.
        for item in reversed(items):
            if archive_page is not None:
                # A full archive page never changes unless one of its own articles is
                # edited, so its entries carry no story links: those grow as later reports
                # join (the article pages and the current feed show them). Archive pages are
                # seldom built twice: their entries are not kept.
                self._fill(fg.add_entry(), item, ())
                continue
            assert related is not None
            links = tuple((self.article_url(other), _link_text(related[other]))
                          for other in item.related if other in related)
            # everything the entry shows: the stored version, its topics, its story's links
            key = (item.id, item.updated, tuple(m.slug for m in item.topics), links)
            entry = self._entries.get(key)
            if entry is None:  # adding registers the feed's entry extension on it
                entry = self._entries[key] = self._fill(fg.add_entry(_BuiltOnce()), item, links)
            else:
                fg.add_entry(entry)  # keeps the extension it has
            self._used.add(key)
        document: bytes = fg.atom_str(pretty=True)
        return document

    def _fill(self, entry: FeedEntry, item: Item, links: Sequence[tuple[str, str]]) -> Any:
        """The entry (just added to a feed) filled in from the item."""
        entry.id(item.entry_id)
        entry.title(item.title)
        entry.published(item.published)
        entry.updated(item.updated)
        entry.link(href=self.article_url(item.id), rel="alternate", type="text/html")
        parts = entry.history
        parts.author = item.author or item.source or self.config.site.author
        parts.links.extend(links)
        parts.categories.extend(
            (match.slug, self.topic_titles[match.slug], f"{self.base}topics/")
            for match in item.topics if match.slug in self.topic_titles)
        entry.summary(item.summary or item.title)
        entry.content(self.content_html(item), type="html")
        return entry

    def content_html(self, item: Item) -> str:
        """The article as HTML for feeds. Built only from escaped plain text (articles are
        stored as text; their HTML, if any, was discarded at parse time), so nothing in it
        can be markup the author did not write as text. Cached per article version."""
        key = (item.id, item.updated)
        cached = self._content.get(key)
        if cached is not None:
            return cached
        parts = []
        if item.standfirst:
            parts.append(f"<p><em>{html.escape(item.standfirst, quote=False)}</em></p>")
        parts.extend(f"<figure><figcaption>{html.escape(c, quote=False)}</figcaption></figure>"
                     for c in item.captions)
        # Parsed text holds no NUL (articles.clean strips it), so NUL can stand for the
        # paragraph breaks while the whole body is escaped in one call, not one per paragraph.
        body = html.escape("\x00".join(item.body), quote=False)
        parts.append("<p>" + body.replace("\x00", "</p>\n<p>") + "</p>")
        content = "\n".join(parts)
        if len(self._content) > 5000:
            self._content.clear()
        self._content[key] = content
        return content

    def json_feed(self, spec: FeedSpec, items: Sequence[Item]) -> bytes:
        data = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": spec.title,
            "home_page_url": spec.page_url,
            "feed_url": spec.json_url,
            "description": spec.description,
            "language": self.config.site.language,
            "authors": [{"name": self.config.site.author}],
            "items": [{
                "id": item.entry_id,
                "url": self.article_url(item.id),
                "title": item.title,
                "summary": item.summary,
                "content_html": self.content_html(item),
                "date_published": item.published.isoformat(),
                "date_modified": item.updated.isoformat(),
                "authors": [{"name": item.author or item.source or self.config.site.author}],
                "tags": [self.topic_titles[m.slug] for m in item.topics
                         if m.slug in self.topic_titles],
            } for item in items],
        }
        return (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8")

    def _opml(self) -> bytes:
        opml = ElementTree.Element("opml", version="2.0")
        head = ElementTree.SubElement(opml, "head")
        ElementTree.SubElement(head, "title").text = f"{self.config.site.title} feeds"
        body = ElementTree.SubElement(opml, "body")
        for spec in self.specs:
            ElementTree.SubElement(body, "outline", type="rss", text=spec.title,
                                   title=spec.title, xmlUrl=spec.atom_url, htmlUrl=spec.page_url)
        ElementTree.indent(opml)
        text = ElementTree.tostring(opml, encoding="unicode")
        return f'<?xml version="1.0" encoding="UTF-8"?>\n{text}\n'.encode()

    # --- pages --------------------------------------------------------------------------
    def _page(self, template: str, **context: Any) -> bytes:
        values: dict[str, Any] = {
            "site": self.config.site, "feeds": self.specs,
            "topics": [self._topic_view(spec, [], {}) for spec in self.specs[1:]]}
        values.update(context)
        return self.templates.get_template(template).render(values).encode("utf-8")

    def _reload_edited_templates(self) -> None:
        folder = self.config.paths.templates
        assert folder is not None
        stamps = {}
        for parent, _dirs, names in os.walk(folder):
            for name in names:
                with contextlib.suppress(OSError):
                    st = os.stat(os.path.join(parent, name))
                    stamps[os.path.join(parent, name)] = (st.st_mtime_ns, st.st_size)
        if stamps != self._template_stamps:
            self._template_stamps = stamps
            if self.templates.cache is not None:
                self.templates.cache.clear()

    def _items(self, **query: Any) -> list[Item]:
        """Store.items, reusing the text of items read before that have not changed."""
        found = self.store.items(reuse=self._seen, **query)
        if len(self._seen) > 2000:
            self._seen.clear()
        self._seen.update((item.id, item) for item in found)
        return found

    def _related(self, items: Iterable[Item],
                 known: Mapping[str, Byline] | None = None) -> dict[str, Byline]:
        """The other reports of these items' stories (those not `known` already)."""
        wanted = {other for item in items for other in item.related} - set(known or ())
        return self.store.bylines(wanted)

    def _item_view(self, item: Item, others: dict[str, Byline]) -> dict[str, Any]:
        return {"url": self.article_url(item.id), "title": item.title, "summary": item.summary,
                "published": item.published, "by": _by(item),
                "others": [_link_text(others[o]) for o in item.related if o in others]}

    def _topic_view(self, spec: FeedSpec, items: Sequence[Item],
                    others: dict[str, Byline]) -> dict[str, Any]:
        return {"slug": spec.slug, "title": spec.title.split(": ", 1)[-1],
                "description": spec.description, "page_url": spec.page_url,
                "atom_url": spec.atom_url, "json_url": spec.json_url,
                "entries": [self._item_view(i, others) for i in items]}

    def _write_articles(self, changed: set[str] | None, report: PublishReport) -> set[str]:
        """The pages of the changed articles (all of them when None); returns the other
        reports whose pages list them (see Store.neighbours), rewritten after the feeds."""
        ids = sorted(self.store.article_ids() if changed is None else changed)
        self._run_jobs([_ArticlePages(tuple(ids[n:n + ARTICLES_PER_JOB]))
                        for n in range(0, len(ids), ARTICLES_PER_JOB)], report,
                       SHARED_ARTICLES_MIN)
        return set() if changed is None else self.store.neighbours(changed)

    def _render_articles(self, items: Sequence[Item], report: PublishReport) -> None:
        """Article pages, in place when this returns (before any feed links to them)."""
        related = self._related(items)
        for item in items:
            self._render_article(item, related, report)
        self._files.commit()
        self._versions += [(item.id, item.updated) for item in items]

    def _run_jobs(self, jobs: Sequence[_Job], report: PublishReport, share_from: int) -> None:
        """Pages, done here, or shared with the helper processes when there are helpers and
        the jobs hold `share_from` pages or more."""
        if self._helper_count and sum(job.pages for job in jobs) >= share_from:
            self._share(jobs, report)
            return
        for job in jobs:
            self._do(job, report)

    def _share(self, jobs: Sequence[_Job], report: PublishReport) -> None:
        """Jobs done here and in the helper processes at once: they take jobs from the end,
        this process from the start, and they meet between. Each commits its own files
        (durable, renamed in place) before this returns, so what follows (the feeds after the
        article pages) still comes after. A job a helper could not do (it died) is done here;
        a PublishError there (a full disk) is one here."""
        if self._helpers is None:
            self._helpers = worker_pool(self._helper_count)
        tasks = [self._helpers.submit(_do_elsewhere, self.config, job)
                 for job in reversed(jobs)][::-1]
        try:
            for job, task in zip(jobs, tasks, strict=True):
                if task.cancel():  # no helper has taken it yet
                    self._do(job, report)
            self._files.commit()
            for job, task in zip(jobs, tasks, strict=True):
                if task.cancelled():
                    continue
                try:
                    written, unchanged, versions = task.result()
                except PublishError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the job is done here instead
                    log.warning("a publish helper failed, doing its job here error=%r", exc)
                    self._do(job, report)
                    continue
                report.written += written
                report.unchanged += unchanged
                self._versions += versions
            log.debug("publish jobs shared jobs=%d by_helpers=%d",
                      len(jobs), sum(not t.cancelled() for t in tasks))
        finally:  # nothing is left writing once the publish is over
            for task in tasks:
                task.cancel()
            futures_wait(tasks)

    def _do(self, job: _Job, report: PublishReport) -> None:
        if isinstance(job, _ArticlePages):
            self._render_articles(self._items(ids=set(job.ids)), report)
        else:
            self._write_archive_run(self.spec_of[job.slug], job.first, job.pages, report)

    def _render_article(self, item: Item, related: Mapping[str, Byline],
                        report: PublishReport) -> None:
        view = {
            "url": self.article_url(item.id), "title": item.title,
            "standfirst": item.standfirst, "published": item.published, "by": _by(item),
            "dateline": item.dateline, "summary": item.summary, "captions": item.captions,
            "body": item.body, "original_url": item.url if _is_http(item.url) else None,
            "topics": [self._topic_view(self.spec_of[m.slug], [], {}) for m in item.topics
                       if m.slug in self.spec_of],
            "related": [{"url": self.article_url(o), "title": related[o].title,
                         "by": _by(related[o])} for o in item.related if o in related],
        }
        self._write(Path("articles") / f"{item.id}.html",
                    self._page("article.html", article=view), report)


WRITE_THREADS = 8  # staged files written and fsynced at once (see _Staged)
MAX_STAGED = 256  # files staged before a commit, at most
ARCHIVE_READ_PAGES = 20  # archive pages read with one query (memory: 20 x feeds.entries items)
SHARED_ARTICLES_MIN = 1000  # article pages a publish shares with its helpers, at least
ARTICLES_PER_JOB = 250
SHARED_ARCHIVE_MIN = 40  # archive pages a publish shares with its helpers, at least


@dataclass(frozen=True, slots=True)
class _ArticlePages:
    """A job of a publish: these articles' pages."""
    ids: tuple[str, ...]

    @property
    def pages(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class _ArchivePages:
    """A job of a publish: a feed's archive pages `first` to `first + pages - 1`."""
    slug: str
    first: int
    pages: int


_Job = _ArticlePages | _ArchivePages


def _do_elsewhere(config: Config, job: _Job) -> tuple[int, int, list[tuple[str, datetime]]]:
    """In a helper process: one job of a big publish, its files durable and in place when
    it returns; how many were written and unchanged, and the article versions written."""
    store = Store.open(config.database_url, migrate=False,
                       busy_timeout=config.store.busy_timeout_seconds)
    try:
        publisher = Publisher(config, store)
        try:
            report = PublishReport()
            with publisher._committed():
                publisher._do(job, report)
            return report.written, report.unchanged, publisher._versions
        finally:
            publisher.close()
    finally:
        store.close()


def _runs(pages: Sequence[int], longest: int) -> Iterator[tuple[int, int]]:
    """Sorted page numbers as (first, count) runs of consecutive pages, at most `longest`."""
    index = 0
    while index < len(pages):
        count = 1
        while (index + count < len(pages) and count < longest
               and pages[index + count] == pages[index] + count):
            count += 1
        yield pages[index], count
        index += count


def _link_text(other: Byline) -> str:
    """How a link to another report of the story reads: who wrote it, else its title."""
    return _by(other) or other.title


def _by(item: Item | Byline) -> str:
    if item.author and item.source:
        return f"{item.author}, {item.source}"
    return item.author or item.source or ""


def _is_http(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("http://", "https://"))
