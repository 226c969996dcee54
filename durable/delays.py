"""Starting later (SPEC 13): delayed starts (start_at / start_in) and debounced starts per key."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from durable import db, transitions
from durable.exceptions import DurableError, InvalidArgument
from durable.models import Status, WorkflowInstance, new_instance_id

logger = logging.getLogger(__name__)

# The longest delay or debounce accepted (later than this is a mistake, and dates must stay in range).
LONGEST = dt.timedelta(days=366 * 100)
# A debounced call that loses the race to open a key's window moves the winner's instead; one
# retry suffices (the window is open once the winner commits), a few absorb a window that closed.
ATTEMPTS = 3


def _seconds(value: Any, name: str) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        delta = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            delta = dt.timedelta(seconds=value)
        except OverflowError:
            raise InvalidArgument(f"{name}={value!r} is too large.") from None
    else:
        raise InvalidArgument(f"{name} takes seconds (a number) or a timedelta, not {type(value).__name__}.")
    if delta > LONGEST:
        raise InvalidArgument(f"{name}={value!r} is more than 100 years.")
    return delta


def start_time(start_at: Any, start_in: Any, now: dt.datetime) -> dt.datetime | None:
    """When a delayed start is due (None: now, also for a time already past). Raises InvalidArgument
    for anything else."""
    due = _start_time(start_at, start_in, now)
    return due if due is not None and due > now else None


def _start_time(start_at: Any, start_in: Any, now: dt.datetime) -> dt.datetime | None:
    if start_at is not None and start_in is not None:
        raise InvalidArgument("Give start_at or start_in, not both.")
    if start_at is not None:
        if not isinstance(start_at, dt.datetime):
            raise InvalidArgument(f"start_at takes an aware datetime, not {type(start_at).__name__}.")
        if start_at.tzinfo is None or start_at.utcoffset() is None:
            raise InvalidArgument("start_at must be timezone-aware (e.g. django.utils.timezone.now() + ...).")
        try:
            return start_at.astimezone(dt.UTC)
        except OverflowError:
            # Within a day of the calendar's ends: the first is long past, the last as good as never.
            edge = dt.datetime.max if start_at.year == dt.MAXYEAR else dt.datetime.min
            return edge.replace(tzinfo=dt.UTC)
    if start_in is not None:
        delay = _seconds(start_in, "start_in")
        if delay < dt.timedelta(0):
            raise InvalidArgument(f"start_in must not be negative, not {start_in!r}.")
        return now + delay
    return None


def window(debounce: Any, debounce_max: Any, business_key: str | None) -> tuple[dt.timedelta, dt.timedelta | None]:
    """The quiet time and the cap of a debounced start. Raises InvalidArgument for bad values."""
    if business_key is None:
        raise InvalidArgument("debounce needs a business_key: calls are debounced per workflow and key.")
    quiet = _seconds(debounce, "debounce")
    if quiet <= dt.timedelta(0):
        raise InvalidArgument(f"debounce must be more than 0 seconds, not {debounce!r}.")
    if debounce_max is None:
        return quiet, None
    most = _seconds(debounce_max, "debounce_max")
    if most < quiet:
        raise InvalidArgument("debounce_max must be at least debounce: it caps how far the start moves back.")
    return quiet, most


def debounced_start(
    workflow_name: str,
    inputs: dict,
    key: str,
    quiet: dt.timedelta,
    most: dt.timedelta | None,
    *,
    queue: str | None = None,
    priority: int = 0,
) -> tuple[str, bool]:
    """Open the key's debounce window, or move the open one: (instance id, whether it was created).

    The window is the one pending, debounced instance of the workflow and key, unique in the
    database, so calls from any number of processes at once share one instance.
    """
    for _ in range(ATTEMPTS):
        now = db.now()
        with db.atomic():
            open_ = WorkflowInstance.objects.filter(
                workflow_name=workflow_name, business_key=key, status=Status.PENDING, debounced=True
            )
            if db.is_postgres():
                open_ = open_.select_for_update()
            found = open_.values_list("id", "waiting_for").first()
            if found is None:
                latest = now + most if most is not None else None
            else:
                latest_text = (found[1] or {}).get("latest_at")
                latest = dt.datetime.fromisoformat(latest_text) if latest_text else None
            due = now + quiet if latest is None else min(now + quiet, latest)
            said = transitions.start_summary(due, latest, debounced=True)
            if found is None:
                instance_id = new_instance_id()
                if transitions.start(
                    instance_id,
                    workflow_name,
                    inputs,
                    now,
                    key,
                    start_at=due,
                    waiting_for=said,
                    debounced=True,
                    queue=queue,
                    priority=priority,
                ):
                    return instance_id, True
                continue  # another process opened it first: move that one
            if transitions.move_start(found[0], inputs, due, said, now):
                logger.debug("debounced start moved", extra={"instance_id": found[0], "workflow": workflow_name})
                return found[0], False
    raise DurableError(
        f"Could not open or move the debounce window of '{workflow_name}' for key {key!r}: it kept "
        "changing under concurrent calls. Try again."
    )
