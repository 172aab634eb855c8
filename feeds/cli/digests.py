"""`feeds digest`: send digest schedules now, or preview a subscriber's next digest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from feeds.cli.context import Context, handles_errors

if TYPE_CHECKING:
    from feeds.config import Config
    from feeds.digest import Digester
    from feeds.store import Store


@click.group()
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
    from feeds.status import counted
    with obj.store() as store:
        digester = _digester(config, store)
        outbox = open_outbox(config.smtp, config.paths.state)
        try:
            for name in names:
                run = f"manual-{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"
                report = digester.run(name, run, outbox, dry_run=dry_run)
                if dry_run:
                    nothing = "has" if report.skipped == 1 else "have"
                    click.echo(f"{name}: would send {counted(report.planned, 'digest')} "
                               f"({counted(report.skipped, 'subscriber')} {nothing} nothing new)")
                    for email, count in report.recipients:
                        click.echo(f"  {email}: {counted(count, 'item')}")
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
