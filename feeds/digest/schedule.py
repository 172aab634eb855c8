"""When digests go out: a schedule's cron trigger in its own timezone, the slot a run belongs
to, and which slots a daemon that was down runs when it comes back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from feeds.config import Config, DigestConfig
from feeds.cron import cron_trigger
from feeds.errors import FeedsError
from feeds.store import Store


def schedule_named(config: Config, name: str) -> DigestConfig:
    try:
        return config.digests[name]
    except KeyError:
        raise FeedsError(f"no digest schedule named {name!r}",
                         hint=f"configured: {', '.join(config.digests) or 'none'}") from None


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


