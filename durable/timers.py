"""Fire due timers, and the recovery sweep: lost wake-ups, undelivered events, expired events."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from durable import routing, store
from durable.conf import settings
from durable.engine.types import COMPLETED, SLEEP, TIMED_OUT, TIMER_SLEEP, TIMER_TIMEOUT, WAIT_EVENT
from durable.models import Delivery, Event, HistoryStep, Timer, Wait, WorkflowInstance

logger = logging.getLogger(__name__)

FIRE_BATCH = 500
RECOVERY_GRACE = dt.timedelta(seconds=1)


def next_due() -> dt.datetime | None:
    """When the earliest timer is due (an index lookup)."""
    return Timer.objects.order_by("due_at").values_list("due_at", flat=True).first()


def fire_due(limit: int = FIRE_BATCH) -> int:
    """Fire timers that are due: record the sleep or the timeout, wake the instance.

    A wait timeout and an event race to delete the wait rows; whoever deletes them resolves
    the wait, so each wait ends exactly one way.
    """
    moment = store.now()
    with store.atomic():
        due = Timer.objects.due(moment)
        if store.is_postgres():
            due = due.select_for_update(skip_locked=True)
        timers = list(due.values_list("id", "instance_id", "position", "purpose", "name")[:limit])
        if not timers:
            return 0
        if store.is_postgres():
            # Instance rows before wait rows, as cancel and dispatch lock them; skip busy ones.
            ids = sorted({t[1] for t in timers})
            free = WorkflowInstance.objects.filter(id__in=ids).order_by("id").select_for_update(skip_locked=True)
            held = set(free.values_list("id", flat=True))
            timers = [t for t in timers if t[1] in held]
        steps, woken = [], set()
        for _timer_id, instance_id, position, purpose, name in timers:
            if purpose == TIMER_SLEEP:
                steps.append(
                    HistoryStep(
                        instance_id=instance_id,
                        position=position,
                        kind=SLEEP,
                        name=SLEEP,
                        status=COMPLETED,
                        recorded_at=moment,
                    )
                )
            elif purpose == TIMER_TIMEOUT:
                deleted, _ = Wait.objects.filter(instance_id=instance_id, position=position).delete()
                if not deleted:
                    continue
                steps.append(
                    HistoryStep(
                        instance_id=instance_id,
                        position=position,
                        kind=WAIT_EVENT,
                        name=name,
                        status=TIMED_OUT,
                        recorded_at=moment,
                    )
                )
            woken.add(instance_id)
        HistoryStep.objects.bulk_create(steps, ignore_conflicts=True)
        Timer.objects.filter(id__in=[t[0] for t in timers]).delete()
        store.wake(woken, moment, waiting_for=None)
        if woken:
            store.request_run()
    if timers:
        logger.debug("timers fired", extra={"count": len(timers), "woken": len(woken)})
    return len(timers)


@dataclass
class SweepReport:
    fired: int = 0
    requeued: bool = False
    redelivered: int = 0
    purged: int = 0


def recover() -> SweepReport:
    """Re-request work nobody holds, deliver events a dead process stored but never delivered,
    and forget events past DURABLE_EVENT_RETENTION."""
    report = SweepReport()
    moment = store.now()
    stale = moment - RECOVERY_GRACE
    if store.has_stale_work(stale):
        report.requeued = True
        store.request_run(force=True)
    leftovers = Event.objects.filter(dispatched_at__isnull=True, received_at__lt=stale).order_by("seq")
    for seq in leftovers.values_list("seq", flat=True)[:500]:
        routing.deliver(seq)
        report.redelivered += 1
    cutoff = moment - settings.event_retention
    old = list(Event.objects.filter(received_at__lt=cutoff).values_list("seq", flat=True)[:1000])
    if old:
        with store.atomic():
            Delivery.objects.filter(event_id__in=old).delete()
            Event.objects.filter(seq__in=old).delete()
        report.purged = len(old)
    return report


def sweep() -> SweepReport:
    """One full sweep: fire every due timer, then recover."""
    fired = 0
    while True:
        count = fire_due()
        fired += count
        if count < FIRE_BATCH:
            break
    report = recover()
    report.fired = fired
    return report
