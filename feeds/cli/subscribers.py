"""`feeds subscribers`: add, remove, list and import digest subscribers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from feeds.cli.context import Context, handles_errors
from feeds.errors import FeedsError

if TYPE_CHECKING:
    from feeds.config import Config


@click.group()
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
