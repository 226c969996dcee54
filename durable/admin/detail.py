"""What the instance page shows: the read model (durable.inspect) put into the viewer's words."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db.models import TextChoices

from durable import inspect
from durable.admin.words import FailureGroup, Payload, arguments, event_record, failure_groups, payload
from durable.engine.registry import registry
from durable.engine.types import StepKind
from durable.models import WorkflowInstance
from durable.words import clock, compensation_words, moment, readable, span, took, until, waiting_words

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
    "arm": "arm compensation",
    "compensation": "compensation",
    "patch": "patch",
    "child": "start child",
    "child_result": "wait for child",
    "continue_as_new": "continue as new",
    "parallel": "parallel activity",
    "first": "first of",
}


@dataclass(frozen=True)
class Failure:
    """The error of one step or instance: type, message and (folded) traceback."""

    type: str
    message: str
    traceback: str = ""

    @classmethod
    def of(cls, error: dict | str | None) -> Failure | None:
        if not error:
            return None
        if not isinstance(error, dict):  # the marker of an erased instance
            return cls("Error", str(error))
        return cls(str(error.get("type", "Error")), str(error.get("message", "")), str(error.get("traceback") or ""))


@dataclass(frozen=True)
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
    failures: tuple[FailureGroup, ...]
    retry_at: dt.datetime | None
    saga: bool = False  # arming or running a compensation, marked in the timeline
    run: int = 1
    # "run 3 of 3" above the first step of each run, for an instance that continued as new.
    run_heading: str = ""
    # A parallel step among others: its bar in their common time span ("left:12.0%;width:30.0%"),
    # so steps that ran side by side show as overlapping bars; and the span in words.
    lane: str = ""
    lane_title: str = ""


@dataclass(frozen=True)
class WaitRow:
    """One current wait: its match in words and when it times out."""

    position: int
    event_type: str
    match: str
    subject: str | None
    since: dt.datetime
    timeout_at: dt.datetime | None
    timeout_in: str
    label: str | None = None


@dataclass(frozen=True)
class TimerRow:
    """One pending timer: what it is for and when it is due."""

    position: int | None
    purpose: str
    name: str
    due_at: dt.datetime
    due_in: str
    label: str | None = None


@dataclass(frozen=True)
class EventRow:
    """One event delivered to the instance, its data and how it was delivered."""

    event: inspect.EventView
    data: Payload | None
    how: str


@dataclass(frozen=True)
class ValueRow:
    """One published value."""

    key: str
    value: Payload | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class IncidentRow:
    """One entry of the incident log: what happened, when, and its details in one line."""

    kind: str
    at: dt.datetime | None
    details: str


@dataclass(frozen=True)
class HookRow:
    """One hook run: its hook, trigger, state, attempts and last error."""

    id: str
    hook_name: str
    trigger: str
    status: str
    status_label: str
    attempts: int
    error: Failure | None
    next_attempt: str


@dataclass(frozen=True)
class InstanceDetail:
    """What the instance page shows about one instance."""

    summary: inspect.Summary
    waiting: str
    compensation: str  # "compensating: 1 of 3 done", "compensated: 3 of 3 done", or ""
    elapsed: str
    input: Payload | None
    result: Payload | None
    error: Failure | None
    timeline: tuple[TimelineRow, ...]
    waits: tuple[WaitRow, ...]
    timers: tuple[TimerRow, ...]
    delivered: tuple[EventRow, ...]
    queued: tuple[inspect.EventView, ...]
    values: tuple[ValueRow, ...]
    incidents: tuple[IncidentRow, ...]
    hooks: tuple[HookRow, ...] = ()


def label(codes: type[TextChoices] | type[StrEnum], value: str | None) -> str:
    """A stored code's label, or the code itself when it is not one of the choices (as get_FOO_display)."""
    if value is None:
        return ""
    try:
        return str(getattr(codes(value), "label", value))
    except ValueError:
        return value


def _incident_key_order(key: str) -> tuple[int, str]:
    first = ("reason", "error_type", "message")
    return (first.index(key) if key in first else len(first), key)


def elapsed(instance: WorkflowInstance | inspect.Summary, now: dt.datetime) -> str:
    """From creation to its end, or to now while it runs."""
    end = (instance.finished_at or instance.updated_at) if instance.is_terminal else now
    return span((end - instance.created_at).total_seconds())


