"""When digests go out: a schedule's cron trigger in its own timezone, the slot a run belongs
to, and which slots a daemon that was down runs when it comes back."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from feeds.config import Config, DigestConfig
from feeds.errors import FeedsError
from feeds.store import Store


def schedule_named(config: Config, name: str) -> DigestConfig:
    try:
        return config.digests[name]
    except KeyError:
        raise FeedsError(f"no digest schedule named {name!r}",
                         hint=f"configured: {', '.join(config.digests) or 'none'}") from None


# APScheduler numbers weekdays from Monday (0) and crontab from Sunday (0 or 7), so numbers are
# handed over as names, which both read alike.
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMERIC_DAY = re.compile(r"(\*|[0-7](?:-[0-7])?)(?:/(\d+))?")


def _crontab_days(part: str) -> str:
    """One comma-separated part of crontab's day-of-week field, as APScheduler names."""
    found = _NUMERIC_DAY.fullmatch(part)
    if found is None:
        return part  # a name ("mon", "mon-fri"): APScheduler reads those as crontab does
    span, step = found.group(1), int(found.group(2) or 1)
    if step < 1:
        raise FeedsError(f"a cron day-of-week step must be at least 1: {part!r}")
    if span == "*":
        if step == 1:
            return "*"
        first, last = 0, 6
    else:
        first_text, _, last_text = span.partition("-")
        first = int(first_text)
        last = int(last_text) if last_text else (6 if found.group(2) else first)
    if last < first:
        raise FeedsError(f"a cron day-of-week range must go upwards: {part!r}")
    days = sorted({day % 7 for day in range(first, last + 1, step)})
    return ",".join(_WEEKDAYS[day] for day in days)


def cron_trigger(digest: DigestConfig) -> CronTrigger:
    """The schedule's trigger, reading the five fields as crontab does (day of week 0 and 7
    are Sunday, 1 Monday)."""
    minute, hour, day, month, weekday = digest.cron.split()
    days = ",".join(_crontab_days(part) for part in weekday.split(","))
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=days,
                       timezone=digest.timezone)


def latest_slot(digest: DigestConfig, now: datetime) -> datetime | None:
    """The most recent scheduled time at or before `now`, within the schedule's grace."""
    trigger = cron_trigger(digest)
    earliest = now - timedelta(seconds=digest.grace_seconds)
    slot = None
    fire = trigger.get_next_fire_time(None, earliest)
    while fire is not None and fire <= now:
        slot = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return slot.astimezone(UTC) if slot is not None else None


def missed_slots(digests: Mapping[str, DigestConfig], store: Store,
                 now: datetime) -> list[tuple[str, datetime]]:
    """The schedules to run at start-up, each with its latest slot: a slot missed while the
    daemon was down runs once (not once per missed slot), if still within its grace. A
    schedule that never ran here is left to its next slot, so a new installation does not
    send at once."""
    missed = []
    for name, digest in digests.items():
        if store.last_slot(name) is None:
            continue
        slot = latest_slot(digest, now)
        if slot is not None:
            missed.append((name, slot))
    return missed

