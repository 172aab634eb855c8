"""scripts/bench: measure, ours, anchor, ratio, goal, pass/fail — one table, one run."""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import platform
import re
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from feeds.articles.text import parse_text
from feeds.config import Config, parse_config
from feeds.ingest.pipeline import Pipeline, drafts_for
from feeds.models import Item, article_id, article_key
from feeds.publish import Publisher
from feeds.store import Store
from feeds.summarize import extractive_summary
from scripts.corpus import stories
from scripts.evaluate import pairwise

ROOT = Path(__file__).resolve().parents[1]
FEEDS = str(ROOT / ".venv" / "bin" / "feeds")


@dataclass
class Row:
    measure: str
    ours: str
    anchor: str
    ratio: float | None
    goal: str
    ok: bool | None
    note: str = ""


ROWS: list[Row] = []


def row(measure: str, ours: str, anchor: str, ratio: float | None, goal: str,
        ok: bool | None, note: str = "") -> None:
    ROWS.append(Row(measure, ours, anchor, ratio, goal, ok, note))
    status = "-" if ok is None else ("PASS" if ok else "FAIL")
    print(f"  {measure}: ours {ours} | anchor {anchor} | ratio "
          f"{_ratio(ratio)} | goal {goal} | {status} {note}",
          file=sys.stderr, flush=True)


def _ratio(ratio: float | None) -> str:
    """Two decimals; three significant digits for a small ratio (the backfill's to a plain
    read+hash loop), which two decimals would show as 0.00."""
    if ratio is None:
        return "-"
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.3g}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_config(folder: Path, filename: str = "config.toml", **tables: Any) -> Config:
    import tomllib
    data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    data["paths"] = {"inbox": "inbox", "public": "public", "state": "state"}
    data["ingest"] = {"settle_seconds": 0.0, "rescan_seconds": 3600}
    for name, values in tables.items():
        data[name] = {**data.get(name, {}), **values}
    (folder / "inbox").mkdir(parents=True, exist_ok=True)
    text = _toml(data)
    (folder / filename).write_text(text, encoding="utf-8")
    return parse_config(data, path=folder / filename)


def _toml(data: dict[str, Any], prefix: str = "") -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
    plain = {k: v for k, v in data.items() if not isinstance(v, dict) or k == "terms"}
    lines = [f"[{prefix}]"] if prefix and plain else []
    lines += [f"{json.dumps(k)} = {value(v)}" for k, v in plain.items()]
    for k, v in data.items():
        if isinstance(v, dict) and k != "terms":
            lines.append(_toml(v, f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k)))
    return "\n".join(lines) + "\n"


def write_corpus(inbox: Path, count: int, start: int = 0) -> list[Path]:
    paths = []
    for story in stories(count + start):
        number = int(story.name[6:12])
        if number < start:
            continue
        path = inbox / story.name
        path.write_text(story.text, encoding="utf-8")
        paths.append(path)
    return paths