def instance_waiting(
    instance: WorkflowInstance | inspect.Summary, now: dt.datetime, *, reason: bool = True, progress: bool = True
) -> str:
    """What the instance waits for, in words: a pending one for a worker, a paused one for an
    operator (and why, unless `reason` is False: the instance page says why beside its status), a
    compensating one for its compensations (unless `progress` is False: the page shows it apart)."""
    if instance.status == inspect.Status.PENDING:
        said = instance.waiting_for or {}
        return waiting_words(said, now) if said.get("kind") == "start" else "a worker to run it"
    if instance.status == inspect.Status.PAUSED:
        why = instance.status_reason if reason else ""
        return f"an operator to resume it ({why})" if why else "an operator to resume it"
    if instance.status == inspect.Status.COMPENSATING:
        # The progress first; a compensation's retry backoff after it.
        said = compensation_words(instance.compensation, instance.status) if progress else ""
        parts = (said, waiting_words(instance.waiting_for, now))
        return ", ".join(part for part in parts if part)
    return waiting_words(instance.waiting_for, now)


def _attempt(step: inspect.StepView) -> str:
    if step.kind not in (StepKind.ACTIVITY, StepKind.COMPENSATION, StepKind.PARALLEL):
        return ""
    definition = registry.activities.get(step.name)
    most = definition.retry.max_attempts if definition is not None else None
    return f"{step.attempt} of {most}" if most and most > 1 else str(step.attempt)


def _armed(step: inspect.StepView) -> tuple[Payload | None, Payload | None]:
    """An arm step's arguments, as a call, and what it undoes, in words."""
    record = step.result if isinstance(step.result, dict) else {}
    undoes = record.get("undoes")
    what = f"undoes {undoes['activity_name']} (step {undoes['position']})" if undoes else "armed by add_compensation"
    return arguments({"args": record.get("args") or [], "kwargs": record.get("kwargs") or {}}), payload(what)


def _timeline(view: inspect.InstanceView, now: dt.datetime) -> tuple[TimelineRow, ...]:
    runs = view.summary.run
    bars: dict[tuple[int, int], tuple[str, str]] = {}
    for run in {step.run for step in view.history}:
        steps = tuple(step for step in view.history if step.run == run)
        bars.update({(run, position): bar for position, bar in lanes(steps, now).items()})
    rows, shown = [], 0
    for step in view.history:
        heading = f"run {step.run} of {runs}" if runs > 1 and step.run != shown else ""
        shown = step.run
        rows.append(_timeline_row(step, heading, bars.get((step.run, step.position), ("", ""))))
    return tuple(rows)


def lanes(history: tuple[inspect.StepView, ...], now: dt.datetime) -> dict[int, tuple[str, str]]:
    """Each parallel step's bar within the time its run of neighbouring parallel steps took:
    position -> (its CSS left and width, in words). A step still running ends at `now`."""
    groups: list[list[inspect.StepView]] = []
    for step in history:
        if step.kind != StepKind.PARALLEL or step.started_at is None:
            continue
        if groups and groups[-1][-1].position == step.position - 1:
            groups[-1].append(step)
        else:
            groups.append([step])
    shown: dict[int, tuple[str, str]] = {}
    for group in groups:
        if len(group) < 2:
            continue
        ends = {s.position: s.recorded_at if s.status in ("completed", "failed") else now for s in group}
        begin = min(s.started_at for s in group if s.started_at is not None)
        whole = max((max(ends.values()) - begin).total_seconds(), 1e-6)
        beside = f"steps {group[0].position} to {group[-1].position}"
        for s in group:
            assert s.started_at is not None
            left = (s.started_at - begin).total_seconds() / whole * 100
            width = max((ends[s.position] - s.started_at).total_seconds() / whole * 100, 1.0)
            words = f"ran {clock(s.started_at)} to {clock(ends[s.position])}, beside {beside}"
            shown[s.position] = (f"left:{left:.1f}%;width:{min(width, 100 - left):.1f}%", words)
    return shown


