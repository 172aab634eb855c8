"""The digest schedule's catch-up rule, on a real store: a daemon coming back runs a schedule's
latest slot once if that schedule ran here before and the slot is within its grace."""

from __future__ import annotations

from datetime import UTC, datetime

from feeds.config import DigestConfig, load_config
from feeds.digest.schedule import missed_slots
from feeds.store import Store
from tests.conftest import Env


def test_only_schedules_that_ran_before_catch_up_and_only_within_grace(env: Env) -> None:
    digests = {
        "daily": DigestConfig(cron="0 7 * * *", timezone="UTC", grace_seconds=3600),
        "weekly": DigestConfig(cron="0 7 * * mon", timezone="UTC", grace_seconds=3600),
        "new": DigestConfig(cron="0 7 * * *", timezone="UTC", grace_seconds=3600),
    }
    now = datetime(2025, 7, 1, 7, 30, tzinfo=UTC)  # a Tuesday, half an hour after 07:00
    store = Store.for_config(load_config(env.config))
    try:
        assert missed_slots(digests, store, now) == []  # a new installation sends nothing
        with store.claims() as claims:
            for name in ("daily", "weekly"):
                slot = "2025-06-30T07:00:00+00:00"
                assert store.claim_slot(claims, name, slot, now)
                store.finish_slot(name, slot, now)
        # daily's 07:00 is within its grace; weekly's last slot (Monday) is not; "new" never ran
        assert missed_slots(digests, store, now) == [
            ("daily", datetime(2025, 7, 1, 7, 0, tzinfo=UTC))]
        assert missed_slots(digests, store, datetime(2025, 7, 1, 9, 0, tzinfo=UTC)) == []
    finally:
        store.close()