@contextmanager
def process(*args: str, **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(list(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            **kwargs)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


# --- the measures ---------------------------------------------------------------------------
def bench_summarizer(quick: bool) -> None:
    from sumy.nlp.stemmers import Stemmer
    from sumy.parsers.plaintext import PlaintextParser
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.utils import get_stop_words

    from feeds.language import split_sentences, words

    class OfflineTokenizer:  # sumy's default needs an nltk data download
        language = "english"

        def to_sentences(self, paragraph: str) -> tuple[str, ...]:
            return tuple(split_sentences(paragraph))

        def to_words(self, sentence: str) -> tuple[str, ...]:
            return tuple(words(sentence))

    articles = [parse_text(s.text)[0] for s in stories(100 if quick else 300)]
    started = time.perf_counter()
    for article in articles:
        extractive_summary(article)
    ours = len(articles) / (time.perf_counter() - started)
    summarizer = LexRankSummarizer(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")
    tokenizer = OfflineTokenizer()
    sample = articles[: 40 if quick else 100]
    started = time.perf_counter()
    for article in sample:
        document = PlaintextParser.from_string(article.text, tokenizer).document
        list(summarizer(document, 3))
    anchor = len(sample) / (time.perf_counter() - started)
    ratio = ours / anchor
    row("summarizer alone", f"{ours:,.0f} articles/s", f"sumy LexRank {anchor:,.0f}/s", ratio,
        ">= 10x faster", ratio >= 10)


def synthetic_items(count: int) -> list[Item]:
    from feeds.models import TopicMatch
    base = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for n, story in enumerate(stories(count)):
        article = parse_text(story.text)[0]
        key = article_key(story.name, 0)
        out.append(Item(id=article_id(key), key=key, entry_id=f"urn:uuid:{n:032x}",
                        title=article.title, body=article.body, author=article.author,
                        source=article.source, dateline=article.dateline,
                        published=base + timedelta(minutes=n),
                        updated=base + timedelta(minutes=n, seconds=1),
                        summary=extractive_summary(article),
                        topics=(TopicMatch("syria", 5.0, 4.5, ()),)))
    return out


def bench_feed_build(quick: bool) -> None:
    from feedgen.feed import FeedGenerator
    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(Path(tmp))
        store = Store.for_config(config)
        publisher = Publisher(config, store)
        spec = publisher.specs[1]
        items = synthetic_items(50)
        rounds = 10 if quick else 40

        def ours() -> None:
            publisher.forget()  # cold: no article's content or entry built before
            publisher.atom(spec, items)

        def bare(same_document: bool) -> Callable[[], None]:
            """feedgen's own API on the same items. With `same_document`, the document ours
            writes (each entry's author and categories, typed links, bodies escaped into
            HTML); without, the thinner one earlier runs used (no author or categories, and
            bodies pasted into HTML unescaped, which breaks on any '&' or '<')."""
            def build() -> None:
                fg = FeedGenerator()
                fg.id("urn:uuid:0")
                fg.title("bare")
                fg.author({"name": "x"})
                fg.link(href="http://127.0.0.1/feed.atom", rel="self")
                if same_document:
                    fg.subtitle("bare topic")
                    fg.language("en")
                    fg.link(href="http://127.0.0.1/topic.html", rel="alternate",
                            type="text/html")
                fg.updated(items[-1].updated)
                for item in reversed(items):
                    entry = fg.add_entry()
                    entry.id(item.entry_id)
                    entry.title(item.title)
                    entry.published(item.published)
                    entry.updated(item.updated)
                    entry.summary(item.summary)
                    url = f"http://127.0.0.1/articles/{item.id}.html"
                    if not same_document:
                        entry.link(href=url)
                        entry.content("".join(f"<p>{p}</p>" for p in item.body), type="html")
                        continue
                    entry.link(href=url, rel="alternate", type="text/html")
                    entry.author({"name": item.author or item.source or "x"})
                    for match in item.topics:
                        entry.category(term=match.slug, label=match.slug,
                                       scheme="http://127.0.0.1/topics/")
                    entry.content("".join(f"<p>{html.escape(p, quote=False)}</p>"
                                          for p in item.body), type="html")
                fg.atom_str(pretty=True)
            return build

        # rounds interleaved (ours, anchor, thin, ours, ...): the machine's drift during the
        # run then weighs on all three alike
        ours_time, bare_time, thin_time = interleaved(
            [ours, bare(same_document=True), bare(same_document=False)], rounds)
        ratio = ours_time / bare_time
        row("one 50-entry topic feed built", f"{ours_time * 1000:.1f} ms",
            f"feedgen, same document {bare_time * 1000:.1f} ms", ratio, "<= 1.2x",
            ratio <= 1.2, f"(a thinner feedgen document: {thin_time * 1000:.1f} ms, "
            f"{ours_time / thin_time:.2f}x)")
        store.close()


def interleaved(funcs: list[Callable[[], None]], rounds: int) -> list[float]:
    """The median time of each function, run in turn round after round."""
    times: list[list[float]] = [[] for _ in funcs]
    for _ in range(rounds):
        for func, spent in zip(funcs, times, strict=True):
            started = time.perf_counter()
            func()
            spent.append(time.perf_counter() - started)
    return [statistics.median(spent) for spent in times]


def fill_store(config: Config, count: int) -> Store:
    """`count` stored articles, made through the real drafts but inserted in bulk batches."""
    from dataclasses import replace

    from feeds.models import entry_id
    store = Store.for_config(config)
    pipeline = Pipeline(config)
    pool = [drafts_for(pipeline, f"pool/{n}.txt", [parse_text(s.text)[0]])[0]
            for n, s in enumerate(stories(50))]
    pipeline.close()
    now = datetime(2025, 1, 1, tzinfo=UTC)
    batch = 5000
    for start in range(0, count, batch):
        with store.write() as tx:
            for n in range(start, min(count, start + batch)):
                rel = f"fill/{n:07d}.txt"
                key = article_key(rel, 0)
                draft = replace(pool[n % len(pool)], id=article_id(key), key=key, path=rel,
                                entry_id=entry_id(key))
                tx.save_articles(rel, [draft], now + timedelta(seconds=n), now)
    # as after a publish of all of it: the measured runs publish only their own article (an
    # article stored and never published is published by the next run, see Store.unpublished)
    with store.write() as tx:
        tx.all_published()
    return store


def bench_incremental_publish(quick: bool) -> None:
    small, big = 1_000, (10_000 if quick else 100_000)
    results = {}
    peak = 0
    for count in (small, big):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = make_config(folder)
            fill_store(config, count).close()
            times = []
            for n in range(3):
                path = _one(folder / "inbox", n)
                started = time.perf_counter()
                rss = run_measured([FEEDS, "--config", str(folder / "config.toml"),
                                    "--log-level", "warning", "ingest", str(path)])
                times.append(time.perf_counter() - started)
                if count == big:
                    peak = max(peak, rss)
            results[count] = statistics.median(times)
    ratio = results[big] / results[small]
    row(f"ingest + incremental publish of 1 article, {big:,} vs {small:,} stored",
        f"{results[big] * 1000:.0f} ms", f"itself at 1k {results[small] * 1000:.0f} ms", ratio,
        "<= 1.5x", ratio <= 1.5, "(process start included)")
    row(f"peak RSS, feeds ingest + publish with {big:,} stored", f"{peak / 1024:.0f} MB", "-",
        None, "<= 200 MB", peak / 1024 <= 200, "(incremental publish; maxrss of the process)")


def run_measured(args: list[str]) -> int:
    """Run a command to completion; its own peak RSS in KB (wait4's rusage, this child only)."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{args} exited {proc.returncode}")
    return int(usage.ru_maxrss)


def _one(inbox: Path, n: int) -> Path:
    """One new article from the synthetic corpus (far past the numbers a backfill uses)."""
    import random

    from scripts.corpus import story
    path = inbox / f"new-{n}.txt"
    path.write_text(story(random.Random(n), 1_000_000 + n).text, encoding="utf-8")
    return path


# What feeds publishes, as Pelican would be set up for it: the all feed and one per topic of
# 50 entries each (no author or translation feeds, which feeds does not write), pages of 50
# articles like feeds' archive pages, the built-in theme, nothing cached between runs.
PELICAN_CONFIG = """AUTHOR = "bench"
SITENAME = "bench"
SITEURL = "http://127.0.0.1"
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
FEED_ALL_ATOM = "feeds/all.atom.xml"
CATEGORY_FEED_ATOM = "feeds/{slug}.atom.xml"
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
TRANSLATION_FEED_ATOM = None
FEED_MAX_ITEMS = 50
DEFAULT_PAGINATION = 50
THEME = "simple"
LOAD_CONTENT_CACHE = False
CACHE_CONTENT = False
SLUGIFY_SOURCE = "basename"  # as feeds names pages: titles repeat across reports
"""


def write_pelican_site(folder: Path, count: int) -> Path:
    """The backfill's articles as a Pelican site: Markdown with front matter (title, date,
    the topic as category, author) and a minimal pelicanconf, in `folder`; its config path."""
    content = folder / "content"
    content.mkdir(parents=True)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for n, story in enumerate(stories(count)):
        title, byline, *paragraphs = story.text.strip().split("\n\n")
        author = byline.removeprefix("By ") if byline.startswith("By ") else "staff"
        if author == "staff":
            paragraphs.insert(0, byline)
        front = (f"Title: {title}\nDate: {base + timedelta(minutes=n):%Y-%m-%d %H:%M}\n"
                 f"Category: {story.topic}\nAuthor: {author}\n\n")
        (content / f"{story.name[:-4]}.md").write_text(front + "\n\n".join(paragraphs) + "\n",
                                                       encoding="utf-8")
    settings = folder / "pelicanconf.py"
    settings.write_text(PELICAN_CONFIG, encoding="utf-8")
    return settings


def pelican_seconds(folder: Path, count: int) -> float | None:
    """Pelican building the site of the same `count` articles (None when not installed)."""
    pelican = ROOT / ".venv" / "bin" / "pelican"
    if not pelican.exists():
        return None
    settings = write_pelican_site(folder, count)
    started = time.perf_counter()
    subprocess.run([str(pelican), str(folder / "content"), "-s", str(settings), "-o",
                    str(folder / "output"), "-q"], check=True, cwd=folder,
                   stdout=subprocess.DEVNULL)
    spent = time.perf_counter() - started
    if not (folder / "output" / "feeds" / "all.atom.xml").exists():
        raise RuntimeError("pelican wrote no feed")
    return spent


def bench_backfill(quick: bool) -> None:
    count = 1_000 if quick else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = make_config(folder)
        paths = write_corpus(folder / "inbox", count)
        started = time.perf_counter()
        for path in paths:
            hashlib.sha256(path.read_bytes()).hexdigest()
        floor = time.perf_counter() - started
        peer = pelican_seconds(folder / "pelican", count)
        started = time.perf_counter()
        subprocess.run([FEEDS, "--config", str(folder / "config.toml"), "--log-level",
                        "warning", "ingest"], check=True, stdout=subprocess.DEVNULL)
        ours = time.perf_counter() - started
        store = Store.for_config(config)
        found = {item.key.rsplit("#", 1)[0]: item.story_id or item.id for item in store.items()}
        store.close()
    events = {s.name: s.event for s in stories(count)}
    precision, recall, f1 = pairwise(events, found)
    rate = count / ours
    grouping = (f"(the corpus's {len(set(events.values())):,} events became "
                f"{len(set(found.values())):,} stories: pairwise precision {precision:.2f}, "
                f"recall {recall:.2f}, F1 {f1:.2f})")
    measure = f"backfill {count:,} articles (feeds ingest, publish included)"
    if peer is None:
        row(measure, f"{rate:,.0f} articles/s", "-", None, ">= 1.2x Pelican", False,
            "(pelican not installed) " + grouping)
    else:
        row(measure, f"{rate:,.0f} articles/s", f"Pelican 4.12, same articles "
            f"{count / peer:,.0f}/s", peer / ours, ">= 1.2x Pelican", peer / ours >= 1.2,
            grouping)
    row(f"backfill floor: read+hash loop over the same {count:,} files",
        f"{count / floor:,.0f} files/s", f"feeds {rate:,.0f} articles/s", floor / ours,
        "report", None, "(ratio: feeds' rate to the floor's)")


def bench_fsyncs(quick: bool) -> None:
    if not shutil.which("strace"):
        row("fsyncs per ingested article", "-", "-", None, "<= 2", None, "(strace missing)")
        return
    count = 100 if quick else 300
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_config(folder)
        write_corpus(folder / "inbox", count)
        out = subprocess.run(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", FEEDS,
                              "--config", str(folder / "config.toml"), "--log-level", "warning",
                              "ingest"], capture_output=True, text=True, check=True)
    calls = sum(int(m.group(1)) for m in re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+"
                                                      r"(?:\d+\s+)?f(?:data)?sync$",
                                                      out.stderr, re.M))
    per = calls / count
    row("fsyncs per ingested article (ingest + publish)", f"{per:.2f}", f"{calls} for {count}",
        None, "<= 2", per <= 2)


def bench_http(quick: bool) -> None:
    if not (shutil.which("wrk") and shutil.which("nginx")):
        row("HTTP on a 200 KB feed", "-", "-", None, ">= 0.5x / 0.2x nginx", None,
            "(wrk or nginx missing)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)  # nginx's workers run as an unprivileged user
        port = free_port()
        make_config(folder, server={"host": "127.0.0.1", "port": port})
        write_corpus(folder / "inbox", 60)
        subprocess.run([FEEDS, "--config", str(folder / "config.toml"), "--log-level",
                        "warning", "ingest"], check=True, stdout=subprocess.DEVNULL)
        feed = folder / "public" / "feeds" / "all.atom"
        size = feed.stat().st_size
        nginx_port = free_port()
        conf = folder / "nginx.conf"
        conf.write_text(f"""worker_processes 1; daemon off; pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log; events {{ worker_connections 1024; }}
http {{ access_log off; sendfile on; types {{ application/atom+xml atom; }}
server {{ listen 127.0.0.1:{nginx_port}; root {folder}/public; }} }}
""")
        seconds = "3s" if quick else "8s"
        results = {}
        # uvicorn alone: an ASGI app that answers every request with a fixed 304 and no file,
        # the most requests per second feeds' server (uvicorn, httptools, uvloop) could answer
        floor_port = free_port()
        floor = (f"import uvicorn\n"
                 f"async def app(scope, receive, send):\n"
                 f"    await send({{'type': 'http.response.start', 'status': 304, "
                 f"'headers': [(b'etag', b'\"x\"')]}})\n"
                 f"    await send({{'type': 'http.response.body', 'body': b''}})\n"
                 f"uvicorn.run(app, host='127.0.0.1', port={floor_port}, http='httptools', "
                 f"loop='uvloop', lifespan='off', access_log=False, log_level='warning')\n")
        with process(FEEDS, "--config", str(folder / "config.toml"), "--log-level", "warning",
                     "serve"), process("nginx", "-c", str(conf), "-p", str(folder)), \
                process(str(ROOT / ".venv" / "bin" / "python"), "-c", floor):
            wait_port(floor_port)
            results[("uvicorn", "304")] = wrk(
                f"http://127.0.0.1:{floor_port}/feeds/all.atom", seconds)
            for name, base in (("feeds", f"http://127.0.0.1:{port}"),
                               ("nginx", f"http://127.0.0.1:{nginx_port}")):
                url = f"{base}/feeds/all.atom"
                wait_http(url)
                etag = httpx.get(url).headers["etag"]
                for kind, headers in (("200", []), ("304", ["-H", f"If-None-Match: {etag}"])):
                    results[(name, kind)] = wrk(url, seconds, *headers)
    for kind, goal in (("200", 0.5), ("304", 0.2)):
        ratio = results[("feeds", kind)] / results[("nginx", kind)]
        floor = results[("uvicorn", "304")]
        row(f"HTTP {kind} on a {size // 1024} KB feed (wrk, 1 thread, 16 connections)",
            f"{results[('feeds', kind)]:,.0f} req/s", f"nginx {results[('nginx', kind)]:,.0f}",
            ratio, f">= {goal}x", ratio >= goal,
            "" if kind == "200" else f"(uvicorn alone, a fixed 304 from an empty app: "
            f"{floor:,.0f} req/s, {floor / results[('nginx', kind)]:.2f}x nginx)")


def wrk(url: str, seconds: str, *headers: str) -> float:
    """Requests per second wrk measures (1 thread, 16 connections)."""
    out = subprocess.run(["wrk", "-t1", "-c16", "-d", seconds, *headers, url],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def bench_latency(quick: bool) -> None:
    import inotify_simple

    from feeds.articles import parse_file
    count = 50 if quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        config = make_config(folder, server={"host": "127.0.0.1", "port": port})
        # anchor 1: raw inotify, rename to event
        watched = folder / "raw"
        watched.mkdir()
        notify = inotify_simple.INotify()
        notify.add_watch(str(watched), inotify_simple.flags.MOVED_TO)
        raw = []
        for n in range(count):
            tmp_path = folder / f"raw-{n}.part"
            tmp_path.write_text("x")
            started = time.perf_counter()
            os.rename(tmp_path, watched / f"raw-{n}.txt")
            notify.read()
            raw.append(time.perf_counter() - started)
        # a wire day's worth: some events get a second to fourth report, which join their
        # story (and rewrite its other reports' pages)
        arrivals = [s.text for s in stories(count, seed=11)]
        # anchor 2: the one-article pipeline in process (parse, summarize, classify), on the
        # same articles
        pipeline = Pipeline(config)
        one = []
        for text in arrivals:
            data = text.encode("utf-8")
            started = time.perf_counter()
            for article in parse_file("x.txt", data):
                pipeline.summarize(article)
                pipeline.classify(article)
            one.append(time.perf_counter() - started)
        pipeline.close()
        pages: list[float] = []  # until the article's page is served
        latencies = []  # until the feed a reader polls lists it
        with process(FEEDS, "--config", str(folder / "config.toml"), "--log-level", "warning",
                     "run"), httpx.Client(timeout=2) as client:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            feed, etag = f"http://127.0.0.1:{port}/feeds/all.atom", ""
            for n in range(count):
                source = folder / "inbox" / f"new-{n + 1000}.txt"
                hidden = source.with_name(f".{source.name}.part")
                hidden.write_text(arrivals[n], encoding="utf-8")  # then renamed into place
                new_id = article_id(article_key(f"new-{n + 1000}.txt", 0))
                page = f"http://127.0.0.1:{port}/articles/{new_id}.html"
                started = time.perf_counter()
                os.rename(hidden, source)
                # polled like a reader, 2 ms apart (a client polling flat out would take the
                # daemon's CPU from the work it waits for); pages are published before feeds
                while client.get(page).status_code != 200 and time.perf_counter() - started < 5:
                    time.sleep(0.002)
                pages.append(time.perf_counter() - started)
                while time.perf_counter() - started < 5:
                    response = client.get(feed, headers={"If-None-Match": etag} if etag else {})
                    if response.status_code == 200:
                        etag = response.headers.get("ETag", "")
                        if new_id in response.text:
                            break
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)
            # anchor 3: one full GET of the feed as it now stands, the daemon idle
            gets = []
            for _ in range(count):
                started = time.perf_counter()
                client.get(feed).raise_for_status()
                gets.append(time.perf_counter() - started)
    p50, p95 = pct(latencies, 50), pct(latencies, 95)
    floor = pct(raw, 95) + pct(one, 95) + pct(gets, 95)
    row(f"rename into inbox -> listed in the served feed, {count} files",
        f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms", f"floor {floor * 1000:.1f} ms: "
        f"inotify p95 {pct(raw, 95) * 1000:.2f} + pipeline p95 {pct(one, 95) * 1000:.1f} + "
        f"feed GET p95 {pct(gets, 95) * 1000:.1f}", p95 / floor, "p95 <= 10x floor",
        p95 <= 10 * floor, f"(its article page: p50 {pct(pages, 50) * 1000:.1f} ms, "
        f"p95 {pct(pages, 95) * 1000:.1f} ms)")


def pct(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def bench_digests(quick: bool) -> None:
    sink = "/usr/sbin/smtp-sink"
    if not os.path.exists(sink):
        row("digests end to end", "-", "-", None, ">= 0.8x", None, "(smtp-sink missing)")
        return
    count = 5_000 if quick else 10_000
    port = free_port()
    user = ["-u", "nobody"] if os.getuid() == 0 else []
    with tempfile.TemporaryDirectory() as tmp, \
            process(sink, *user, "-c", f"127.0.0.1:{port}", "1000"):
        folder = Path(tmp)
        wait_port(port)
        make_config(folder, smtp={"host": "127.0.0.1", "port": port, "security": "none"})
        write_corpus(folder / "inbox", 40)
        config_path = str(folder / "config.toml")
        store = Store.open(f"sqlite:///{folder / 'state' / 'feeds.db'}")
        now = datetime.now(UTC)
        for n in range(count):
            store.add_subscriber(f"reader{n}@example.org", ["syria", "gaza", "ukraine-mediation"],
                                 "daily", now)
        store.close()
        subprocess.run([FEEDS, "--config", config_path, "--log-level", "warning", "ingest"],
                       check=True, stdout=subprocess.DEVNULL)
        # the anchor sends one of the digests this run sends, rendered beforehand
        sample = folder / "sample.eml"
        subprocess.run([FEEDS, "--config", config_path, "--log-level", "warning", "digest",
                        "preview", "--subscriber", "reader0@example.org", "--out",
                        str(sample)], check=True, stdout=subprocess.DEVNULL)
        prebuilt = sample.read_bytes()
        # --schedule: the daily slot is not due when the bench runs; without it the command
        # sends nothing, and the row measured a run that found no work
        started = time.perf_counter()
        subprocess.run([FEEDS, "--config", config_path, "--log-level", "warning", "digest",
                        "send", "--schedule", "daily"], check=True, stdout=subprocess.DEVNULL)
        ours = time.perf_counter() - started
        store = Store.open(f"sqlite:///{folder / 'state' / 'feeds.db'}")
        sent = store.delivery_counts().get("sent", 0)
        store.close()
        if sent != count:
            raise RuntimeError(f"feeds digest send sent {sent} digests, not {count}")
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for _ in range(count):
                smtp.sendmail("feeds@localhost", ["reader0@example.org"], prebuilt)
        anchor = time.perf_counter() - started
        # the anchor of earlier tables, for comparison: a smaller synthetic message, flattened
        # again for every send
        message = EmailMessage()
        message["From"] = "feeds@localhost"
        message["To"] = "reader@example.org"
        message["Subject"] = "digest"
        message.set_content("x" * 3000)
        message.add_alternative("<p>" + "x" * 6000 + "</p>", subtype="html")
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for _ in range(count):
                smtp.send_message(message)
        synthetic = time.perf_counter() - started
    ratio = anchor / ours
    row(f"{count:,} digests end to end (select, render, send, record)",
        f"{count / ours:,.0f} msg/s", f"raw smtplib {count / anchor:,.0f} msg/s", ratio,
        ">= 0.8x", ratio >= 0.8, f"(the anchor's message: a {len(prebuilt) // 1024} KB digest "
        f"of this run, rendered by `feeds digest preview`; the earlier anchor, a "
        f"{len(message.as_bytes()) // 1024} KB synthetic message: {count / synthetic:,.0f} msg/s, "
        f"{synthetic / ours:.2f}x)")


@contextmanager
def postgres_cluster() -> Iterator[str | None]:
    """A throwaway PostgreSQL (scripts/postgres); None when it cannot be started here."""
    folder = Path(tempfile.mkdtemp())
    folder.chmod(0o755)
    script = str(ROOT / "scripts" / "postgres")
    started = subprocess.run([script, "start", str(folder / "pg")], capture_output=True,
                             text=True)
    try:
        yield started.stdout.strip() if started.returncode == 0 else None
    finally:
        if started.returncode == 0:
            subprocess.run([script, "stop", str(folder / "pg")], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _database(admin: str) -> str:
    import uuid

    import sqlalchemy as sa
    name = f"bench_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin.rsplit("/", 1)[0] + "/" + name


def _until(check: Callable[[], bool], timeout: float) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"not done after {timeout:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def _cluster_run(url: str | None, daemons: int, files: int, readers: int,
                 sink_port: int) -> tuple[float, float]:
    """Start `daemons` daemons on one database, drop `files` articles into the shared inbox,
    then hand them `readers` planned digests: (articles/s, digests/s)."""
    from feeds.digest import Digester
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        database = url or f"sqlite:///{folder / 'state-0' / 'feeds.db'}"
        tables = {"smtp": {"host": "127.0.0.1", "port": sink_port, "security": "none"},
                  "mail": {"retry_seconds": 0.5},
                  "store": {"url": database},
                  "digests": {"daily": {"cron": "0 0 1 1 *", "timezone": "UTC"}}}
        config = make_config(folder, **tables)
        store = Store.open(database)
        now = datetime.now(UTC)
        for n in range(readers):
            store.add_subscriber(f"reader{n}@example.org", ["syria", "gaza", "ukraine-mediation"],
                                 "daily", now)
        staging = folder / "staging"
        staging.mkdir()
        paths = write_corpus(staging, files)
        procs = []
        try:
            for n in range(daemons):
                port = free_port()
                make_config(folder, f"config-{n}.toml", **tables,
                            paths={"state": f"state-{n}"},
                            server={"host": "127.0.0.1", "port": port})
                procs.append(subprocess.Popen(
                    [FEEDS, "--config", str(folder / f"config-{n}.toml"), "--log-level",
                     "warning", "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    env={**os.environ, "FEEDS_SECRET": "bench"}))
                wait_http(f"http://127.0.0.1:{port}/healthz")
            started = time.perf_counter()
            for path in paths:
                path.rename(folder / "inbox" / path.name)
            _until(lambda: store.counts()["articles"] >= files, 1800)
            ingest = time.perf_counter() - started
            Digester(config, store, b"bench").plan("daily", "bench")
            send = _until(lambda: store.pending_count() == 0, 1800)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(30)
            store.close()
    return files / ingest, readers / send


def bench_cluster(quick: bool) -> None:
    """Several daemons on PostgreSQL next to one on SQLite: ingest and digest throughput."""
    sink = "/usr/sbin/smtp-sink"
    if not os.path.exists(sink):
        row("daemons on PostgreSQL", "-", "-", None, "-", None, "(smtp-sink missing)")
        return
    files, readers = (300, 300) if quick else (2_000, 2_000)
    port = free_port()
    user = ["-u", "nobody"] if os.getuid() == 0 else []
    with process(sink, *user, "-c", f"127.0.0.1:{port}", "1000"), postgres_cluster() as admin:
        wait_port(port)
        base_ingest, base_send = _cluster_run(None, 1, files, readers, port)
        row(f"SQLite, 1 daemon: {files:,} files ingested / {readers:,} digests sent",
            f"{base_ingest:,.0f} articles/s / {base_send:,.0f} msg/s", "(the baseline)", 1.0,
            "-", None)
        if admin is None:
            row("PostgreSQL daemons", "-", "-", None, "-", None, "(PostgreSQL not startable)")
            return
        for daemons in (1, 2, 3):
            ingest, send = _cluster_run(_database(admin), daemons, files, readers, port)
            row(f"PostgreSQL, {daemons} daemon{'s' if daemons > 1 else ''}: same work",
                f"{ingest:,.0f} articles/s / {send:,.0f} msg/s",
                f"SQLite x1 {base_ingest:,.0f} / {base_send:,.0f}", send / base_send,
                "report (2 cores)", None,
                f"(ingest ratio {ingest / base_ingest:.2f}; ratio column: digests)")


def _timed_ingest(database: str | None, count: int) -> float:
    """`feeds ingest` of `count` corpus articles into a fresh store: articles/s."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_config(folder, store={"url": database or f"sqlite:///{folder / 'state' / 'feeds.db'}"})
        write_corpus(folder / "inbox", count)
        started = time.perf_counter()
        subprocess.run([FEEDS, "--config", str(folder / "config.toml"), "--log-level",
                        "warning", "ingest"], check=True, stdout=subprocess.DEVNULL)
        return count / (time.perf_counter() - started)


def bench_postgres_one_daemon(quick: bool) -> None:
    """The same `feeds ingest` (publish included) on SQLite and on PostgreSQL, in turn."""
    count = 300 if quick else 1_000
    with postgres_cluster() as admin:
        if admin is None:
            row("pg vs sqlite: one daemon", "-", "-", None, ">= 0.8x", None,
                "(PostgreSQL not startable)")
            return
        sqlite, postgres = [], []
        for _ in range(2):
            sqlite.append(_timed_ingest(None, count))
            postgres.append(_timed_ingest(_database(admin), count))
    ratio = max(postgres) / max(sqlite)
    row(f"pg vs sqlite: one daemon, feeds ingest of {count:,} articles",
        f"PostgreSQL {max(postgres):,.0f} articles/s", f"SQLite {max(sqlite):,.0f} articles/s",
        ratio, ">= 0.8x", ratio >= 0.8, "(best of 2 each, run in turn)")


def bench_language(quick: bool) -> None:
    """Why English copy skips py3langid: the model's load (once per process, so once per
    `feeds ingest` or `feeds explain`) and its per-article rank, against the function-word
    shortcut on the same English samples."""
    import importlib

    from feeds.articles.languages import plainly_english

    samples = [s.text[:600] for s in stories(100 if quick else 300)]
    started = time.process_time()
    langid = importlib.import_module("py3langid.langid")
    model = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)
    loaded = time.process_time() - started
    started = time.process_time()
    answers = [model.classify(sample)[0] for sample in samples]
    ranked = (time.process_time() - started) / len(samples)
    started = time.process_time()
    english = sum(plainly_english(sample) for sample in samples)
    shortcut = (time.process_time() - started) / len(samples)
    ratio = shortcut / (loaded + ranked)
    row("language of the first English article in a process", f"{shortcut * 1e6:.0f} µs",
        f"py3langid load + rank {(loaded + ranked) * 1000:.0f} ms", ratio, "<= 0.001x",
        ratio <= 0.001 and english == answers.count("en") == len(samples))
    ratio = shortcut / ranked
    row("language of each further English article", f"{shortcut * 1e6:.0f} µs",
        f"py3langid rank {ranked * 1e6:.0f} µs", ratio, "<= 0.5x", ratio <= 0.5)


def run_quietly(args: list[str]) -> None:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


# What a command cannot start without: the libraries its work needs (the store's SQLAlchemy,
# the config's pydantic, the schedules' APScheduler, the parser's blingfire and lxml). Its
# start-up is measured against a bare interpreter importing just those, so the row shows what
# our own code adds. pydantic 2's `import pydantic` is a lazy shell (~40 ms) that loads none of
# the validation machinery: the first model anyone declares pays ~70 ms more (BaseModel, the
# schema builder, the plugin look-up through importlib.metadata), so the floor declares one
# (`_ONE_MODEL`); the note gives the ratio to the imports alone too.
_FLOORS = {"feeds status": "import click, pydantic, sqlalchemy, apscheduler.triggers.cron",
           "feeds explain FILE": "import click, pydantic, blingfire, lxml.html, charset_normalizer"}
_ONE_MODEL = 'pydantic.create_model("Floor", x=(int, 0))'


def bench_startup(quick: bool) -> None:
    """How long a command takes to start, against a bare interpreter of the same venv (and,
    for the commands that need heavy libraries, against importing just those), run in turn
    round after round (the median of each)."""
    rounds = 5 if quick else 11
    python = str(ROOT / ".venv" / "bin" / "python")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_config(folder)
        article = write_corpus(folder / "inbox", 1)[0]
        config = str(folder / "config.toml")
        subprocess.run([FEEDS, "--config", config, "--log-level", "warning", "ingest"],
                       check=True, stdout=subprocess.DEVNULL)
        commands = {"python -c pass": [python, "-c", "pass"],
                    "feeds --version": [FEEDS, "--version"],
                    "feeds status": [FEEDS, "--config", config, "status"],
                    "feeds explain FILE": [FEEDS, "--config", config, "explain", str(article)]}
        for name, code in _FLOORS.items():
            commands[f"floor of {name}"] = [python, "-c", f"{code}; {_ONE_MODEL}"]
            commands[f"imports of {name}"] = [python, "-c", code]
        runs: list[Callable[[], None]] = [partial(run_quietly, args) for args in commands.values()]
        seconds = dict(zip(commands, interleaved(runs, rounds), strict=True))
    bare = seconds["python -c pass"]
    ratio = seconds["feeds --version"] / bare
    row("start-up: feeds --version", f"{seconds['feeds --version'] * 1000:.0f} ms",
        f"python -c pass {bare * 1000:.0f} ms", ratio, "<= 3x", ratio <= 3)
    for name, code in _FLOORS.items():
        floor = seconds[f"floor of {name}"]
        ratio = seconds[name] / floor
        imports = seconds[f"imports of {name}"]
        row(f"start-up: {name}", f"{seconds[name] * 1000:.0f} ms",
            f"python -c '{code}; {_ONE_MODEL}' {floor * 1000:.0f} ms", ratio, "<= 1.5x",
            ratio <= 1.5, f"({seconds[name] / imports:.2f}x the imports without the model, "
            f"{seconds[name] / bare:.0f}x python -c pass)")


def table() -> str:
    lines = ["| measure | ours | anchor | ratio | goal | result |", "|---|---|---|---|---|---|"]
    for r in ROWS:
        result = "-" if r.ok is None else ("pass" if r.ok else "**FAIL**")
        ratio = _ratio(r.ratio)
        lines.append(f"| {r.measure} | {r.ours} | {r.anchor} | {ratio} | {r.goal} | {result}"
                     f"{' ' + r.note if r.note else ''} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench")
    parser.add_argument("--quick", action="store_true", help="a reduced run, under 2 minutes")
    parser.add_argument("--only", help="comma-separated measure names to run")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    measures = {"summarizer": bench_summarizer, "feed": bench_feed_build,
                "incremental": bench_incremental_publish, "backfill": bench_backfill,
                "fsyncs": bench_fsyncs, "http": bench_http, "latency": bench_latency,
                "digests": bench_digests, "cluster": bench_cluster,
                "pg": bench_postgres_one_daemon,
                "startup": bench_startup, "language": bench_language}
    chosen = args.only.split(",") if args.only else list(measures)
    started = time.monotonic()
    for name in chosen:
        try:
            measures[name](args.quick)
        except Exception as exc:  # one broken measure must not hide the others
            row(name, "-", "-", None, "-", False, f"(error: {exc})")
    header = (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
              f"{os.cpu_count()} cores, Python {platform.python_version()}, "
              f"{'quick' if args.quick else 'full'} run, {time.monotonic() - started:.0f} s")
    print(header)
    print(table())
    if args.write:
        (ROOT / "BENCHMARKS.md").write_text(
            "# Benchmarks\n\nThe latest `scripts/bench` table (ratios are measured against "
            f"anchors in the same run).\n\n{header}\n\n{table()}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
