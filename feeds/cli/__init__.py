"""The `feeds` command line: one function per command (the subscribers and digest groups in
their own modules). FeedsError becomes a message and an exit code in `handles_errors`
(cli.context) and nowhere else: 2 for configuration errors, 1 for the rest.

A command imports what it uses when it runs: pydantic, SQLAlchemy, the parsers, the publisher
and the digest renderer each take a noticeable part of a second to import, and `feeds --version`
or `feeds status` should not wait for the ones they do not use (BENCHMARKS.md, start-up row).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from feeds import __version__
from feeds.cli.context import Context, handles_errors
from feeds.errors import FeedsError

if TYPE_CHECKING:
    from feeds.config import Config
    from feeds.store import Store


class Commands(click.Group):
    """The top-level group. The commands that live in their own modules are imported when
    one is named (click's lazy-loading pattern), not for every command."""

    ELSEWHERE = {"subscribers": "feeds.cli.subscribers", "digest": "feeds.cli.digests",
                 "topics": "feeds.cli.topics", "retract": "feeds.cli.retract",
                 "bounces": "feeds.cli.bounces"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.ELSEWHERE])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.ELSEWHERE:
            command = getattr(importlib.import_module(self.ELSEWHERE[name]), name)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, name)

    @property
    def every_command(self) -> dict[str, click.Command]:
        """Every command by name, the lazily imported ones imported (docs, help)."""
        context = click.Context(self)
        found = {name: self.get_command(context, name) for name in self.list_commands(context)}
        return {name: command for name, command in found.items() if command is not None}


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="FILE",
              help="config file (default: $FEEDS_CONFIG, else ./config.toml)")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", default="text", show_default=True,
              type=click.Choice(["text", "json"]))
@click.version_option(__version__, prog_name="feeds")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, log_level: str, log_format: str) -> None:
    """Turn a folder of news articles into per-topic Atom feeds and email digests."""
    from feeds.logs import setup_logging
    setup_logging(log_level, log_format)
    ctx.obj = Context(config_path)


def _json(value: Any, indent: int | None = None) -> str:
    import json  # a sixth of `feeds --version`'s start-up, for the commands that print JSON
    return json.dumps(value, ensure_ascii=False, default=str, indent=indent)


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
    from feeds.ingest.ingestor import Ingestor
    from feeds.ingest.pipeline import Pipeline
    from feeds.ingest.publishing import IngestedChanges
    with obj.store() as store:
        pipeline = Pipeline(config)
        try:
            # a backfill may parse in worker processes (they import this command again)
            report = Ingestor(config, store, pipeline, workers_allowed=True).run(
                list(paths) if paths else None, progress=_progress())
        finally:
            pipeline.close()
        if not no_publish:
            changes = IngestedChanges.of(report)
            changes.include_unpublished(store)
            scope = changes.scope()
            _publish(config, store, changed=scope.changed, topics=scope.topics)
    click.echo(f"ingest: {report.new} new, {report.updated} updated, {report.unchanged} "
               f"unchanged articles; {len(report.failed)} failed, {len(report.duplicates)} "
               f"duplicate, {len(report.deferred)} still being written"
               + (f"; {len(report.retracted)} retracted" if report.retracted else ""))
    for key in report.retracted:
        click.echo(f"  retracted: {key} (its file asks for it)")
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
    from feeds.ingest.explain import explain_file
    from feeds.ingest.pipeline import Pipeline
    pipeline = Pipeline(obj.config)
    try:
        for file in files:
            result = explain_file(pipeline, file, obj.config.paths.inbox)
            if as_json:
                click.echo(_json(result))
            else:
                _print_explain(result)
    finally:
        pipeline.close()


def _print_explain(result: dict[str, Any]) -> None:
    from feeds.language import counted
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
                             ("standfirst", article["standfirst"]),
                             ("language", article["language"])):
            click.echo(f"   {label + ':':<11} {value if value is not None else '-'}")
        for note in article["notes"]:
            click.echo(f"   note:       {note}")
        for caption in article["captions"]:
            click.echo(f"   caption:    {caption}")
        click.echo(f"   summary:    {article['summary']}")
        for topic in article["scores"]:
            mark = "+" if any(t["slug"] == topic["slug"] for t in article["topics"]) else " "
            click.echo(f"   topic {mark} {topic['slug']}: {topic['score']:.1f} "
                       f"(threshold {topic['threshold']:g}) {'; '.join(topic['evidence'])}")
        click.echo(f"   body ({counted(len(article['body']), 'paragraph')}):")
        for paragraph in article["body"]:
            click.echo(f"     | {paragraph}")


# --- status and config -------------------------------------------------------------------
@main.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
@click.pass_obj
@handles_errors
def status(obj: Context, as_json: bool) -> None:
    """Counts, last runs, failed files with their reasons, pending deliveries, subscribers."""
    from feeds.cron import next_runs
    from feeds.status import status_json, status_lines, take_snapshot
    config = obj.scheduled_config
    with obj.store() as store:
        snapshot = take_snapshot(store, config.paths.public, config.topics,
                                 next_runs(config.digests, datetime.now(UTC)))
    if as_json:
        click.echo(_json(status_json(snapshot)))
        return
    for line in status_lines(snapshot):
        click.echo(line)


@main.command("config")
@click.pass_obj
@handles_errors
def config_command(obj: Context) -> None:
    """Print the effective configuration (defaults filled in, secrets redacted), after
    checking it as `feeds run` would."""
    click.echo(_json(obj.scheduled_config.redacted(), indent=2))


@main.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
@handles_errors
def init(folder: Path) -> None:
    """Start a new site in FOLDER (default: here): a commented config.toml and its folders."""
    from importlib.resources import files

    from feeds.config import load_config
    config_file = folder / "config.toml"
    if config_file.exists():
        raise FeedsError(f"{config_file} already exists; nothing was changed",
                         hint="edit it, or give feeds init another folder")
    folder.mkdir(parents=True, exist_ok=True)
    starter = files("feeds").joinpath("starter-config.toml").read_text(encoding="utf-8")
    with config_file.open("x", encoding="utf-8") as handle:  # never over a file made meanwhile
        handle.write(starter)
    paths = load_config(config_file).paths
    for made in (paths.inbox, paths.public, paths.state):
        made.mkdir(parents=True, exist_ok=True)
    click.echo(f"init: wrote {config_file}; drop articles into {paths.inbox}, then run "
               f"`feeds --config {config_file} ingest` (or `run` for the daemon)")


# --- the daemon and the server -----------------------------------------------------------
@main.command()
@click.pass_obj
@handles_errors
def run(obj: Context) -> None:
    """The daemon: scan, watch the inbox, publish, run digest schedules, serve HTTP."""
    from feeds.config import find_config
    from feeds.daemon import run_daemon
    run_daemon(find_config(obj.config_path).resolve(), obj.scheduled_config)


@main.command()
@click.option("--port", type=int, help="override server.port (0: any free port)")
@click.pass_obj
@handles_errors
def serve(obj: Context, port: int | None) -> None:
    """HTTP only: serve public/, /healthz and /metrics."""
    from feeds.daemon import run_server
    config = obj.config
    if port is not None and port != config.server.port:
        if config.base_url_from_server:
            import logging
            logging.getLogger("feeds.serve").warning(
                "the pages in public/ link to %s (server.port %d), not to this server's port; "
                "set server.port = %d (or site.base_url) and run `feeds publish` to make them "
                "follow", config.site.base_url, config.server.port, port)
        config = config.with_server(config.server.model_copy(update={"port": port}))
    run_server(config)

