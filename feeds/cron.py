"""Digest schedules' crontab fields read as crontab reads them, as APScheduler triggers, and
each schedule's next run: pure functions of the configuration, below the store."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger

from feeds.config import DigestConfig
from feeds.errors import FeedsError

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


def next_runs(digests: Mapping[str, DigestConfig], now: datetime) -> dict[str, datetime | None]:
    """Each schedule's next run after `now`, in UTC (None for a schedule that never fires
    again), for `feeds status` and `/healthz`."""
    found: dict[str, datetime | None] = {}
    for name, digest in digests.items():
        fire = cron_trigger(digest).get_next_fire_time(None, now)
        found[name] = fire.astimezone(UTC) if fire is not None else None
    return found
