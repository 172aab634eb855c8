"""The `feeds` command line: one function per command; FeedsError becomes a message and an
exit code here and nowhere else (2 for configuration errors, 1 for the rest)."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from feeds.config import Config, find_config, load_config
from feeds.errors import FeedsError
from feeds.logs import setup_logging
from feeds.store import DatabaseUnavailable, Store

if TYPE_CHECKING:
    from feeds.digest import Digester

# Each command imports the modules only it needs (the parsers, the publisher, the digest
# renderer each take a noticeable part of a second to import).

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger(__name__)


@dataclass
class Context:
    config_path: str | None
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(find_config(self.config_path))
        return self._config

    @contextmanager
    def store(self) -> Iterator[Store]:
        store = Store.for_config(self.config)
        try:
            yield store
        finally:
            store.close()


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except FeedsError as exc:
            click.echo(f"feeds: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)
        except DatabaseUnavailable as exc:
            # the database went away or stayed locked past store.busy_timeout_seconds; the
            # transaction in progress was rolled back, so running the command again is safe
            click.echo(f"feeds: the database is unavailable: {exc.orig}", err=True)
            click.echo("hint: another process may hold a long write lock; nothing was "
                       "half-written, run the command again", err=True)
            sys.exit(1)
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="FILE",
              help="config file (default: $FEEDS_CONFIG, else ./config.toml)")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", default="text", show_default=True,
              type=click.Choice(["text", "json"]))
@click.version_option(package_name="feeds")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, log_level: str, log_format: str) -> None:
    """Turn a folder of news articles into per-topic Atom feeds and email digests."""
    setup_logging(log_level, log_format)
    ctx.obj = Context(config_path)


def _fmt_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(value, datetime) else "never"


# --- ingest ------------------------------------------------------------------------------
@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--no-publish", is_flag=True, help="store only; do not rebuild public/")
@click.pass_obj
@handles_errors
def ingest(obj: Context, paths: tuple[Path, ...], no_publish: bool) -> None:
    """Process new and changed inbox files (or just PATHS), then publish.

    Exits 0 even when some files are bad: they are listed, and kept in `feeds status`.
    """
    config = obj.config
    if not paths and not config.paths.inbox.is_dir():
        raise FeedsError(f"the inbox {config.paths.inbox} does not exist",
                         hint="create it, or set paths.inbox in the config")
    from feeds.ingest import Ingestor, Pipeline
    with obj.store() as store:
        pipeline = Pipeline(config)
        try:
            # a backfill may parse in worker processes (they import this command again)
            report = Ingestor(config, store, pipeline, workers_allowed=True).run(
                list(paths) if paths else None, progress=_progress())
        finally:
            pipeline.close()
        if not no_publish:
            # In full when an article was removed (archive pages shift). Articles an earlier
            # run stored and never published (it was killed, or ran --no-publish) go too.
            if report.removed > 0:
                _publish(config, store)
            else:
                missing = store.unpublished() - report.changed
                _publish(config, store, changed=report.changed | missing,
                         topics=None if missing else report.topics)
    click.echo(f"ingest: {report.new} new, {report.updated} updated, {report.unchanged} "
               f"unchanged articles; {len(report.failed)} failed, {len(report.duplicates)} "
               f"duplicate, {len(report.deferred)} still being written")
    for path, reason in report.failed:
        click.echo(f"  failed: {path}: {reason}")
    for path, original in report.duplicates:
        click.echo(f"  duplicate: {path} (same bytes as {original})")
    for path in report.deferred:
        click.echo(f"  later: {path} is still being written")


class _Bar:
    def __init__(self) -> None:
        from tqdm import tqdm
        self.bar = tqdm(unit="file", desc="ingest", leave=False, file=sys.stderr)

    def __call__(self, count: int) -> None:
        self.bar.update(count)


def _progress() -> Callable[[int], None] | None:
    return _Bar() if sys.stderr.isatty() else None


def _publish(config: Config, store: Store, changed: set[str] | None = None,
             topics: set[str] | None = None) -> None:
    from feeds.publish import Publisher
    from feeds.workers import spare_cpus
    publisher = Publisher(config, store, helpers=spare_cpus(config.ingest.processes))
    try:
        publisher.publish(changed=changed, topics=topics)
    finally:
        publisher.close()


@main.command()
@click.pass_obj
@handles_errors
def publish(obj: Context) -> None:
    """Rebuild every output in public/ from the store."""
    with obj.store() as store:
        _publish(obj.config, store)
    click.echo(f"publish: {obj.config.paths.public}")


# --- explain -----------------------------------------------------------------------------
@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file per line")
@click.pass_obj
@handles_errors
def explain(obj: Context, files: tuple[Path, ...], as_json: bool) -> None:
    """Show what the parser, summarizer and classifier make of FILES; stores nothing."""
    from feeds.ingest import Pipeline, explain_file
    pipeline = Pipeline(obj.config)
    try:
        for file in files:
            result = explain_file(pipeline, file, obj.config.paths.inbox)
            if as_json:
                click.echo(json.dumps(result, ensure_ascii=False))
            else:
                _print_explain(result)
    finally:
        pipeline.close()


def _print_explain(result: dict[str, Any]) -> None:
    click.echo(f"== {result['path']}")
    if result["error"]:
        click.echo(f"   error: {result['error']}")
        return
    for number, article in enumerate(result["articles"], 1):
        click.echo(f"-- article {number} of {len(result['articles'])}")
        title = article["title"] + ("   (generated)" if article["title_generated"] else "")
        for label, value in (("title", title), ("author", article["author"]),
                             ("source", article["source"]), ("dateline", article["dateline"]),
                             ("published", article["published"] or "(file time)"),
                             ("standfirst", article["standfirst"])):
            click.echo(f"   {label + ':':<11} {value if value is not None else '-'}")
        for caption in article["captions"]:
            click.echo(f"   caption:    {caption}")
        click.echo(f"   summary:    {article['summary']}")
        for topic in article["scores"]:
            mark = "+" if any(t["slug"] == topic["slug"] for t in article["topics"]) else " "
            click.echo(f"   topic {mark} {topic['slug']}: {topic['score']:.1f} "
                       f"(threshold {topic['threshold']:g}) {'; '.join(topic['evidence'])}")
        click.echo(f"   body ({len(article['body'])} paragraphs):")
        for paragraph in article["body"]:
            click.echo(f"     | {paragraph}")


# --- status and config -------------------------------------------------------------------
@main.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
@click.pass_obj
@handles_errors
def status(obj: Context, as_json: bool) -> None:
    """Counts, last runs, failed files with their reasons, pending deliveries."""
    with obj.store() as store:
        counts = store.counts()
        runs = store.last_runs()
        failed = store.failed_files()
        pending = store.pending_count()
    if as_json:
        click.echo(json.dumps({
            "counts": counts, "pending_deliveries": pending,
            "runs": {k: {**v, "started": _fmt_time(v["started"]),
                         "finished": _fmt_time(v["finished"])} for k, v in runs.items()},
            "failed": [{"path": f.path, "reason": f.reason} for f in failed],
        }, ensure_ascii=False, default=str))
        return
    click.echo(f"articles: {counts['articles']} in {counts['stories']} stories; files: "
               f"{counts['files_ok']} ok, {counts['files_failed']} failed, "
               f"{counts['files_duplicate']} duplicate")
    for key, value in sorted(counts.items()):
        if key.startswith("topic:"):
            click.echo(f"  {key.removeprefix('topic:')}: {value} articles")
    for kind in ("ingest", "publish", "digest"):
        run = runs.get(kind)
        click.echo(f"last {kind}: " + (f"{_fmt_time(run['finished'])}"
                                       f"{'' if run['ok'] else ' (with problems)'}"
                                       if run else "never"))
    click.echo(f"pending deliveries: {pending}")
    click.echo(f"failed files: {len(failed)}")
    for record in failed:
        click.echo(f"  {record.path}: {record.reason}")


@main.command("config")
@click.pass_obj
@handles_errors
def config_command(obj: Context) -> None:
    """Print the effective configuration (defaults filled in, secrets redacted)."""
    click.echo(json.dumps(obj.config.redacted(), indent=2, ensure_ascii=False))


# --- the daemon and the server -----------------------------------------------------------
@main.command()
@click.pass_obj
@handles_errors
def run(obj: Context) -> None:
    """The daemon: scan, watch the inbox, publish, run digest schedules, serve HTTP."""
    from feeds.daemon import run_daemon
    run_daemon(find_config(obj.config_path).resolve(), obj.config)


@main.command()
@click.option("--port", type=int, help="override server.port (0: any free port)")
@click.pass_obj
@handles_errors
def serve(obj: Context, port: int | None) -> None:
    """HTTP only: serve public/, /healthz and /metrics."""
    from feeds.daemon import run_server
    config = obj.config
    if port is not None:
        config = config.model_copy(update={"server": config.server.model_copy(
            update={"port": port})})
    run_server(config)


# --- subscribers -------------------------------------------------------------------------
@main.group()
def subscribers() -> None:
    """Manage digest subscribers."""


def _check_subscriber(config: Config, email: str, topics: str | None,
                      schedule: str | None) -> tuple[str, list[str], str]:
    from email_validator import EmailNotValidError, validate_email
    try:
        address = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise FeedsError(f"{email!r} is not a valid email address: {exc}") from None
    if not config.digests:
        raise FeedsError("no digest schedules are configured", hint="add a [digests.NAME] table")
    name = schedule or next(iter(config.digests))
    if name not in config.digests:
        raise FeedsError(f"unknown schedule {name!r}",
                         hint=f"configured: {', '.join(config.digests)}")
    chosen = ([t.strip() for t in re.split(r"[,;]", topics) if t.strip()] if topics
              else list(config.digests[name].topics))
    unknown = [t for t in chosen if t not in config.topics]
    if unknown:
        raise FeedsError(f"unknown topic(s): {', '.join(unknown)}",
                         hint=f"configured: {', '.join(config.topics)}")
    if not chosen:
        raise FeedsError("no topics given", hint="pass --topics a,b")
    return address, chosen, name


@subscribers.command("add")
@click.argument("email")
@click.option("--topics", help="comma-separated topic slugs (default: the schedule's topics)")
@click.option("--schedule", help="digest schedule name (default: the first configured)")
@click.pass_obj
@handles_errors
def subscribers_add(obj: Context, email: str, topics: str | None, schedule: str | None) -> None:
    """Subscribe EMAIL (or update an existing subscriber)."""
    address, chosen, name = _check_subscriber(obj.config, email, topics, schedule)
    with obj.store() as store:
        done = store.add_subscriber(address, chosen, name, datetime.now(UTC))
    click.echo(f"{done}: {address} ({name}: {', '.join(chosen)})")


@subscribers.command("remove")
@click.argument("email")
@click.pass_obj
@handles_errors
def subscribers_remove(obj: Context, email: str) -> None:
    """Remove EMAIL."""
    with obj.store() as store:
        if not store.remove_subscriber(email.strip()):
            raise FeedsError(f"no subscriber {email}")
    click.echo(f"removed: {email}")


@subscribers.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handles_errors
def subscribers_list(obj: Context, as_json: bool) -> None:
    """List subscribers with their topics, schedule and status."""
    with obj.store() as store:
        found = store.subscribers()
    for sub in found:
        if as_json:
            click.echo(json.dumps({"email": sub.email, "topics": list(sub.topics),
                                   "schedule": sub.schedule, "status": sub.status}))
        else:
            click.echo(f"{sub.email}\t{sub.schedule}\t{sub.status}\t{','.join(sub.topics)}")


@subscribers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
@handles_errors
def subscribers_import(obj: Context, file: Path) -> None:
    """Add subscribers from a CSV file with columns email[,topics[,schedule]].

    Topics inside one cell are separated by ";" (or "," when the cell is quoted). Bad rows are
    listed and skipped; the others are added.
    """
    import csv
    added = skipped = 0
    with obj.store() as store, file.open(newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.reader(handle), 1):
            if not row or not row[0].strip() or row[0].strip().lower() == "email":
                continue
            try:
                address, chosen, name = _check_subscriber(
                    obj.config, row[0].strip(), row[1] if len(row) > 1 and row[1] else None,
                    row[2].strip() if len(row) > 2 and row[2].strip() else None)
            except FeedsError as exc:
                click.echo(f"  line {number}: skipped: {exc.message}")
                skipped += 1
                continue
            store.add_subscriber(address, chosen, name, datetime.now(UTC))
            added += 1
    click.echo(f"import: {added} added or updated, {skipped} skipped")


# --- digests -----------------------------------------------------------------------------
@main.group()
def digest() -> None:
    """Send or preview email digests."""


def _digester(config: Config, store: Store) -> Digester:
    from feeds.digest import Digester
    from feeds.tokens import load_secret
    return Digester(config, store, load_secret(config.paths.state))


@digest.command("send")
@click.option("--schedule", "schedule", help="run only this schedule (default: all)")
@click.option("--dry-run", is_flag=True, help="show who would get what; send and record nothing")
@click.pass_obj
@handles_errors
def digest_send(obj: Context, schedule: str | None, dry_run: bool) -> None:
    """Run digest schedules now."""
    config = obj.config
    names = [schedule] if schedule else list(config.digests)
    from feeds.mail import open_outbox
    with obj.store() as store:
        digester = _digester(config, store)
        outbox = open_outbox(config.smtp, config.paths.state)
        try:
            for name in names:
                run = f"manual-{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"
                report = digester.run(name, run, outbox, dry_run=dry_run)
                if dry_run:
                    click.echo(f"{name}: would send {report.planned} digests "
                               f"({report.skipped} subscribers have nothing new)")
                    for email, count in report.recipients:
                        click.echo(f"  {email}: {count} items")
                else:
                    click.echo(f"{name}: {report.sent} sent, {report.failed} failed, "
                               f"{report.retrying} to retry, {report.skipped} with nothing new")
        finally:
            outbox.close()


@digest.command("preview")
@click.option("--subscriber", "email", required=True, help="whose next digest to render")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="write the message (.eml) or its HTML part (.html) to this file")
@click.pass_obj
@handles_errors
def digest_preview(obj: Context, email: str, out: Path | None) -> None:
    """Render a subscriber's next digest from real data; sends and records nothing."""
    with obj.store() as store:
        outgoing = _digester(obj.config, store).preview(email)
    message = outgoing.parsed()
    if out is None:
        text = message.get_body(("plain",))
        click.echo(f"Subject: {message['Subject']}\n")
        click.echo(text.get_content() if text is not None else "")
        return
    if out.suffix.lower() in (".html", ".htm"):
        html = message.get_body(("html",))
        out.write_text(html.get_content() if html is not None else "", encoding="utf-8")
    else:
        out.write_bytes(outgoing.data)
    click.echo(f"preview: {out}")


@main.group()
def topics() -> None:
    """Topic rules."""


@topics.command("check")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.pass_obj
@handles_errors
def topics_check(obj: Context, folder: Path) -> None:
    """How the topic rules do on labelled files (a FILE.topics sidecar or front matter
    `topics:`): precision and recall per topic, then each miss with its evidence."""
    from feeds.topic_check import check_folder, report
    from feeds.topics import compile_rules
    config = obj.config
    checked, unlabelled = check_folder(folder, compile_rules(config.topics))
    for line in report(checked, unlabelled, list(config.topics)):
        click.echo(line)
