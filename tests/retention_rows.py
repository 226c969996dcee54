"""Rows for the retention tests: ended and active instances of any age, each owning a row in every table it can."""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone

from durable.engine.types import StepKind, TimerPurpose
from durable.models import (
    Delivery,
    Event,
    EventKey,
    HistoryStep,
    PublishedValue,
    Status,
    Timer,
    Wait,
    WorkflowInstance,
)

# What census() counts: every table a purge may delete from.
TABLES = {
    "instance": WorkflowInstance,
    "history": HistoryStep,
    "wait": Wait,
    "timer": Timer,
    "value": PublishedValue,
    "event": Event,
    "event_key": EventKey,
    "delivery": Delivery,
}
# The rows owned() gives one instance, by table (the event is the one addressed to it alone).
OWNED = {"instance": 1, "history": 2, "wait": 1, "timer": 1, "value": 1, "event": 1, "event_key": 1, "delivery": 2}


def census() -> dict[str, int]:
    return {name: model._default_manager.count() for name, model in TABLES.items()}


def instances(n: int, status: str, *, days_ago: float, owned: bool = True) -> list[str]:
    """`n` instances with `status`; ended ones ended `days_ago` days ago, active ones were created then."""
    moment = timezone.now() - dt.timedelta(days=days_ago)
    ended = status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    rows = [
        WorkflowInstance(
            id=str(uuid.uuid4()),
            workflow_name="retention.example",
            status=status,
            input={"n": i},
            created_at=moment - dt.timedelta(hours=1),
            updated_at=moment,
            finished_at=moment if ended else None,
        )
        for i in range(n)
    ]
    WorkflowInstance.objects.bulk_create(rows, batch_size=2000)
    ids = [r.id for r in rows]
    if owned:
        own_rows(ids)
    return ids


def broadcast() -> Event:
    """One event of a type many instances wait for, received and routed now (well within DURABLE_EVENT_RETENTION)."""
    return Event.objects.create(
        event_id=str(uuid.uuid4()), source="/retention", type="thing.happened", dispatched_at=timezone.now()
    )


def own_rows(ids: list[str]) -> None:
    """Give each instance the rows OWNED counts: history, a wait with its timeout timer, a published
    value, an event addressed to it alone (with its key and delivery) and its delivery of a broadcast."""
    now = timezone.now()
    shared = broadcast()
    HistoryStep.objects.bulk_create(
        [HistoryStep(instance_id=i, position=p, kind=StepKind.ACTIVITY, name="charge") for i in ids for p in (0, 1)],
        batch_size=2000,
    )
    Wait.objects.bulk_create(
        [Wait(instance_id=i, position=2, name="w", event_type="thing.happened", shape="s", match_key="k") for i in ids],
        batch_size=2000,
    )
    Timer.objects.bulk_create(
        [
            Timer(instance_id=i, position=2, purpose=TimerPurpose.TIMEOUT, name="w", due_at=now + dt.timedelta(days=1))
            for i in ids
        ],
        batch_size=2000,
    )
    PublishedValue.objects.bulk_create(
        [PublishedValue(instance_id=i, key="progress", value={"done": 2}, position=1) for i in ids], batch_size=2000
    )
    addressed = Event.objects.bulk_create(
        [
            Event(event_id=f"to-{i}", source="/retention", type="thing.happened", target_id=i, dispatched_at=now)
            for i in ids
        ],
        batch_size=2000,
    )
    if not all(e.seq for e in addressed):  # SQLite before RETURNING: read the seqs back
        seqs = dict(Event.objects.filter(target_id__in=ids).values_list("target_id", "seq"))
        for event in addressed:
            event.seq = seqs[event.target_id]
    EventKey.objects.bulk_create([EventKey(event_id=e.seq, shape="s", key="k") for e in addressed], batch_size=2000)
    Delivery.objects.bulk_create(
        [Delivery(event_id=e.seq, instance_id=e.target_id, kind=Delivery.Kind.CONSUMED) for e in addressed]
        + [Delivery(event=shared, instance_id=i, kind=Delivery.Kind.RESUMED) for i in ids],
        batch_size=2000,
    )
