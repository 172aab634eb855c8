"""`feeds topics`: how the topic rules do on an editor's own labelled examples."""

from __future__ import annotations

from pathlib import Path

import click

from feeds.cli.context import Context, handles_errors


@click.group()
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
