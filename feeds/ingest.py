"""File -> parse -> summarize -> classify -> group -> store, for one file or a whole inbox.

Input files are only ever read. A file is read when its size or mtime changed since the last
run, and its bytes are hashed: the same bytes under another name are recorded as a duplicate,
the same bytes under the same name change nothing. A file that fails is recorded with the
reason and read again once it changes. Work is done in batches, one transaction each.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feeds.articles import is_candidate, parse_file
from feeds.articles.text import make_title
from feeds.config import Config
from feeds.errors import ParseError
from feeds.models import Article, Item, TopicMatch, article_id, article_key, entry_id
from feeds.store import ArticleDraft, Claims, SavedArticle, Store
from feeds.stories import choose_story, retrieval_terms, signature
from feeds.summarize import LLMSummarizer, extractive_summary
from feeds.topics import Rules, classify, compile_rules, explain, named_by_author
from feeds.workers import spare_cpus, worker_pool

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def received(mtime_ns: int) -> datetime:
    """When a file arrived: its mtime, the date an undated article is given."""
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC)


class Pipeline:
    """The pure stages, configured once: summarizer, topic rules, story signature."""

    def __init__(self, config: Config, *, http: httpx.Client | None = None) -> None:
        self.config = config
        self.rules: dict[str, Rules] = compile_rules(config.topics)
        self._http = http
        self._llm: LLMSummarizer | None = None
        if config.summarizer.method == "llm":
            llm = config.summarizer.llm
            import httpx  # only with method = "llm": every ingest would pay for importing it
            self._http = http or httpx.Client()
            self._llm = LLMSummarizer(self._http, url=llm.url, model=llm.model,
                                      api_key=os.environ.get(llm.api_key_env, ""),
                                      timeout=llm.timeout_seconds)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def summarize(self, article: Article) -> str:
        limits = self.config.summarizer
        if self._llm is not None:
            return self._llm(article, max_words=limits.max_words,
                             max_sentences=limits.max_sentences)
        return extractive_summary(article, max_words=limits.max_words,
                                  max_sentences=limits.max_sentences)

    def classify(self, article: Article) -> list[TopicMatch]:
        return classify(article, self.rules)

    def explain_topics(self, article: Article) -> list[TopicMatch]:
        return explain(article, self.rules)


@dataclass(slots=True)
class IngestReport:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    files_read: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)  # article ids new or updated
    # articles a file no longer holds (a story dropped, the file now a copy of another): they
    # leave the feeds and shift the archive pages after them, so a full publish follows
    removed: int = 0
    # The topics of the new articles; None once an article was edited (it may have left one).
    topics: set[str] | None = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {"new": self.new, "updated": self.updated, "unchanged": self.unchanged,
                "files_read": self.files_read, "failed": len(self.failed),
                "duplicates": len(self.duplicates), "deferred": len(self.deferred),
                "removed": self.removed}


@dataclass(frozen=True, slots=True)
class _Read:
    path: Path
    rel: str
    size: int
    mtime_ns: int
    data: bytes | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class _Parsed:
    read: _Read
    sha256: str
    drafts: tuple[ArticleDraft, ...] = ()
    reason: str | None = None


def _in_time_order(entry: _Parsed | _Read) -> tuple[int, int, str]:
    """A batch's files are stored, and their articles grouped into stories, in the order
    their stories came out: by the earliest date among a file's articles (its mtime when it
    gives none), then by mtime and name. Grouping is incremental and a story's first reports
    decide which later ones join it, so a backfill groups as a daemon running at the time would
    have, whatever the files are called."""
    read = entry.read if isinstance(entry, _Parsed) else entry
    dates = ([d.published for d in entry.drafts if d.published is not None]
             if isinstance(entry, _Parsed) else [])
    when = int(min(dates).timestamp() * 1e9) if dates else read.mtime_ns
    return when, read.mtime_ns, read.rel


def relative_name(path: Path, inbox: Path) -> str:
    """A file's identity: inbox-relative with forward slashes (absolute when outside)."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(inbox).as_posix()
    except ValueError:
        return absolute.as_posix()


