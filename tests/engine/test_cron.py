"""Slot computation and Schedule validation (pure: no database, no waiting)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from durable.engine import cron
from durable.exceptions import DefinitionError, InvalidArgument

BERLIN = ZoneInfo("Europe/Berlin")


def _slots(expr: str, zone: str, start: dt.datetime, count: int) -> list[dt.datetime]:
    found = []
    for slot in cron.slots_after(expr, zone, start):
        found.append(slot)
        if len(found) == count:
            return found
    return found


def test_slots__0230_berlin_spring_forward_fires_once_at_the_first_instant_after_the_gap():
    start = dt.datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)
    slots = _slots("30 2 * * *", "Europe/Berlin", start, 2)
    assert [s.astimezone(BERLIN) for s in slots] == [
        dt.datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN),
        dt.datetime(2026, 3, 30, 2, 30, tzinfo=BERLIN),
    ]


def test_slots__0230_berlin_fall_back_fires_once():
    start = dt.datetime(2026, 10, 24, 12, 0, tzinfo=BERLIN)
    slots = _slots("30 2 * * *", "Europe/Berlin", start, 2)
    # 02:30 happens twice on 25 October (CEST then CET): the first, 00:30 UTC, alone fires.
    assert slots == [
        dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 26, 1, 30, tzinfo=dt.UTC),
    ]


def test_slots__hourly_fires_in_each_real_hour_on_fall_back_day():
    start = dt.datetime(2026, 10, 24, 22, 0, tzinfo=dt.UTC)  # 00:00 CEST on 25 October
    slots = _slots("30 * * * *", "Europe/Berlin", start, 6)
    # 00:30, 01:30, 02:30 CEST, 02:30 CET, 03:30, 04:30: six real hours, one slot each.
    assert slots == [dt.datetime(2026, 10, 24, 22, 30, tzinfo=dt.UTC) + dt.timedelta(hours=h) for h in range(6)]
    local = [s.astimezone(BERLIN).strftime("%H:%M%z") for s in slots]
    assert local == ["00:30+0200", "01:30+0200", "02:30+0200", "02:30+0100", "03:30+0100", "04:30+0100"]


def test_slots__stepped_hours_fire_in_each_real_hour_on_fall_back_day():
    start = dt.datetime(2026, 10, 24, 23, 0, tzinfo=dt.UTC)  # 01:00 CEST
    slots = _slots("0 */1 * * *", "Europe/Berlin", start, 3)
    assert [s.astimezone(BERLIN).strftime("%H:%M%z") for s in slots] == ["02:00+0200", "02:00+0100", "03:00+0100"]


def test_slots__six_fields_take_seconds_first():
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert _slots("*/2 * * * * *", "UTC", start, 2) == [start + dt.timedelta(seconds=s) for s in (2, 4)]


def test_due_slots__from_a_missed_slot_to_now_inclusive_keeping_the_latest():
    first = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    now = dt.datetime(2026, 12, 1, 3, 3, tzinfo=dt.UTC)
    assert cron.due_slots("* * * * *", "UTC", first, now, 10) == [first + dt.timedelta(minutes=m) for m in range(4)]
    assert cron.due_slots("* * * * *", "UTC", first, now, 2) == [first + dt.timedelta(minutes=m) for m in (2, 3)]
    assert cron.due_slots("* * * * *", "UTC", now + dt.timedelta(minutes=1), now, 10) == []


def test_latest_slot__at_or_before_now_even_years_back():
    now = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    assert cron.latest_slot("0 3 * * *", "UTC", now) == now
    assert cron.latest_slot("0 3 * * *", "UTC", now - dt.timedelta(microseconds=1)) == now - dt.timedelta(days=1)
    assert cron.latest_slot("0 0 1 1 *", "Europe/Berlin", now) == dt.datetime(2025, 12, 31, 23, 0, tzinfo=dt.UTC)


def test_instance_id__name_at_slot_in_utc_to_the_second():
    slot = dt.datetime(2026, 12, 1, 4, 0, tzinfo=BERLIN)
    assert cron.instance_id("nightly", slot) == "nightly@2026-12-01T03:00:00Z"


def test_describe__cron_in_words():
    assert cron.describe("0 3 * * 1-5") == "At 03:00 AM, Monday through Friday"


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"cron": "61 * * * *"}, "Invalid cron"),
        ({"cron": "* * *"}, "Invalid cron"),
        ({"cron": ""}, "cron must be"),
        ({"cron": "0 3 30 2 *"}, "Invalid cron"),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "Unknown timezone"),
        ({"cron": "0 3 * * *", "overlap": "queue"}, "overlap must be"),
        ({"cron": "0 3 * * *", "catchup": "some"}, "catchup must be"),
        ({"cron": "0 3 * * *", "catchup_window": 0}, "catchup_window must be positive"),
        ({"cron": "0 3 * * *", "name": ""}, "non-empty"),
        ({"cron": "0 3 * * *", "name": "x" * 151}, "at most 150"),
        ({"cron": "0 3 * * *", "name": "two words"}, "is invalid"),
    ],
)
def test_schedule__bad_options_are_a_definition_error(options, says):
    with pytest.raises(DefinitionError, match=says):
        cron.Schedule(**options)


def test_check_name__is_an_invalid_argument_at_runtime():
    with pytest.raises(InvalidArgument, match="at most 150"):
        cron.check_name("n" * 151)
    assert cron.check_name("nightly-report.v2") == "nightly-report.v2"
