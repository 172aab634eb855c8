"""`feeds bounces`: read the bounce mailbox once (what the daemon does every
`bounces.poll_seconds`), for cron or by hand."""

from __future__ import annotations

import click

from feeds.cli.context import Context, handles_errors


@click.group()
def bounces() -> None:
    """Read what came back to the envelope sender."""


@bounces.command("process")
@click.pass_obj
@handles_errors
def bounces_process(obj: Context) -> None:
    """Read every unread message in the bounce mailbox and apply it to the list."""
    from feeds.digest.returns import process_bounces
    with obj.store() as store:
        run = process_bounces(obj.config, store)
    total = sum(run.outcomes.values())
    click.echo(f"bounces: {total} messages" + "".join(
        f", {count} {kind}" for kind, count in sorted(run.outcomes.items())))
    for email, status in run.suppressed:
        click.echo(f"  {email}: {status}")
