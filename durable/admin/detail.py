"""Everything the instance page shows, read in a fixed handful of queries whatever the history length."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef

from durable.admin.words import Payload, arguments, event_record, payload
from durable.engine.registry import registry
from durable.engine.types import StepKind
from durable.models import Delivery, Event, HistoryStep, PublishedValue, Status, Timer, Wait, WorkflowInstance
from durable.words import clock, moment, readable, span, took, until, waiting_words

logger = logging.getLogger(__name__)

EVENT_STEPS = (StepKind.WAIT_EVENT, StepKind.SEND_EVENT)
KIND_LABELS = {
    "activity": "activity",
    "sleep": "sleep",
    "wait_event": "wait for event",
    "send_event": "send event",
    "set_event": "publish value",
    "now": "now()",
    "uuid4": "uuid4()",
    "random": "random()",
}


@dataclass
class Failure:
    """The error of one step or instance: type, message and (folded) traceback."""

    type: str
    message: str
    traceback: str = ""

    @classmethod
    def of(cls, error: dict | None) -> Failure | None:
        if not error:
            return None
        return cls(str(error.get("type", "Error")), str(error.get("message", "")), str(error.get("traceback") or ""))


@dataclass
class TimelineRow:
    """One recorded step, as the timeline shows it."""

    position: int
    kind: str
    name: str
    status: str
    status_label: str
    attempt: str
    started: str
    recorded: str
    recorded_at: dt.datetime
    duration: str
    input: Payload | None
    result: Payload | None
    error: Failure | None
    failures: list[dict[str, Any]]
    retry_at: dt.datetime | None


@dataclass
class InstanceDetail:
    """What the instance page shows about one instance."""

    waiting: str
    elapsed: str
    input: Payload | None
    result: Payload | None
    error: Failure | None
    timeline: list[TimelineRow] = field(default_factory=list)
    waits: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    queued: list[Event] = field(default_factory=list)
    values: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)


def _incident_key_order(key: str) -> tuple[int, str]:
    first = ("reason", "error_type", "message")
    return (first.index(key) if key in first else len(first), key)


def elapsed(instance: WorkflowInstance, now: dt.datetime) -> str:
    """From creation to its end, or to now while it runs."""
    end = (instance.finished_at or instance.updated_at) if instance.is_terminal else now
    return span((end - instance.created_at).total_seconds())


def instance_waiting(instance: WorkflowInstance, now: dt.datetime) -> str:
    """What the instance waits for, in words; a paused one waits for an operator."""
    if instance.status == Status.PAUSED:
        reason = instance.status_reason or "paused"
        return f"an operator to resume it ({reason})"
    return waiting_words(instance.waiting_for, now)


def _attempt(step: HistoryStep) -> str:
    if step.kind != StepKind.ACTIVITY:
        return ""
    definition = registry.activities.get(step.name)
    most = definition.retry.max_attempts if definition is not None else None
    return f"{step.attempt} of {most}" if most and most > 1 else str(step.attempt)


def timeline(instance_id: str) -> list[TimelineRow]:
    rows = []
    for step in HistoryStep.objects.filter(instance_id=instance_id).order_by("position"):
        spent = (step.recorded_at - step.started_at).total_seconds() if step.started_at else None
        rows.append(
            TimelineRow(
                position=step.position,
                kind=KIND_LABELS.get(step.kind, step.kind),
                name=step.name,
                status=step.status,
                status_label=step.status.replace("_", " "),
                attempt=_attempt(step),
                started=clock(step.started_at),
                recorded=clock(step.recorded_at),
                recorded_at=step.recorded_at,
                duration=took(spent),
                input=arguments(step.input),
                result=event_record(step.result) if step.kind in EVENT_STEPS else payload(step.result),
                error=Failure.of(step.error),
                failures=[{**f, "at": moment(f.get("at"))} for f in step.failures or []],
                retry_at=step.retry_at,
            )
        )
    return rows


def build(instance: WorkflowInstance, now: dt.datetime) -> InstanceDetail:
    """Read the instance's history, waits, timers, events and values (seven queries)."""
    pk = instance.pk
    detail = InstanceDetail(
        waiting=instance_waiting(instance, now),
        elapsed=elapsed(instance, now),
        input=arguments(instance.input),
        result=payload(instance.result) if instance.status == Status.COMPLETED else None,
        error=Failure.of(instance.error),
        timeline=timeline(pk),
    )
    for wait in Wait.objects.filter(instance_id=pk).order_by("position", "event_type"):
        match = readable(wait.match or {})
        detail.waits.append(
            {
                "position": wait.position,
                "event_type": wait.event_type,
                "match": ", ".join(f"{k}={v}" for k, v in match.items()) if isinstance(match, dict) else str(match),
                "subject": wait.subject,
                "since": wait.created_at,
                "timeout_at": wait.timeout_at,
                "timeout_in": until(wait.timeout_at, now, future="in {}", past="overdue by {}"),
            }
        )
    for timer in Timer.objects.filter(instance_id=pk).order_by("due_at"):
        due_in = until(timer.due_at, now, future="in {}", past="overdue by {}")
        detail.timers.append({"timer": timer, "purpose": timer.get_purpose_display(), "due_in": due_in})
    for delivery in Delivery.objects.filter(instance_id=pk).select_related("event").order_by("delivered_at", "pk"):
        detail.delivered.append(
            {"delivery": delivery, "event": delivery.event, "data": payload(delivery.event.data), "kind": delivery.kind}
        )
    delivered_here = Delivery.objects.filter(instance_id=pk, event=OuterRef("pk"))
    detail.queued = list(Event.objects.filter(target_id=pk).filter(~Exists(delivered_here)).order_by("seq")[:100])
    for value in PublishedValue.objects.filter(instance_id=pk).order_by("key"):
        detail.values.append({"key": value.key, "value": payload(value.value), "updated_at": value.updated_at})
    for entry in reversed(instance.incidents or []):
        # jsonb on PostgreSQL reorders keys: put them in reading order.
        keys = sorted((k for k in entry if k not in ("kind", "at") and entry[k]), key=_incident_key_order)
        details = "; ".join(f"{k.replace('_', ' ')}: {entry[k]}" for k in keys)
        detail.incidents.append({"kind": entry.get("kind", ""), "at": moment(entry.get("at")), "details": details})
    return detail