def _timeline_row(step: inspect.StepView, run_heading: str = "", lane: tuple[str, str] = ("", "")) -> TimelineRow:
    if step.kind == StepKind.ARM:
        shown_input, shown_result = _armed(step)
    else:
        shown_input = arguments(step.input)
        shown_result = event_record(step.result) if step.kind in EVENT_STEPS else payload(step.result)
    return TimelineRow(
        position=step.position,
        kind=KIND_LABELS.get(step.kind, step.kind),
        name=step.name,
        status=step.status,
        status_label=step.status.replace("_", " "),
        attempt=_attempt(step),
        started=clock(step.started_at),
        recorded=clock(step.recorded_at),
        recorded_at=step.recorded_at,
        duration=took(step.duration),
        input=shown_input,
        result=shown_result,
        error=Failure.of(step.error),
        failures=failure_groups(step.failures, step.error),
        retry_at=step.retry_at,
        run=step.run,
        run_heading=run_heading,
        saga=step.is_saga,
        lane=lane[0],
        lane_title=lane[1],
    )


def _wait_row(wait: inspect.WaitView, now: dt.datetime) -> WaitRow:
    match = readable(wait.match or {})
    return WaitRow(
        position=wait.position,
        event_type=wait.event_type,
        match=", ".join(f"{k}={v}" for k, v in match.items()) if isinstance(match, dict) else str(match),
        subject=wait.subject,
        since=wait.created_at,
        timeout_at=wait.timeout_at,
        timeout_in=until(wait.timeout_at, now, future="in {}", past="overdue by {}"),
        label=wait.label,
    )


def _timer_row(timer: inspect.TimerView, now: dt.datetime) -> TimerRow:
    return TimerRow(
        position=timer.position,
        purpose=label(inspect.Purpose, timer.purpose),
        name=timer.name,
        due_at=timer.due_at,
        due_in=until(timer.due_at, now, future="in {}", past="overdue by {}"),
        label=timer.label,
    )


def _incident_row(entry: dict[str, Any], shown_reason: str = "") -> IncidentRow:
    # jsonb on PostgreSQL reorders keys: put them in reading order.
    keys = sorted((k for k in entry if k not in ("kind", "at") and entry[k]), key=_incident_key_order)
    # The reason of the pause the instance is in is on the page already, beside its status.
    said = {"reason": "as under status, above"} if shown_reason and entry.get("reason") == shown_reason else {}
    details = "; ".join(f"{k.replace('_', ' ')}: {said.get(k, entry[k])}" for k in keys)
    return IncidentRow(kind=entry.get("kind", ""), at=moment(entry.get("at")), details=details)


def _incident_rows(summary: inspect.Summary, incidents: tuple[dict[str, Any], ...]) -> tuple[IncidentRow, ...]:
    """Newest first; the entry of the pause the instance is in refers to its status for the reason."""
    paused = summary.status == inspect.Status.PAUSED and incidents and incidents[-1].get("kind") == "paused"
    rows = [_incident_row(entry) for entry in incidents[:-1]]
    if incidents:
        rows.append(_incident_row(incidents[-1], summary.status_reason if paused else ""))
    return tuple(reversed(rows))


def _hook_row(run: inspect.HookView, now: dt.datetime) -> HookRow:
    running = run.lease_expires_at is not None and run.lease_expires_at > now
    if running:
        upcoming = "running now"
    else:
        upcoming = until(run.next_attempt_at, now, future="in {}", past="due now") or "—"
    return HookRow(
        id=run.id,
        hook_name=run.hook_name,
        trigger=run.trigger,
        status=run.status,
        status_label=label(inspect.HookStatus, run.status),
        attempts=run.attempts,
        error=Failure.of(run.last_error),
        next_attempt=upcoming,
    )


def build(view: inspect.InstanceView, now: dt.datetime) -> InstanceDetail:
    """The page's words for one instance, from its read model (no query of its own)."""
    summary = view.summary
    return InstanceDetail(
        summary=summary,
        waiting=instance_waiting(summary, now, reason=False, progress=False),
        compensation=compensation_words(summary.compensation, summary.status),
        elapsed=elapsed(summary, now),
        input=arguments(summary.input),
        result=payload(summary.result) if summary.status == inspect.Status.COMPLETED else None,
        error=Failure.of(summary.error),
        timeline=_timeline(view, now),
        waits=tuple(_wait_row(wait, now) for wait in view.waits),
        timers=tuple(_timer_row(timer, now) for timer in view.timers),
        delivered=tuple(
            EventRow(event=event, data=payload(event.data), how=label(inspect.DeliveryKind, event.delivery))
            for event in view.delivered
        ),
        queued=view.queued,
        values=tuple(ValueRow(key=v.key, value=payload(v.value), updated_at=v.updated_at) for v in view.values),
        incidents=_incident_rows(summary, view.incidents),
        hooks=tuple(_hook_row(run, now) for run in view.hooks),
    )
