"""Benchmark fixtures: many instances already waiting, written in bulk as a suspension writes them.

An instance suspended at its first step holds exactly these rows (read OrmBackend.wait_event and
OrmBackend.suspend_timer in durable/run/backend.py, and journal.open_wait):

- waiting for an event: the instance (status waiting_for_event, no lease, no run_after, the
  `waiting_for` summary), one Wait row per event type with the match key and shape that
  routing computes, and the type's WaitShape row;
- sleeping: the instance (status waiting_for_timer, its summary) and one Timer row.

Neither has history rows, because the wait or the sleep is the workflow's first step. Creating
them through the real worker would take minutes for 100,000; this takes seconds, and the rows are
the same, so a delivery or a timer sweep sees what it would see in production.

On PostgreSQL the tables are then ANALYZEd, as autovacuum does within a minute or so of such an
insert: without statistics the planner briefly prefers the status index and scans every waiting
instance, a transient a long-running database does not have. SQLite gathers no statistics unless
someone runs ANALYZE (or PRAGMA optimize), so there the engine meets its tables as they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import connections

from durable import db
from durable.engine import codec, matching
from durable.engine.types import StepKind, TimerPurpose
from durable.models import Status, Timer, Wait, WaitShape, WorkflowInstance
from durable.run.backend import waiting_summary
from project.bench import workflows

BATCH = 2000
FAR = dt.timedelta(days=30)


def create_waiting(prefix: str, count: int, progress: Callable[[int], None] | None = None) -> int:
    """Insert `count` suspended instances: the first half wait for events, the rest sleep for weeks.

    Each event waiter matches on a distinct key, on the event type the event scenario uses.
    """
    events = count // 2
    made = 0
    for start in range(0, count, BATCH):
        moment = db.now()
        numbers = range(start, min(start + BATCH, count))
        with db.atomic():
            waiters = [n for n in numbers if n < events]
            sleepers = [n for n in numbers if n >= events]
            _event_waiters(prefix, waiters, moment)
            _sleepers(prefix, sleepers, moment)
        made += len(numbers)
        if progress is not None:
            progress(made)
    return made


def _event_waiters(prefix: str, numbers: list[int], moment: dt.datetime) -> None:
    if not numbers:
        return
    instances, waits = [], []
    # Every parked wait matches on the same field, so they share one shape.
    shape, paths = matching.shape_of({workflows.MATCH_FIELD: ""}, None)
    for n in numbers:
        instance_id = f"{prefix}{n:07d}"
        key = f"parked-{n}"
        match = codec.encode({workflows.MATCH_FIELD: key})
        summary = waiting_summary("event", types=[workflows.EVENT_TYPE], match=match, subject=None, timeout_at=None)
        instances.append(
            _instance(instance_id, workflows.parked.name, [key], Status.WAITING_FOR_EVENT, summary, moment)
        )
        waits.append(
            Wait(
                instance_id=instance_id,
                position=0,
                name=workflows.EVENT_TYPE,
                event_type=workflows.EVENT_TYPE,
                match=match,
                subject=None,
                shape=shape,
                match_key=matching.key_of(match, None),
                timeout_at=None,
                created_at=moment,
            )
        )
    WorkflowInstance.objects.bulk_create(instances)
    WaitShape.objects.bulk_create(
        [WaitShape(event_type=workflows.EVENT_TYPE, shape=shape, paths=paths)], ignore_conflicts=True
    )
    Wait.objects.bulk_create(waits)


def _sleepers(prefix: str, numbers: list[int], moment: dt.datetime) -> None:
    if not numbers:
        return
    instances, timers = [], []
    for n in numbers:
        instance_id = f"{prefix}{n:07d}"
        seconds = FAR.total_seconds() + n
        due = moment + dt.timedelta(seconds=seconds)
        summary = waiting_summary("timer", name=StepKind.SLEEP, due_at=due)
        instances.append(
            _instance(instance_id, workflows.far_sleep.name, [seconds], Status.WAITING_FOR_TIMER, summary, moment)
        )
        timers.append(
            Timer(
                instance_id=instance_id,
                position=0,
                purpose=TimerPurpose.SLEEP,
                name=StepKind.SLEEP,
                due_at=due,
                created_at=moment,
            )
        )
    WorkflowInstance.objects.bulk_create(instances)
    Timer.objects.bulk_create(timers)


def _instance(
    instance_id: str, workflow_name: str, args: list, status: str, summary: dict, moment: dt.datetime
) -> WorkflowInstance:
    return WorkflowInstance(
        id=instance_id,
        workflow_name=workflow_name,
        status=status,
        input=codec.encode({"args": args, "kwargs": {}}),
        waiting_for=summary,
        run_after=None,
        lease_owner=None,
        lease_expires_at=None,
        created_at=moment,
        updated_at=moment,
    )


def analyze(models: tuple = ()) -> bool:
    """Refresh the planner's statistics on PostgreSQL (what autovacuum would do); True if it ran."""
    connection = connections[db.alias()]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        for model in models or (WorkflowInstance, Wait, WaitShape, Timer):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return True
