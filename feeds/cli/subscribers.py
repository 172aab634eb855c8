"""`feeds subscribers`: add, remove, resume, list, import, export and forget digest
subscribers. An address that unsubscribed, bounced or complained is never re-activated here
without `--force`; addresses are looked up in any case."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from feeds.cli.context import Context, handles_errors
from feeds.errors import FeedsError

if TYPE_CHECKING:
    from feeds.config import Config
    from feeds.models import Subscriber
    from feeds.store import Store

log = logging.getLogger("feeds.subscribers")


@click.group()
def subscribers() -> None:
    """Manage digest subscribers."""


def _check_address(email: str) -> str:
    from email_validator import EmailNotValidError, validate_email
    try:
        return str(validate_email(email, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise FeedsError(f"{email!r} is not a valid email address: {exc}") from None


def _check_subscriber(config: Config, email: str, topics: str | None, schedule: str | None,
                      had: Subscriber | None = None) -> tuple[str, list[str], str]:
    """The address, topics and schedule to store: what is not given stays as `had` it (or
    the first schedule and its topics, for a new subscriber)."""
    address = _check_address(email)
    if not config.digests:
        raise FeedsError("no digest schedules are configured", hint="add a [digests.NAME] table")
    name = schedule or (had.schedule if had and had.schedule in config.digests
                        else next(iter(config.digests)))
    if name not in config.digests:
        raise FeedsError(f"unknown schedule {name!r}",
                         hint=f"configured: {', '.join(config.digests)}")
    if topics:
        chosen = [t.strip() for t in re.split(r"[,;]", topics) if t.strip()]
    elif had is not None:
        chosen = list(had.topics)
    else:
        chosen = list(config.digests[name].topics)
    unknown = [t for t in chosen if t not in config.topics]
    if unknown:
        raise FeedsError(f"unknown topic(s): {', '.join(unknown)}",
                         hint=f"configured: {', '.join(config.topics)}")
    if not chosen:
        raise FeedsError("no topics given", hint="pass --topics a,b")
    return address, chosen, name


def _store_subscriber(store: Store, config: Config, email: str, topics: str | None,
                      schedule: str | None, force: bool) -> str:
    """Add or update one subscriber; an unsubscribed, bounced or complained address is
    refused (FeedsError) unless `force`. Returns what the command prints."""
    from feeds.store.bounces import SUPPRESSED
    with store.read() as tx:
        had = tx.subscriber_by_address(email.strip())
    address, chosen, name = _check_subscriber(config, email, topics, schedule, had)
    if had is not None:
        if had.status in SUPPRESSED and not force:
            raise FeedsError(
                f"{had.email} is {had.status}: only its owner signing up again re-activates "
                "it", hint="--force re-activates it anyway (logged)")
        if had.status in SUPPRESSED:
            log.warning("suppressed subscriber re-activated by --force email=%s was=%s",
                        had.email, had.status)
        address = had.email  # the spelling first stored
    done = store.add_subscriber(address, chosen, name, datetime.now(UTC))
    return f"{done}: {address} ({name}: {', '.join(chosen)})"


@subscribers.command("add")
@click.argument("email")
@click.option("--topics", help="comma-separated topic slugs (default: as they were, or the "
                               "schedule's topics for a new subscriber)")
@click.option("--schedule", help="digest schedule name (default: as it was, or the first)")
@click.option("--force", is_flag=True,
              help="re-activate an unsubscribed, bounced or complained address (logged)")
@click.pass_obj
@handles_errors
def subscribers_add(obj: Context, email: str, topics: str | None, schedule: str | None,
                    force: bool) -> None:
    """Subscribe EMAIL (or update an existing subscriber: fields not given stay)."""
    with obj.store() as store:
        click.echo(_store_subscriber(store, obj.config, email, topics, schedule, force))


def _existing(store: Store, email: str) -> Subscriber:
    with store.read() as tx:
        found = tx.subscriber_by_address(email.strip())
    if found is None:
        raise FeedsError(f"no subscriber {email}", hint="see `feeds subscribers list`")
    return found


@subscribers.command("remove")
@click.argument("email")
@click.pass_obj
@handles_errors
def subscribers_remove(obj: Context, email: str) -> None:
    """Remove EMAIL (its delivery records stay; `forget` erases the address everywhere)."""
    with obj.store() as store:
        found = _existing(store, email)
        store.remove_subscriber(found.email)
    click.echo(f"removed: {found.email}")


@subscribers.command("resume")
@click.argument("email")
@click.pass_obj
@handles_errors
def subscribers_resume(obj: Context, email: str) -> None:
    """Mail EMAIL again after it was paused by repeated delivery failures."""
    with obj.store() as store:
        found = _existing(store, email)
        with store.write() as tx:
            resumed = tx.resume_subscriber(found.email)
    if not resumed:
        raise FeedsError(f"{found.email} is {found.status}, not paused",
                         hint="only a paused subscriber can be resumed")
    click.echo(f"resumed: {found.email}")


@subscribers.command("forget")
@click.argument("email")
@click.pass_obj
@handles_errors
def subscribers_forget(obj: Context, email: str) -> None:
    """Erase EMAIL and its sign-up and consent records (for a data request); its delivery
    records keep only a hash of the address."""
    with obj.store() as store:
        found = _existing(store, email)
        with store.write() as tx:
            tx.forget_subscriber(found.email, datetime.now(UTC))
    log.info("subscriber forgotten")
    click.echo(f"forgotten: {found.email}")


@subscribers.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handles_errors
def subscribers_list(obj: Context, as_json: bool) -> None:
    """List subscribers with their topics, schedule and status; sign-ups not confirmed yet
    are listed as pending."""
    with obj.store() as store, store.read() as tx:
        rows = [_row(s) for s in tx.subscribers()]
        known = {row["email"].lower() for row in rows}
        rows += [{"email": p.email, "status": "pending", "topics": list(p.topics),
                  "schedule": p.schedule, "created": p.created.isoformat(),
                  "consent_at": p.created.isoformat(), "consent_ip": p.ip,
                  "confirmed_at": None}
                 for p in tx.pending_signups() if p.email.lower() not in known]
    for row in sorted(rows, key=lambda r: str(r["email"]).lower()):
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(f"{row['email']}\t{row['schedule']}\t{row['status']}\t"
                       f"{','.join(row['topics'])}")


def _row(subscriber: Subscriber) -> dict[str, Any]:
    """What `list` and `export` print of a subscriber."""
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None
    return {"email": subscriber.email, "status": subscriber.status,
            "topics": list(subscriber.topics), "schedule": subscriber.schedule,
            "created": subscriber.created.isoformat(), "consent_at": when(subscriber.consent_at),
            "consent_ip": subscriber.consent_ip, "confirmed_at": when(subscriber.confirmed_at),
            "hard_failures": subscriber.hard_failures}


@subscribers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="re-activate unsubscribed, bounced or complained addresses (logged)")
@click.pass_obj
@handles_errors
def subscribers_import(obj: Context, file: Path, force: bool) -> None:
    """Add subscribers from a CSV file with columns email[,topics[,schedule]].

    Topics inside one cell are separated by ";" (or "," when the cell is quoted). Bad rows,
    and addresses that unsubscribed, bounced or complained, are listed and skipped; the
    others are added or updated.
    """
    import csv
    added = skipped = 0
    with obj.store() as store, file.open(newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.reader(handle), 1):
            if not row or not row[0].strip() or row[0].strip().lower() == "email":
                continue
            try:
                _store_subscriber(
                    store, obj.config, row[0].strip(), row[1] if len(row) > 1 and row[1] else None,
                    row[2].strip() if len(row) > 2 and row[2].strip() else None, force)
            except FeedsError as exc:
                click.echo(f"  line {number}: skipped: {exc.message}")
                skipped += 1
                continue
            added += 1
    click.echo(f"import: {added} added or updated, {skipped} skipped")


@subscribers.command("export")
@click.option("--json", "as_json", is_flag=True, help="one JSON object a line (the default)")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row")
@click.pass_obj
@handles_errors
def subscribers_export(obj: Context, as_json: bool, as_csv: bool) -> None:
    """Everything stored about every subscriber, for a backup or a data request."""
    if as_json and as_csv:
        raise FeedsError("--json and --csv cannot go together")
    with obj.store() as store:
        rows = [_row(s) for s in store.subscribers()]
    if not as_csv:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    import csv
    import io
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["email"])
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "topics": ";".join(row["topics"])})
    click.echo(buffer.getvalue(), nl=False)
