"""Firing cron schedules: start the instance of each due slot once, by its overlap and catchup rules."""

from __future__ import annotations

import datetime as dt
import logging

from durable import db, sagas, transitions
from durable.conf import settings
from durable.engine import codec, cron
from durable.engine.registry import registry
from durable.models import TERMINAL, Schedule, WorkflowInstance

logger = logging.getLogger(__name__)

FIRE_BATCH = 200
# "all" starts at most this many missed slots at once; older ones are dropped (and logged).
MAX_CATCHUP = 1000
# A row that cannot fire (its workflow gone, say) is looked at again this much later.
RETRY_BAD_ROW = dt.timedelta(minutes=1)


def next_slot_at() -> dt.datetime | None:
    """When the earliest active schedule's next slot is (an index lookup)."""
    row = Schedule.objects.filter(next_slot_at__isnull=False, paused=False).order_by("next_slot_at").first()
    return row.next_slot_at if row is not None else None


def look(ahead: dt.datetime) -> dt.datetime | None:
    """What the timer loop does at each look: fire due slots and release buffered ones (index
    lookups when there are none, however many schedules exist); return the next slot."""
    slot = next_slot_at()
    if (slot is not None and slot <= ahead) or has_buffered():
        fire_due(ahead)
        slot = next_slot_at()
    return slot


def has_buffered() -> bool:
    """Whether a buffer_one schedule holds a slot for when its running instance ends."""
    return Schedule.objects.buffered().exists()


def fire_due(now: dt.datetime | None = None, limit: int = FIRE_BATCH) -> int:
    """Fire the schedules with a slot due by `now` and release buffered slots; return the runs started.

    Each row is locked (skipped if another worker holds it, on PostgreSQL) and its next_slot_at
    advanced in the transaction that starts its instances; the slot's instance id makes a
    second start of the same slot a no-op whatever happens.
    """
    now = now or db.now()
    started = 0
    with db.atomic():
        rows = Schedule.objects.due(now)
        if db.is_postgres():
            rows = rows.select_for_update(skip_locked=True)
        for row in list(rows[:limit]):
            started += _guarded(row, now, fire_row)
        buffered = Schedule.objects.buffered()
        if db.is_postgres():
            buffered = buffered.select_for_update(skip_locked=True)
        for row in list(buffered[:limit]):
            started += _guarded(row, now, release_buffered)
    return started


def _guarded(row: Schedule, now: dt.datetime, step) -> int:
    """Run `step` on one row in a savepoint; a bad row is logged and put off, never stops the others."""
    try:
        with db.atomic():
            return step(row, now)
    except Exception:
        logger.exception(
            "schedule could not fire; it is tried again later",
            extra={"schedule": row.name, "workflow_name": row.workflow_name},
        )
        Schedule.objects.filter(name=row.name).update(next_slot_at=now + RETRY_BAD_ROW, updated_at=now)
        return 0


def fire_row(row: Schedule, now: dt.datetime) -> int:
    """Start the runs of this row's due slots and advance it to its next slot."""
    registry.workflow(row.workflow_name)  # WorkflowNotFound for a workflow gone from the code
    slots = pick_slots(row, now)
    started = sum(start_slot(row, slot, now) for slot in slots)
    row.next_slot_at = cron.next_slot(row.cron, row.timezone, now)
    row.updated_at = now
    row.save(update_fields=["next_slot_at", "last_slot_at", "last_instance_id", "buffered_slot_at", "updated_at"])
    return started


def pick_slots(row: Schedule, now: dt.datetime) -> list[dt.datetime]:
    """The slots to run by the catchup rule: the latest due, each within the window, or only an on-time one."""
    first = row.next_slot_at or now
    if row.catchup == "all":
        since = max(first, now - row.catchup_window)
        return cron.due_slots(row.cron, row.timezone, since, now, MAX_CATCHUP)
    latest = cron.latest_slot(row.cron, row.timezone, now)
    if latest < first:
        latest = first
    if row.catchup == "none" and (now - latest).total_seconds() > float(settings.SCHEDULE_LATENESS):
        logger.info(
            "schedule skipped missed slots (catchup none)",
            extra={"schedule": row.name, "workflow_name": row.workflow_name, "slot": latest.isoformat()},
        )
        return []
    return [latest]


def start_slot(row: Schedule, slot: dt.datetime, now: dt.datetime) -> int:
    """Start the slot's run as the overlap rule says; 1 when an instance was inserted."""
    previous = row.last_instance_id
    running = _active(previous)
    if running and row.overlap == "skip":
        logger.info("schedule slot skipped: the previous run is active", extra=_extra(row, previous, slot))
        return 0
    if running and row.overlap == "buffer_one":
        row.buffered_slot_at = slot  # a later slot replaces the waiting one: at most one waits
        return 0
    if running and row.overlap == "cancel_other" and previous is not None:
        sagas.cancel(previous, f"Cancelled by schedule {row.name}: the slot {slot.isoformat()} started.")
    return start_run(row, slot, now)


def start_run(row: Schedule, slot: dt.datetime, now: dt.datetime) -> int:
    """Insert the slot's instance "<name>@<slot>" (a no-op if it exists) and make it the row's last."""
    instance_id = cron.instance_id(row.name, slot)
    inputs = codec.encode({"args": list(row.args), "kwargs": row.kwargs}, where=f"input of schedule '{row.name}'")
    # Recorded at the real moment (never before the slot): created_at - scheduled_at is the lateness.
    moment = max(db.now(), slot)
    created = transitions.start(
        instance_id, row.workflow_name, inputs, moment, schedule_name=row.name, scheduled_at=slot
    )
    row.last_slot_at, row.last_instance_id = slot, instance_id
    if created:
        db.request_run()
        logger.info("schedule fired", extra=_extra(row, instance_id, slot) | {"late_ms": _late_ms(slot)})
    return int(created)


def release_buffered(row: Schedule, now: dt.datetime) -> int:
    """Start the buffered slot once the run it waited for has ended."""
    if _active(row.last_instance_id):
        return 0
    slot = row.buffered_slot_at
    row.buffered_slot_at = None
    started = start_run(row, slot, now) if slot is not None else 0
    row.updated_at = now
    row.save(update_fields=["last_slot_at", "last_instance_id", "buffered_slot_at", "updated_at"])
    return started


def _active(instance_id: str | None) -> bool:
    if instance_id is None:
        return False
    return WorkflowInstance.objects.filter(id=instance_id).exclude(status__in=TERMINAL).exists()


def _late_ms(slot: dt.datetime) -> float:
    return round((db.now() - slot).total_seconds() * 1000, 1)


def _extra(row: Schedule, instance_id: str | None, slot: dt.datetime) -> dict:
    slot_at = slot.isoformat()
    return {"schedule": row.name, "workflow_name": row.workflow_name, "instance_id": instance_id, "slot": slot_at}