def scan(inbox: Path) -> Iterator[Path]:
    """Every candidate file under the inbox, in a stable order; hidden folders are skipped."""
    for root, dirs, names in os.walk(inbox, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if is_candidate(name):
                yield Path(root) / name


def _outside(path: Path, inbox: Path) -> bool:
    try:
        path.resolve().relative_to(inbox.resolve())
    except ValueError:
        return True
    return False


def drafts_for(pipeline: Pipeline, rel: str, articles: Sequence[Article]
               ) -> tuple[ArticleDraft, ...]:
    """What the stages make of a file's articles, ready to store."""
    drafts = []
    for index, article in enumerate(articles):
        key = article_key(rel, index)
        summary = pipeline.summarize(article)
        topics = tuple(pipeline.classify(article))
        content = json.dumps([article.title, article.body, article.author, article.source,
                              article.dateline, article.standfirst, article.url,
                              article.captions, article.published and
                              article.published.isoformat(), summary,
                              [(t.slug, t.score) for t in topics]], ensure_ascii=False)
        drafts.append(ArticleDraft(
            id=article_id(key), key=key, path=rel, idx=index, entry_id=entry_id(key),
            title=article.title, author=article.author, source=article.source,
            dateline=article.dateline, standfirst=article.standfirst, url=article.url,
            body=article.body, captions=article.captions, summary=summary,
            content_hash=hashlib.sha256(content.encode("utf-8")).hexdigest(),
            published=article.published, topics=topics,
            terms=tuple(signature(article).items()),
        ))
    return tuple(drafts)


def parse_reads(pipeline: Pipeline, reads: Sequence[_Read]) -> list[_Parsed | _Read]:
    """Parse what was read; a file that could not be read stays as it is. The bytes are
    not kept: from here on only the file's name, size and hash are needed."""
    out: list[_Parsed | _Read] = []
    for read in reads:
        if read.data is None:
            out.append(read)
            continue
        sha = hashlib.sha256(read.data).hexdigest()
        try:
            articles = parse_file(read.rel, read.data, received(read.mtime_ns))
        except ParseError as exc:
            out.append(_Parsed(replace(read, data=None), sha, reason=exc.reason))
            continue
        except Exception as exc:  # a parser bug must not stop the run; record it
            log.exception("parser crashed path=%s", read.rel)
            out.append(_Parsed(replace(read, data=None), sha,
                               reason=f"internal parser error: {type(exc).__name__}"))
            continue
        out.append(_Parsed(replace(read, data=None), sha,
                           drafts=drafts_for(pipeline, read.rel, articles)))
    return out


def _parse_elsewhere(config: Config, reads: Sequence[_Read]) -> list[_Parsed | _Read]:
    """parse_reads in a worker process, with a pipeline of its own."""
    pipeline = Pipeline(config)
    try:
        return parse_reads(pipeline, reads)
    finally:
        pipeline.close()


class _Parsers:
    """Where batches are parsed: here, or in worker processes while this process stores the
    batch before (a backfill, on a machine with a CPU to spare). Either way the batches are
    stored in the same order, so the stories come out the same. (Workers: see feeds.workers.)"""

    CHUNK = 50  # files per task: a batch is shared by the workers

    def __init__(self, config: Config, pipeline: Pipeline, workers: int) -> None:
        self.config = config
        self.pipeline = pipeline
        self._pool = worker_pool(workers) if workers else None
        if workers:
            log.info("parsing in worker processes count=%d", workers)

    @property
    def ahead(self) -> int:
        """Batches parsed ahead of the one being stored."""
        return 0 if self._pool is None else 1

    def submit(self, reads: list[_Read]) -> Callable[[], list[_Parsed | _Read]]:
        """Start parsing; the returned call gives the result (waiting for it)."""
        if self._pool is None:
            done = parse_reads(self.pipeline, reads)
            return lambda: done
        tasks = [self._pool.submit(_parse_elsewhere, self.config, reads[n:n + self.CHUNK])
                 for n in range(0, len(reads), self.CHUNK)]
        return lambda: [parsed for task in tasks for parsed in task.result()]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


class Ingestor:
    def __init__(self, config: Config, store: Store, pipeline: Pipeline, *,
                 clock: Clock = utcnow, workers_allowed: bool = False) -> None:
        """`workers_allowed`: a big run may parse in worker processes (ingest.processes);
        only for a caller whose main module can be imported again (the `feeds` command)."""
        self.config = config
        self.store = store
        self.pipeline = pipeline
        self.clock = clock
        self.workers_allowed = workers_allowed

    # --- reading ------------------------------------------------------------------------
    def _read(self, path: Path, rel: str) -> _Read:
        limits = self.config.ingest
        try:
            if path.is_symlink() and not limits.follow_symlinks and _outside(
                    path, self.config.paths.inbox):
                st = path.lstat()
                return _Read(path, rel, st.st_size, st.st_mtime_ns, reason=(
                    "symlink to a file outside the inbox; not followed "
                    "(set ingest.follow_symlinks = true to read it)"))
            before = path.stat()
            if before.st_size > limits.max_bytes:
                return _Read(path, rel, before.st_size, before.st_mtime_ns, reason=(
                    f"too large: {before.st_size:,} bytes, the limit is "
                    f"{limits.max_bytes:,} (ingest.max_bytes)"))
            data = path.read_bytes()
            after = path.stat()
        except FileNotFoundError:
            return _Read(path, rel, 0, 0, reason="vanished")
        except IsADirectoryError:
            return _Read(path, rel, 0, 0, reason="vanished")
        except OSError as exc:
            return _Read(path, rel, 0, 0, reason=f"cannot read: {exc.strerror or exc}")
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) \
                or len(data) != after.st_size:
            return _Read(path, rel, after.st_size, after.st_mtime_ns, reason="unsettled")
        return _Read(path, rel, after.st_size, after.st_mtime_ns, data=data)

    def _settled(self, reads: list[_Read], settle: float) -> list[_Read]:
        """A file modified moments ago may still be growing: wait once, then re-check all."""
        fresh_after = time.time_ns() - int(settle * 1e9)
        if settle <= 0 or not any(r.data is not None and r.mtime_ns > fresh_after for r in reads):
            return reads
        time.sleep(settle)
        out = []
        for read in reads:
            if read.data is not None and read.mtime_ns > fresh_after:
                try:
                    st = read.path.stat()
                except OSError:
                    out.append(_Read(read.path, read.rel, 0, 0, reason="vanished"))
                    continue
                if (st.st_size, st.st_mtime_ns) != (read.size, read.mtime_ns):
                    out.append(_Read(read.path, read.rel, st.st_size, st.st_mtime_ns,
                                     reason="unsettled"))
                    continue
            out.append(read)
        return out

    # --- the run ------------------------------------------------------------------------
    def run(self, paths: Iterable[Path] | None = None, *,
            progress: Callable[[int], None] | None = None,
            settle: float | None = None,
            stop: Callable[[], bool] | None = None) -> IngestReport:
        """Ingest the inbox (or just `paths`); returns what happened.

        `settle` overrides ingest.settle_seconds: the watcher passes 0 for files whose writer
        has closed them or renamed them into place, which are complete by definition.
        `stop` is asked between batches: once it says so, the batches not stored yet are
        left for a later run (their files are untouched and unrecorded).
        """
        settle = self.config.ingest.settle_seconds if settle is None else settle
        started = self.clock()
        inbox = self.config.paths.inbox
        chosen = [(path, relative_name(path, inbox)) for path in (
            scan(inbox) if paths is None else map(Path, paths))]
        # a few paths (the watcher's case) read only their own records, not the whole table
        known = self.store.file_records(
            None if paths is None or len(chosen) > 500 else [rel for _, rel in chosen])
        report = IngestReport()
        todo: list[tuple[int, str, Path]] = []
        for path, rel in chosen:
            try:
                st = path.lstat() if path.is_symlink() else path.stat()
            except OSError:
                continue
            if not (path.is_file() or path.is_symlink()):
                continue
            record = known.get(rel)
            if record is not None and (record.size, record.mtime_ns) == (st.st_size,
                                                                         st.st_mtime_ns):
                report.unchanged += record.articles
                if progress:
                    progress(1)
                continue
            todo.append((st.st_mtime_ns, rel, path))
        # oldest first: a backfill meets its stories in about the order they came, as a
        # running daemon would have (grouping is incremental; see _in_time_order)
        todo.sort()
        size = self.config.ingest.batch_size
        batches = [[(path, rel) for _mtime, rel, path in todo[start:start + size]]
                   for start in range(0, len(todo), size)]
        parsers = _Parsers(self.config, self.pipeline, self._workers(len(batches)))
        # Another daemon sharing the inbox may be reading some of these already: a batch's
        # claims last until it is stored. With workers, the next batch is being parsed
        # while one is stored.
        ahead: deque[tuple[int, set[str], Callable[[], list[_Parsed | _Read]]]] = deque()
        try:
            with self.store.claims() as claims:
                for number, batch in enumerate(batches):
                    if stop is not None and stop():
                        log.info("ingest stopping; files left for the next run count=%d",
                                 sum(len(b) for b in batches[number:]))
                        break
                    mine = self.store.claim_files(claims, [rel for _, rel in batch])
                    if len(mine) < len(batch):
                        log.debug("files another daemon is reading count=%d",
                                  len(batch) - len(mine))
                    reads = self._settled([self._read(path, rel) for path, rel in batch
                                           if rel in mine], settle)
                    ahead.append((len(batch), mine, parsers.submit(reads)))
                    while len(ahead) > parsers.ahead:
                        self._store_batch(claims, *ahead.popleft(), report, progress)
                while ahead:
                    self._store_batch(claims, *ahead.popleft(), report, progress)
        finally:
            parsers.close()
        finished = self.clock()
        self.store.record_run("ingest", started, finished, not report.failed, report.as_dict())
        log.info("ingest finished new=%d updated=%d unchanged=%d failed=%d duplicates=%d "
                 "deferred=%d seconds=%.2f", report.new, report.updated, report.unchanged,
                 len(report.failed), len(report.duplicates), len(report.deferred),
                 (finished - started).total_seconds())
        return report

    def _workers(self, batches: int) -> int:
        """Worker processes for parsing: none for a single batch (starting them costs more
        than they save)."""
        wanted = spare_cpus(self.config.ingest.processes) if self.workers_allowed else 0
        return wanted if batches > 1 else 0

    def _store_batch(self, claims: Claims, files: int, mine: set[str],
                     parsed: Callable[[], list[_Parsed | _Read]], report: IngestReport,
                     progress: Callable[[int], None] | None) -> None:
        self._apply(parsed(), report)
        self.store.release_files(claims, mine)
        if progress:
            progress(files)

    def _apply(self, parsed: Sequence[_Parsed | _Read], report: IngestReport) -> None:
        now = self.clock()
        with self.store.write() as conn:
            # the store's article count (grouping's idf), counted once, then kept up to date
            stored = self.store.article_count(conn)
            for entry in sorted(parsed, key=_in_time_order):
                read = entry.read if isinstance(entry, _Parsed) else entry
                if isinstance(entry, _Read):
                    if entry.reason in ("unsettled", "vanished"):
                        if entry.reason == "unsettled":
                            report.deferred.append(entry.rel)
                            log.info("file still being written, later path=%s", entry.rel)
                        continue
                    self.store.record_file(
                        conn, path=read.rel, sha256="", size=read.size, mtime_ns=read.mtime_ns,
                        status="failed", reason=entry.reason, duplicate_of=None, count=0,
                        now=now)
                    report.failed.append((read.rel, entry.reason or ""))
                    log.warning("file failed path=%s reason=%s", read.rel, entry.reason)
                    continue
                report.files_read += 1
                record = self.store.file_record_in(conn, read.rel)
                if record is not None and record.sha256 == entry.sha256:
                    self.store.touch_file(conn, read.rel, read.mtime_ns, now)
                    report.unchanged += record.articles
                    continue
                original = self.store.original_for(conn, entry.sha256, read.rel)
                if original is not None:
                    removed = len(self.store.save_articles(conn, read.rel, [], now, now))
                    report.removed += removed
                    stored -= removed
                    self.store.record_file(
                        conn, path=read.rel, sha256=entry.sha256, size=read.size,
                        mtime_ns=read.mtime_ns, status="duplicate",
                        reason=f"same bytes as {original}", duplicate_of=original, count=0,
                        now=now)
                    report.duplicates.append((read.rel, original))
                    log.info("duplicate file path=%s original=%s", read.rel, original)
                    continue
                if entry.reason is not None:
                    # Keep the articles of the last good version: nothing is lost to a bad edit.
                    self.store.record_file(
                        conn, path=read.rel, sha256=entry.sha256, size=read.size,
                        mtime_ns=read.mtime_ns, status="failed", reason=entry.reason,
                        duplicate_of=None, count=0, now=now)
                    report.failed.append((read.rel, entry.reason))
                    log.warning("file failed path=%s reason=%s", read.rel, entry.reason)
                    continue
                mtime = received(read.mtime_ns)
                saved = self.store.save_articles(conn, read.rel, entry.drafts, now, mtime,
                                                 stored)
                kept = [item for item in saved if item.change != "removed"]
                report.removed += len(saved) - len(kept)
                stored += sum(item.change == "new" for item in kept) - (len(saved) - len(kept))
                saved = kept
                self.store.record_file(
                    conn, path=read.rel, sha256=entry.sha256, size=read.size,
                    mtime_ns=read.mtime_ns, status="ok", reason=None, duplicate_of=None,
                    count=len(entry.drafts), now=now)
                self._group(conn, entry.drafts, saved, stored)
                for draft, item in zip(entry.drafts, saved, strict=True):
                    if item.change == "new":
                        report.new += 1
                        if report.topics is not None:
                            report.topics.update(t.slug for t in draft.topics)
                    elif item.change == "updated":
                        report.updated += 1
                        report.topics = None
                    else:
                        report.unchanged += 1
                    if item.change != "unchanged":
                        report.changed.add(item.id)

    def reclassify(self) -> set[str]:
        """Apply the current topic rules to every stored article (after the rules changed).

        Topic membership is our metadata, not the article's: entries keep their `updated`.
        Returns the ids whose topics changed.
        """
        changed: set[str] = set()
        offset, batch = 0, 500
        while True:
            items = self.store.items(limit=batch, offset=offset, order="created")
            if not items:
                return changed
            updates = {}
            for item in items:
                topics = tuple(self.pipeline.classify(_as_parsed(item)))
                if [(t.slug, t.score) for t in topics] != [(t.slug, t.score)
                                                           for t in item.topics]:
                    updates[item.id] = topics
            if updates:
                with self.store.write() as conn:
                    for item_id, topics in updates.items():
                        self.store.replace_topics(conn, item_id, topics)
                changed.update(updates)
            offset += batch

    def _group(self, conn: Any, drafts: Sequence[ArticleDraft],
               saved: Sequence[SavedArticle], total: int) -> None:
        """Put each new article into the story whose every report it resembles, or its own.

        Candidates come from the term index (the new article's most telling terms), dated
        within the window; articles with no date of their own are never excluded by time.
        Stories in one file are different stories by construction.
        """
        hours = timedelta(hours=self.config.stories.window_hours)
        siblings = [d.id for d in drafts]
        for draft, result in zip(drafts, saved, strict=True):
            if result.change != "new" or result.published is None:
                continue
            terms = dict(draft.terms)
            df = self.store.document_frequency(conn, terms)
            window = ((result.published - hours, result.published + hours)
                      if draft.published is not None else None)
            found = self.store.story_candidates(
                conn, retrieval_terms(terms, df, total), window, siblings)
            candidates = self.store.terms_of(conn, found)
            known = {cid: other for cid, (other, _story) in candidates.items()}
            choice = choose_story(terms, candidates,
                                  partial(self._reports, conn, known, set(siblings)), df,
                                  total, self.config.stories.threshold)
            self.store.set_story(conn, draft.id, choice.story_id or draft.id)
            if choice.story_id:
                log.debug("story joined article_id=%s story_id=%s score=%.2f", draft.id,
                          choice.story_id, choice.score)

    def _reports(self, conn: Any, known: Mapping[str, dict[str, float]], siblings: set[str],
                 stories: set[str]) -> dict[str, list[tuple[str, dict[str, float]]]]:
        """The reports of these stories, leaving out any story holding an article of the
        same file."""
        return {story: reports for story, reports in
                self.store.story_reports(conn, stories, known).items()
                if not any(report in siblings for report, _terms in reports)}


