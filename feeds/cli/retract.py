"""`feeds retract PATH|ID [--reason TEXT] [--undo]`: take an article down, or bring it back."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from feeds.cli.context import Context, handles_errors


@click.command()
@click.argument("target", metavar="PATH|ID")
@click.option("--reason", default="", help="why, shown on its page and in its tombstone")
@click.option("--undo", is_flag=True, help="bring a retracted article back")
@click.option("--no-publish", is_flag=True, help="record only; do not rebuild public/")
@click.pass_obj
@handles_errors
def retract(obj: Context, target: str, reason: str, undo: bool, no_publish: bool) -> None:
    """Take the article(s) of PATH (an inbox file, FILE#N for one of its articles), or the
    article with this id or Atom id, out of the feeds, pages, archives and digests; its feeds
    carry a tombstone (RFC 6721) and its page answers 410 Gone with a notice."""
    from feeds.ingest import retract as operation
    from feeds.publish import Publisher
    config = obj.config
    with obj.store() as store:
        articles = operation.find_articles(store, target, config.paths.inbox)
        if undo:
            report = operation.undo(store, articles)
        else:
            report = operation.retract(store, articles, reason.strip(),
                                       datetime.now(UTC))
        scope = report.scope()
        if report.done and not no_publish:
            publisher = Publisher(config, store)
            try:
                publisher.publish(changed=scope.changed, topics=scope.topics)
            finally:
                publisher.close()
    verb = "brought back" if undo else "retracted"
    for gone in report.done:
        click.echo(f"{verb}: {gone.key} {gone.article_id} {gone.title}")
    for article in report.unchanged:
        state = "not retracted" if undo else "already retracted"
        click.echo(f"unchanged: {article.key} {article.id} {article.title} ({state})")
