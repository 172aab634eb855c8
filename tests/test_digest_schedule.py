"""The digest schedule's catch-up rule, on a real store: a daemon coming back runs a schedule's
latest slot once if that schedule ran here before and the slot is within its grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from feeds.config import DigestConfig, load_config
from feeds.cron import cron_trigger
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


@pytest.mark.parametrize(("cron", "weekdays"), [
    ("0 7 * * 1", {"Monday"}),
    ("* * * * 0", {"Sunday"}),
    ("* * * * 7", {"Sunday"}),
    ("0 7 * * 1-5", {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}),
    ("0 7 * * 5-7", {"Friday", "Saturday", "Sunday"}),
    ("0 7 * * 1,3", {"Monday", "Wednesday"}),
    ("0 7 * * */3", {"Sunday", "Wednesday", "Saturday"}),
    ("0 7 * * mon,fri", {"Monday", "Friday"}),
])
def test_cron_weekdays_are_read_as_crontab_reads_them(cron: str, weekdays: set[str]) -> None:
    # in a zone far from UTC, so a slot computed in UTC would land on the wrong day
    digest = DigestConfig(cron=cron, timezone="Pacific/Auckland")
    trigger = cron_trigger(digest)
    zone = ZoneInfo("Pacific/Auckland")
    fire = trigger.get_next_fire_time(None, datetime(2025, 6, 29, 12, 0, tzinfo=UTC))
    seen = set()
    for _ in range(30):
        assert fire is not None
        seen.add(fire.astimezone(zone).strftime("%A"))
        fire = trigger.get_next_fire_time(fire, fire + timedelta(hours=23))
    assert seen == weekdays


def test_a_schedule_field_out_of_range_is_a_config_error_naming_key_and_field(env: Env) -> None:
    """Five fields pass the config model; their values are checked as the scheduler reads
    them by every command that uses schedules, before it does anything."""
    env.write_config(digests={"daily": {"cron": "0 25 * * *"}})
    expected = ('config.toml: digests.daily.cron: the hour field: the last value (25) is higher '
                'than the maximum value (23), got "0 25 * * *"')
    for command in (["status"], ["config"], ["run"], ["digest", "send", "--all", "--dry-run"]):
        result = env.feeds(*command, check=False)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert result.stderr.splitlines()[0] == f"feeds: {expected}", (command, result.stderr)
        assert "Traceback" not in result.stderr
    env.write_config(digests={"daily": {"cron": "0 7 * * 9"}})
    weekday = env.feeds("status", check=False)
    assert weekday.returncode == 2
    assert ("digests.daily.cron: the day of week field: expected days 0-7 (0 and 7 are Sunday) "
            "or names such as mon-fri, got '9'") in weekday.stderr
    assert env.feeds("ingest", check=False).returncode == 0  # no schedule used, none checked
