"""`feeds digest`: send digest schedules now, or preview a subscriber's next digest."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from feeds.cli.context import Context, handles_errors
from feeds.errors import FeedsError

if TYPE_CHECKING:
    from feeds.config import Config
    from feeds.digest import Digester, DigestReport
    from feeds.mail import Outbox
    from feeds.store import Store


@click.group()
def digest() -> None:
    """Send or preview email digests."""


def _digester(config: Config, store: Store) -> Digester:
    from feeds.digest import Digester
    from feeds.tokens import load_secret
    return Digester(config, store, load_secret(config.paths.state))


def due_slots(config: Config, store: Store, now: datetime) -> list[tuple[str, str]]:
    """(schedule, slot) of the schedules whose latest slot is due, within its grace, and has
    not run yet."""
    from feeds.digest.schedule import latest_slot
    due = []
    for name, schedule in config.digests.items():
        slot = latest_slot(schedule, now)
        if slot is not None and (store.last_slot(name) or "") < slot.isoformat():
            due.append((name, slot.isoformat()))
    return due


def _show(name: str, report: DigestReport, dry_run: bool) -> None:
    from feeds.language import counted
    if dry_run:
        nothing = "has" if report.skipped == 1 else "have"
        click.echo(f"{name}: would send {counted(report.planned, 'digest')} "
                   f"({counted(report.skipped, 'subscriber')} {nothing} nothing new)")
        for email, count in report.recipients:
            click.echo(f"  {email}: {counted(count, 'item')}")
        for email, why in report.nothing_new:
            click.echo(f"  {email}: nothing new: {why}")
    else:
        click.echo(f"{name}: {report.sent} sent, {report.failed} failed, "
                   f"{report.retrying} to retry, {report.skipped} with nothing new")


def _run_slot(store: Store, digester: Digester, outbox: Outbox, name: str, slot: str,
              dry_run: bool) -> DigestReport | None:
    """Run a due slot as the daemon would (the same run name, so neither sends it twice)."""
    if dry_run:
        return digester.run(name, f"{name}@{slot}", outbox, dry_run=True)
    now = datetime.now(UTC)
    with store.claims() as claims:
        if not store.claim_slot(claims, name, slot, now):
            return None
        try:
            return digester.run(name, f"{name}@{slot}", outbox)
        finally:
            store.finish_slot(name, slot, datetime.now(UTC))


@digest.command("send")
@click.option("--schedule", "schedule", help="run this schedule now, due or not")
@click.option("--all", "run_all", is_flag=True, help="run every schedule now, due or not")
@click.option("--dry-run", is_flag=True, help="show who would get what; send and record nothing")
@click.pass_obj
@handles_errors
def digest_send(obj: Context, schedule: str | None, run_all: bool, dry_run: bool) -> None:
    """Run digest schedules: with no --schedule or --all, only those whose slot is due (as
    the daemon would). Exits 1 when a delivery failed for good, or the mail server could not
    be reached (or refused the login) and the digests wait."""
    config = obj.scheduled_config
    if schedule and run_all:
        raise FeedsError("--schedule and --all cannot go together")
    if schedule and schedule not in config.digests:
        raise FeedsError(f"no digest schedule named {schedule!r}",
                         hint=f"configured: {', '.join(config.digests) or 'none'}")
    from feeds.mail import open_outbox
    failed, stopped = 0, None
    with obj.store() as store:
        digester = _digester(config, store)
        outbox = open_outbox(config.smtp, config.paths.state)
        try:
            if schedule or run_all:
                for name in [schedule] if schedule else list(config.digests):
                    run = f"manual-{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"
                    report = digester.run(name, run, outbox, dry_run=dry_run)
                    _show(name, report, dry_run)
                    failed += report.failed
                    stopped = stopped or report.stopped
            else:
                due = due_slots(config, store, datetime.now(UTC))
                if not due:
                    click.echo("no schedule is due (--schedule NAME or --all sends now)")
                for name, slot in due:
                    click.echo(f"{name}: due at {slot}")
                    got = _run_slot(store, digester, outbox, name, slot, dry_run)
                    if got is None:
                        click.echo(f"{name}: another process is running or ran this slot")
                        continue
                    _show(name, got, dry_run)
                    failed += got.failed
                    stopped = stopped or got.stopped
            if dry_run and (left := store.pending_count()):
                from feeds.language import counted
                click.echo(f"and {counted(left, 'delivery', 'deliveries')} pending from "
                           "earlier runs (a run of their schedule sends them too, and the "
                           "daemon every mail.retry_seconds)")
        finally:
            outbox.close()
    if failed:
        click.echo(f"feeds: {failed} deliveries failed; see `feeds status`", err=True)
    if stopped:
        click.echo(f"feeds: sending stopped: {stopped}", err=True)
    if failed or stopped:
        sys.exit(1)


@digest.command("preview")
@click.option("--subscriber", "email", required=True, help="whose next digest to render")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="write the message (.eml) or its HTML part (.html) to this file")
@click.pass_obj
@handles_errors
def digest_preview(obj: Context, email: str, out: Path | None) -> None:
    """Render a subscriber's next digest from real data; sends and records nothing."""
    with obj.store() as store:
        outgoing, held = _digester(obj.scheduled_config, store).preview(email)
    if held is not None:
        click.echo(f"note: this digest would not be sent now: {held}", err=True)
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
