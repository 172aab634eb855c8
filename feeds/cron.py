"""Digest schedules' crontab fields read as crontab reads them, as APScheduler triggers, and
each schedule's next run: pure functions of the configuration, below the store.

The config model checks a schedule's shape (five fields); the values are checked here, by
APScheduler itself, for the commands that use schedules (`feeds run`, `status`, `config`, the
digest commands, a reload): importing APScheduler costs a tenth of a second that `feeds ingest`
or `feeds explain` need not pay.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger

from feeds.config import Config, DigestConfig
from feeds.errors import ConfigError, FeedsError

# APScheduler numbers weekdays from Monday (0) and crontab from Sunday (0 or 7), so numbers are
# handed over as names, which both read alike.
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMERIC_DAY = re.compile(r"(\*|[0-7](?:-[0-7])?)(?:/(\d+))?")
_FIELDS = ("minute", "hour", "day of month", "month", "day of week")


def _crontab_days(part: str) -> str:
    """One comma-separated part of crontab's day-of-week field, as APScheduler names."""
    found = _NUMERIC_DAY.fullmatch(part)
    if found is None and re.fullmatch(r"[\d*/-]+", part):
        raise FeedsError(f"expected days 0-7 (0 and 7 are Sunday) or names such as mon-fri, "
                         f"got {part!r}")
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


def check_schedules(config: Config) -> Config:
    """`config` itself when APScheduler reads every schedule's fields; else a ConfigError
    naming the schedule's key and the field it refuses."""
    for name, digest in config.digests.items():
        try:
            cron_trigger(digest)
        except (ValueError, FeedsError) as exc:
            reason = exc.message if isinstance(exc, FeedsError) else str(exc)
            reason = re.sub(r"^Error validating expression '[^']*': ", "", reason)
            raise ConfigError(f"digests.{name}.cron",
                              f"{_refused_field(digest)}{reason}, got {json.dumps(digest.cron)}",
                              source=config.source.name) from None
    return config


def _refused_field(digest: DigestConfig) -> str:
    """"the hour field: " for the first field APScheduler refuses on its own ("" if none)."""
    fields = digest.cron.split()
    for index, label in enumerate(_FIELDS):
        alone = ["*"] * 5
        alone[index] = fields[index]
        try:
            cron_trigger(digest.model_copy(update={"cron": " ".join(alone)}))
        except (ValueError, FeedsError):
            return f"the {label} field: "
    return ""


def next_runs(digests: Mapping[str, DigestConfig], now: datetime) -> dict[str, datetime | None]:
    """Each schedule's next run after `now`, in UTC (None for a schedule that never fires
    again), for `feeds status` and `/healthz`."""
    found: dict[str, datetime | None] = {}
    for name, digest in digests.items():
        fire = cron_trigger(digest).get_next_fire_time(None, now)
        found[name] = fire.astimezone(UTC) if fire is not None else None
    return found
