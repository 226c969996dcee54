"""Activity limits (SPEC 14): at most `concurrency` executions of an activity at once and `rate`
starts per period, across every worker, counted in the database under a lock per activity."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef

from durable import db, leases
from durable.models import ActivitySlot, WorkflowInstance

# How soon an activity that found every slot taken looks again (its worker is released meanwhile).
SLOT_POLL = dt.timedelta(seconds=0.2)


def acquire(
    name: str,
    concurrency: int | None,
    rate: tuple[int, float] | None,
    instance_id: str,
    position: int,
    owner: str,
) -> tuple[int | None, dt.datetime | None]:
    """Take a slot for this attempt in a transaction of its own: (slot id, None), or (None, when
    to try again) when the limits are reached."""
    with db.atomic():
        leases.lock_queue(f"activity:{name}")
        moment = db.now()
        if concurrency is not None and in_flight(name, moment) >= concurrency:
            return None, moment + SLOT_POLL
        if rate is not None:
            starts, seconds = rate
            since = moment - dt.timedelta(seconds=seconds)
            ActivitySlot.objects.filter(activity_name=name, started_at__lte=since, ended_at__isnull=False).delete()
            window = ActivitySlot.objects.filter(activity_name=name, started_at__gt=since).order_by("started_at")
            used = window.count()
            if used >= starts:
                first = window.values_list("started_at", flat=True)[used - starts] if starts else moment
                return None, max(first + dt.timedelta(seconds=seconds), moment + dt.timedelta(milliseconds=1))
        else:
            ActivitySlot.objects.filter(activity_name=name, ended_at__isnull=False).delete()
        slot = ActivitySlot.objects.create(
            activity_name=name, instance_id=instance_id, position=position, owner=owner, started_at=moment
        )
        return slot.pk, None


def in_flight(name: str, moment: dt.datetime) -> int:
    """Open slots of the activity whose instance is still held by the worker that took them."""
    held = WorkflowInstance.objects.filter(
        id=OuterRef("instance_id"), lease_owner=OuterRef("owner"), lease_expires_at__gt=moment
    )
    return ActivitySlot.objects.filter(activity_name=name, ended_at__isnull=True).filter(Exists(held)).count()


def release(slot_id: int) -> None:
    """The attempt ended (inside the transaction that records how)."""
    ActivitySlot.objects.filter(pk=slot_id).update(ended_at=db.now())
