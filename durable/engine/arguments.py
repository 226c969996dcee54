"""Checks of what a workflow author passes to a step: durations, event types, match and subject."""

from __future__ import annotations

import datetime as dt
from typing import Any

from durable.exceptions import InvalidArgument


def to_seconds(value: float | int | dt.timedelta, what: str) -> float:
    """Seconds from a number or a timedelta; negative or non-numeric values are refused."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidArgument(f"{what} must be seconds or a timedelta, not {value!r}.")
    if seconds < 0 or seconds != seconds:
        raise InvalidArgument(f"{what} must not be negative, got {value!r}.")
    return seconds


def event_filter(what: str, event_type: Any, match: Any, subject: Any) -> list[str]:
    """The event types of a wait (`what` names the call in errors), its match and subject checked."""
    types = [event_type] if isinstance(event_type, str) else list(event_type)
    if not types or not all(isinstance(t, str) and t for t in types):
        raise InvalidArgument(f"{what} needs one or more event type strings, not {event_type!r}.")
    if match is not None and (not isinstance(match, dict) or not all(isinstance(k, str) and k for k in match)):
        raise InvalidArgument(f"{what} match must be a dict of field paths to values, not {match!r}.")
    if subject is not None and not isinstance(subject, str):
        raise InvalidArgument(f"{what} subject must be a str, not {subject!r}.")
    return types