def _as_parsed(item: Item) -> Article:
    """A stored article as the parser gave it, for the topic rules: what they read (title,
    standfirst, dateline, body, captions), the topics its front matter named (kept in their
    evidence), and whether its title was made from the first sentence (the parser's own
    make_title gives that title back)."""
    generated = bool(item.body) and item.title == make_title(item.body[0])
    return Article(title=item.title, body=item.body, standfirst=item.standfirst,
                   dateline=item.dateline, captions=item.captions,
                   topics=named_by_author(item.topics), title_generated=generated)


def explain_file(pipeline: Pipeline, path: Path, inbox: Path) -> dict[str, Any]:
    """What the stages make of one file, storing nothing (the `feeds explain --json` shape)."""
    rel = relative_name(path, inbox)
    try:
        data = path.read_bytes()
        mtime_ns = path.stat().st_mtime_ns
    except OSError as exc:
        return {"path": str(path), "error": f"cannot read: {exc.strerror or exc}",
                "articles": []}
    try:
        articles = parse_file(rel, data, received(mtime_ns))
    except ParseError as exc:
        return {"path": str(path), "error": exc.reason, "articles": []}
    out = []
    for article in articles:
        out.append({
            "title": article.title,
            "title_generated": article.title_generated,
            "author": article.author,
            "source": article.source,
            "dateline": article.dateline,
            "published": article.published.isoformat() if article.published else None,
            "standfirst": article.standfirst,
            "url": article.url,
            "body": list(article.body),
            "captions": list(article.captions),
            "summary": pipeline.summarize(article),
            "topics": [_topic_json(t) for t in pipeline.classify(article)],
            "scores": [_topic_json(t) for t in pipeline.explain_topics(article)],
            "language": article.language,
            "notes": list(article.notes),
        })
    return {"path": str(path), "error": None, "articles": out}


def _topic_json(match: TopicMatch) -> dict[str, Any]:
    return {"slug": match.slug, "score": match.score, "threshold": match.threshold,
            "evidence": list(match.evidence)}
