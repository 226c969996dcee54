"""Cron schedules as values: durable.Schedule, its validation, and the slots a cron gives in a timezone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from durable.exceptions import DefinitionError, InvalidArgument

OVERLAPS = ("skip", "buffer_one", "allow", "cancel_other")
CATCHUPS = ("latest", "all", "none")
DEFAULT_CATCHUP_WINDOW = dt.timedelta(days=1)
# A schedule name ends up in instance ids ("<name>@<slot>"), which are at most 200 characters;
# the slot part takes 21 of them.
MAX_NAME = 150
NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:+=-")
# "nightly@2026-12-01T03:00:00Z": the slot in UTC to the second, the form of every scheduled id.
SLOT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Schedule:
    """When a workflow starts by itself: a cron read in a timezone.

    Args:
        cron: five fields (minute hour day month weekday), or six with seconds first.
        timezone: an IANA zone name ("Europe/Berlin") the cron is read in.
        args: positional inputs of each run (JSON).
        kwargs: keyword inputs of each run (JSON).
        overlap: "skip" (no new run while the previous is active), "buffer_one" (at most one
            waits for it), "allow", or "cancel_other" (the previous is cancelled).
        catchup: after downtime, "latest" (one run for the missed slots), "all" (each missed slot
            within `catchup_window`) or "none".
        name: a unique name; by default the workflow's (suffixed "-2", "-3" for later ones).
        catchup_window: how far back "all" reaches (a timedelta or seconds; one day by default).
    """

    cron: str
    timezone: str = "UTC"
    args: tuple | list = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    overlap: str = "skip"
    catchup: str = "latest"
    name: str | None = None
    catchup_window: dt.timedelta | int | float = DEFAULT_CATCHUP_WINDOW

    def __post_init__(self) -> None:
        try:
            check(self)
        except InvalidArgument as exc:
            raise DefinitionError(str(exc)) from None

    @property
    def window(self) -> dt.timedelta:
        """The catchup window as a timedelta."""
        value = self.catchup_window
        return value if isinstance(value, dt.timedelta) else dt.timedelta(seconds=value)


def check(schedule: Schedule) -> None:
    """Refuse a schedule that cannot be stored or run.

    Raises:
        InvalidArgument: an invalid cron, an unknown timezone, a bad overlap, catchup, window or name.
    """
    zone = zone_of(schedule.timezone)
    check_cron(schedule.cron, zone)
    if schedule.name is not None:
        check_name(schedule.name)
    if schedule.overlap not in OVERLAPS:
        raise InvalidArgument(f"overlap must be one of {', '.join(OVERLAPS)}, not {schedule.overlap!r}.")
    if schedule.catchup not in CATCHUPS:
        raise InvalidArgument(f"catchup must be one of {', '.join(CATCHUPS)}, not {schedule.catchup!r}.")
    window = schedule.catchup_window
    if isinstance(window, bool) or not isinstance(window, dt.timedelta | int | float):
        raise InvalidArgument(f"catchup_window must be a timedelta or seconds, not {window!r}.")
    if schedule.window <= dt.timedelta(0):
        raise InvalidArgument(f"catchup_window must be positive, not {window!r}.")
    if not isinstance(schedule.args, tuple | list) or not isinstance(schedule.kwargs, dict):
        raise InvalidArgument("A schedule's args must be a list or tuple and its kwargs a dict.")


def check_name(name: Any) -> str:
    """The name, if it can be a schedule's (it becomes the start of instance ids).

    Raises:
        InvalidArgument: not a string of 1-150 letters, digits and . _ : + = -.
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"A schedule name must be a non-empty string, not {name!r}.")
    if len(name) > MAX_NAME:
        raise InvalidArgument(f"A schedule name has at most {MAX_NAME} characters; {name[:20]!r}... has {len(name)}.")
    if not set(name) <= NAME_CHARACTERS or not name[0].isalnum():
        raise InvalidArgument(
            f"Schedule name {name!r} is invalid: use letters, digits and . _ : + = -, starting with a letter or digit."
        )
    return name


def zone_of(name: Any) -> ZoneInfo:
    """The zone of an IANA name.

    Raises:
        InvalidArgument: not a known timezone.
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise InvalidArgument(f"timezone must be an IANA zone name such as 'Europe/Berlin', not {name!r}.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(f"Unknown timezone {name!r}: use an IANA zone name such as 'Europe/Berlin'.") from None


def check_cron(cron: Any, zone: ZoneInfo | None = None) -> str:
    """The cron, if cronsim can read it and it has a next slot.

    Raises:
        InvalidArgument: not five or six fields cron can read.
    """
    if not isinstance(cron, str) or not cron.strip():
        raise InvalidArgument(f"cron must be a string such as '0 3 * * *', not {cron!r}.")
    try:
        next(CronSim(cron, dt.datetime(2026, 1, 1, tzinfo=zone or dt.UTC)))
    except (CronSimError, StopIteration, ValueError) as exc:
        raise InvalidArgument(f"Invalid cron {cron!r}: {exc or 'it never fires'}.") from None
    return cron


def slots_after(cron: str, timezone: str, moment: dt.datetime) -> Iterator[dt.datetime]:
    """The slots strictly after `moment`, in UTC, in order (Debian cron's DST rules, by cronsim)."""
    zone = zone_of(timezone)
    start = moment.astimezone(zone)
    for slot in CronSim(cron, start):
        yield slot.astimezone(dt.UTC)


def next_slot(cron: str, timezone: str, moment: dt.datetime) -> dt.datetime:
    """The first slot strictly after `moment`, in UTC."""
    return next(slots_after(cron, timezone, moment))


def due_slots(cron: str, timezone: str, start: dt.datetime, now: dt.datetime, limit: int) -> list[dt.datetime]:
    """The slots from `start` to `now`, both inclusive, in order, at most the `limit` latest."""
    found: list[dt.datetime] = []
    # cronsim starts strictly after its start once the microseconds are dropped: a slot at
    # `start` itself is kept by starting just before it.
    for slot in slots_after(cron, timezone, start - dt.timedelta(microseconds=1)):
        if slot > now:
            break
        found.append(slot)
        if len(found) > limit:
            del found[0]
    return found


def latest_slot(cron: str, timezone: str, now: dt.datetime) -> dt.datetime:
    """The last slot at or before `now`, in UTC (searched backwards, so a long downtime costs nothing)."""
    # cronsim's reverse search is strictly before its start, once the microseconds are dropped.
    start = (now + dt.timedelta(microseconds=1)).astimezone(zone_of(timezone))
    return next(CronSim(cron, start, reverse=True)).astimezone(dt.UTC)


def instance_id(name: str, slot: dt.datetime) -> str:
    """The id of the instance a slot starts: "nightly@2026-12-01T03:00:00Z"."""
    return f"{name}@{slot.astimezone(dt.UTC).strftime(SLOT_FORMAT)}"


def describe(cron: str) -> str:
    """The cron in words ("At 03:00 AM"), or the cron itself when cron-descriptor cannot say."""
    from cron_descriptor import Options, get_description

    # Its defaults follow the process's locale (24-hour under "C"): the viewer's words do not.
    options = Options(locale_code="en_US", use_24hour_time_format=False)
    try:
        return str(get_description(cron, options))
    except Exception:  # noqa: BLE001 - words are a nicety; the cron itself is always shown
        return cron
