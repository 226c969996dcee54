"""One read model of an instance (and one list query) for admin, API and commands.

Everything here reads; nothing writes. Stored JSON trees (inputs, results, errors, matches, event
data, published values, incidents, failures) come back as stored: each renderer decides how to
show them (`codec.to_plain` for the API, `words.readable` for people).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from django.db.models import Exists, OuterRef

from durable import models, queues
from durable.engine.types import StepKind
from durable.exceptions import InstanceNotFound, InvalidArgument

# The vocabulary of the codes below, so that renderers never import models.
Status = models.Status
Purpose = models.Timer.Purpose
DeliveryKind = models.Delivery.Kind
HookStatus = models.HookStatus
ACTIVE = models.ACTIVE
TERMINAL = models.TERMINAL

QUEUED_SHOWN = 100  # queued events beyond this many are left out of an InstanceView

_PAYLOADS = ("input", "result", "error")
_SUMMARY_COLUMNS = (
    "id",
    "workflow_name",
    "status",
    "status_reason",
    "business_key",
    *_PAYLOADS,
    "created_at",
    "updated_at",
    "finished_at",
    "waiting_for",
    "compensation",
    "compensated",
    "erased_at",
    "erase_reason",
    "code_version",
    "details",
    "forked_from",
    "fork_position",
    "parent_id",
    "detached",
    "run",
)
_STEP_COLUMNS = (
    "run",
    "position",
    "kind",
    "name",
    "status",
    "attempt",
    "input",
    "result",
    "error",
    "failures",
    "retry_at",
    "started_at",
    "recorded_at",
)
_WAIT_COLUMNS = ("position", "name", "event_type", "match", "subject", "timeout_at", "label", "created_at")
_TIMER_COLUMNS = ("position", "purpose", "name", "due_at", "label", "created_at")
_EVENT_COLUMNS = ("seq", "event_id", "source", "type", "subject", "time", "data", "received_at")
_VALUE_COLUMNS = ("key", "value", "position", "updated_at")


@dataclass(frozen=True)
class Summary:
    """One instance as the list shows it and as operations return it.

    Attributes:
        instance_id: the instance's id.
        workflow_name: the registered name of its workflow.
        status: one of `Status`.
        status_reason: why it is paused, cancelled or failed ("" when nothing was said).
        business_key: what it is about, as stored ("<app_label>.<model>:<pk>" for a model
            instance), or None.
        input: the stored call tree, {"args": [...], "kwargs": {...}}.
        result: the stored result tree (None until it completes).
        error: the stored error ({"type", "message", "traceback", ...}) or None.
        created_at: when it was started.
        updated_at: when its row last changed.
        finished_at: when it ended, or None.
        waiting_for: the stored summary of what it waits for, or None.
        compensation: the saga's progress once compensations began, {"after", "done",
            "skipped", "total"} (and a cancel's "reason"), or None.
        compensated: True once every armed compensation ran at its end (failed or cancelled).
        erased_at: when its data was erased (durable.erase), or None.
        erase_reason: why it was erased ("" when nothing was said), or None when it was not.
        code_version: DURABLE_CODE_VERSION where it was started, or None.
        details: what its workflow last said it is doing (ctx.set_details), "" when nothing.
        forked_from: the instance it was forked from (durable.fork), or None.
        fork_position: how many of that instance's steps it kept (positions 0 to n-1), or None.
        parent_id: the instance that started it with ctx.start_child, or None.
        detached: started with detached=True (a cancel of the parent leaves it running).
        run: which run it is in, from 1; one more at each ctx.continue_as_new.
    """

    instance_id: str
    workflow_name: str
    status: str
    status_reason: str
    business_key: str | None
    input: Any
    result: Any
    error: Any
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    waiting_for: Any
    compensation: dict[str, Any] | None = None
    compensated: bool = False
    erased_at: dt.datetime | None = None
    erase_reason: str | None = None
    code_version: str | None = None
    details: str = ""
    forked_from: str | None = None
    fork_position: int | None = None
    parent_id: str | None = None
    detached: bool = False
    run: int = 1

    @property
    def is_erased(self) -> bool:
        """Its data was erased: inputs, results and the rest hold the marker "[erased]"."""
        return self.erased_at is not None

    @property
    def is_terminal(self) -> bool:
        """Completed, failed or cancelled."""
        return self.status in TERMINAL


@dataclass(frozen=True)
class StepView:
    """One recorded step of the history, by run and position (`run` from 1: positions start again at
    0 in each run); `is_saga` for the steps of a saga (arming a compensation, running one)."""

    run: int
    position: int
    kind: str
    name: str
    status: str
    attempt: int
    input: Any
    result: Any
    error: Any
    failures: tuple[dict[str, Any], ...]
    retry_at: dt.datetime | None
    started_at: dt.datetime | None
    recorded_at: dt.datetime

    @property
    def is_saga(self) -> bool:
        """An arm or compensation step, marked as such in the timeline."""
        return self.kind in (StepKind.ARM, StepKind.COMPENSATION)

    @property
    def duration(self) -> float | None:
        """Seconds from its start to its record; None for steps that record no start (waits, sleeps)."""
        if self.started_at is None:
            return None
        return (self.recorded_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class WaitView:
    """One current wait for an event type (a wait on several types has one per type); `label` is
    the workflow's name for it (wait_event(..., label=...)) or None."""

    position: int
    name: str
    event_type: str
    match: Any
    subject: str | None
    timeout_at: dt.datetime | None
    created_at: dt.datetime
    label: str | None = None


@dataclass(frozen=True)
class TimerView:
    """One pending timer: a sleep, a wait's timeout, a retry's backoff or a delayed start (`Purpose`,
    the last at no step's position: None); `label` is the workflow's name for the wait or None."""

    position: int | None
    purpose: str
    name: str
    due_at: dt.datetime
    created_at: dt.datetime
    label: str | None = None


@dataclass(frozen=True)
class EventView:
    """One event delivered to the instance or kept for it.

    `delivery` (a `DeliveryKind`), `position` (the step it resumed, if any) and `delivered_at` are
    None for an event that is still queued.
    """

    seq: int
    event_id: str
    source: str
    type: str
    subject: str | None
    time: dt.datetime | None
    data: Any
    received_at: dt.datetime
    delivery: str | None = None
    position: int | None = None
    delivered_at: dt.datetime | None = None


@dataclass(frozen=True)
class ValueView:
    """One value the workflow published with `ctx.set_event`, and the step that last set it."""

    key: str
    value: Any
    position: int
    updated_at: dt.datetime


@dataclass(frozen=True)
class HookView:
    """One run of a durable hook for one transition of the instance: its attempts and last error."""

    id: str
    hook_name: str
    trigger: str
    status: str
    attempts: int
    last_error: dict | None
    next_attempt_at: dt.datetime | None
    lease_expires_at: dt.datetime | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True)
class ForkView:
    """One instance forked from this one (durable.fork): from which step, and how it stands."""

    instance_id: str
    fork_position: int
    status: str
    created_at: dt.datetime


@dataclass(frozen=True)
class ChildView:
    """One instance this one started with ctx.start_child, and how it stands."""

    instance_id: str
    workflow_name: str
    status: str
    detached: bool
    created_at: dt.datetime


@dataclass(frozen=True)
class InstanceView:
    """Everything there is to show about one instance.

    Attributes:
        summary: the instance itself.
        incidents: its incident log as stored (pauses, resumes, retries, failures, cancels), oldest first.
        history: its recorded steps by position.
        waits: its current waits, by position and event type.
        timers: its pending timers, soonest first.
        delivered: the events delivered to it, in delivery order.
        queued: events addressed to it and not delivered (yet), oldest first, at most `QUEUED_SHOWN`.
        values: its published values, by key.
        hooks: its durable hooks' runs, oldest first (read only when asked for: `hooks=True`).
        forks: the instances forked from it, oldest first, at most `FORKS_SHOWN` (read only when
            asked for: `forks=True`).
        children: the instances it started with ctx.start_child, oldest first, at most
            `CHILDREN_SHOWN` (read only when asked for: `children=True`); its parent is
            `summary.parent_id`.
    """

    summary: Summary
    incidents: tuple[dict[str, Any], ...]
    history: tuple[StepView, ...]
    waits: tuple[WaitView, ...]
    timers: tuple[TimerView, ...]
    delivered: tuple[EventView, ...]
    queued: tuple[EventView, ...]
    values: tuple[ValueView, ...]
    hooks: tuple[HookView, ...] = ()
    forks: tuple[ForkView, ...] = ()
    children: tuple[ChildView, ...] = ()


@dataclass(frozen=True)
class Page:
    """One page of `list_instances`: its rows, and whether more rows follow."""

    rows: tuple[Summary, ...]
    more: bool


def _summary(row: dict[str, Any]) -> Summary:
    return Summary(
        instance_id=row["id"],
        workflow_name=row["workflow_name"],
        status=row["status"],
        status_reason=row["status_reason"],
        business_key=row["business_key"],
        input=row.get("input"),
        result=row.get("result"),
        error=row.get("error"),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        waiting_for=row["waiting_for"],
        compensation=row["compensation"],
        compensated=row["compensated"],
        erased_at=row["erased_at"],
        erase_reason=row["erase_reason"],
        code_version=row["code_version"],
        details=row["details"],
        forked_from=row["forked_from"],
        fork_position=row["fork_position"],
        parent_id=row.get("parent_id"),
        detached=bool(row.get("detached")),
        run=row.get("run") or 1,
    )


def summary(instance_id: str) -> Summary:
    """One instance as the list shows it (one query).

    Args:
        instance_id: the instance's id.

    Returns:
        Its Summary, read now.

    Raises:
        InstanceNotFound: no instance has that id.
    """
    row = models.WorkflowInstance.objects.filter(id=instance_id).values(*_SUMMARY_COLUMNS).first()
    if row is None:
        raise InstanceNotFound.of(instance_id)
    return _summary(_in_line(row))


def instance(instance_id: str, *, hooks: bool = False, forks: bool = False, children: bool = False) -> InstanceView:
    """Everything about one instance, in seven queries whatever the length of its history.

    Args:
        instance_id: the instance's id.
        hooks: also read its hook runs (an eighth query).
        forks: also read the instances forked from it (one more query).
        children: also read the instances it started as children (one more query).

    Returns:
        Its InstanceView: summary, incidents, history, waits, timers, events and values.

    Raises:
        InstanceNotFound: no instance has that id.
    """
    row = models.WorkflowInstance.objects.filter(id=instance_id).values(*_SUMMARY_COLUMNS, "incidents").first()
    if row is None:
        raise InstanceNotFound.of(instance_id)
    pk = row["id"]
    steps = models.HistoryStep.objects.filter(instance_id=pk).order_by("run", "position").values(*_STEP_COLUMNS)
    waits = models.Wait.objects.filter(instance_id=pk).order_by("position", "event_type").values(*_WAIT_COLUMNS)
    timers = models.Timer.objects.filter(instance_id=pk).order_by("due_at", "position").values(*_TIMER_COLUMNS)
    values = models.PublishedValue.objects.filter(instance_id=pk).order_by("key").values(*_VALUE_COLUMNS)
    return InstanceView(
        summary=_summary(_in_line(row)),
        incidents=tuple(row["incidents"] or ()),
        history=_runs(steps, row["run"] or 1),
        waits=tuple(WaitView(**wait) for wait in waits),
        timers=tuple(TimerView(**_at_step(timer)) for timer in timers),
        delivered=_delivered(pk),
        queued=_queued(pk),
        values=tuple(ValueView(**value) for value in values),
        hooks=hook_runs(pk) if hooks else (),
        forks=forks_of(pk) if forks else (),
        children=children_of(pk) if children else (),
    )


def _runs(steps: Iterable[dict[str, Any]], current: int) -> tuple[StepView, ...]:
    """The steps of every run in order: the ended runs' (stored with their number) before the live
    one's (stored as models.LIVE_RUN, shown as the instance's current run)."""
    views = [
        StepView(**{**step, "run": step["run"] or current, "failures": tuple(step["failures"] or ())}) for step in steps
    ]
    return tuple(sorted(views, key=lambda view: (view.run, view.position)))


CHILDREN_SHOWN = 500


def children_of(instance_id: str) -> tuple[ChildView, ...]:
    """The instances this one started as children, oldest first, at most CHILDREN_SHOWN (one indexed query)."""
    rows = models.WorkflowInstance.objects.filter(parent_id=instance_id).order_by("created_at", "id")
    columns = ("id", "workflow_name", "status", "detached", "created_at")
    return tuple(ChildView(*values) for values in rows.values_list(*columns)[:CHILDREN_SHOWN])


FORKS_SHOWN = 100


def forks_of(instance_id: str) -> tuple[ForkView, ...]:
    """The instances forked from this one, oldest first, at most FORKS_SHOWN (one indexed query)."""
    rows = models.WorkflowInstance.objects.filter(forked_from=instance_id).order_by("created_at", "id")
    columns = ("id", "fork_position", "status", "created_at")
    return tuple(
        ForkView(pk, position, status, created)
        for pk, position, status, created in rows.values_list(*columns)[:FORKS_SHOWN]
    )


HOOK_COLUMNS = tuple(f.name for f in fields(HookView))


def hook_runs(instance_id: str) -> tuple[HookView, ...]:
    """The instance's hook runs, oldest first (one query)."""
    rows = models.HookRun.objects.filter(instance_id=instance_id).order_by("created_at", "hook_name")
    return tuple(HookView(**row) for row in rows.values(*HOOK_COLUMNS))


def _at_step(timer: dict[str, Any]) -> dict[str, Any]:
    """A delayed start's timer belongs to no step: its position is None, not the journal's placeholder."""
    return {**timer, "position": None} if timer["purpose"] == Purpose.START else timer


def _delivered(instance_id: str) -> tuple[EventView, ...]:
    columns = {f"event__{name}": name for name in _EVENT_COLUMNS}
    rows = (
        models.Delivery.objects.filter(instance_id=instance_id)
        .order_by("delivered_at", "pk")
        .values("kind", "position", "delivered_at", *columns)
    )
    return tuple(
        EventView(
            **{name: row[column] for column, name in columns.items()},
            delivery=row["kind"],
            position=row["position"],
            delivered_at=row["delivered_at"],
        )
        for row in rows
    )


def _queued(instance_id: str) -> tuple[EventView, ...]:
    delivered_here = models.Delivery.objects.filter(instance_id=instance_id, event=OuterRef("pk"))
    rows = (
        models.Event.objects.filter(target_id=instance_id)
        .filter(~Exists(delivered_here))
        .order_by("seq")
        .values(*_EVENT_COLUMNS)[:QUEUED_SHOWN]
    )
    return tuple(EventView(**row) for row in rows)


def list_instances(
    *,
    statuses: Iterable[str] | None = None,
    workflow: str | None = None,
    business_key: str | None = None,
    code_version: str | None = None,
    created_after: dt.datetime | None = None,
    created_before: dt.datetime | None = None,
    limit: int = 50,
    offset: int = 0,
    payloads: bool = True,
) -> Page:
    """Instances newest first (ties by id), filtered, one page of them, in one query.

    Args:
        statuses: only instances in one of these statuses; None for any.
        workflow: only instances of this workflow.
        business_key: only instances with this stored business key (see durable.business_keys).
        code_version: only instances started with this DURABLE_CODE_VERSION.
        created_after: only instances created at or after this time.
        created_before: only instances created before this time.
        limit: at most this many rows (>= 1).
        offset: rows to skip first (>= 0).
        payloads: False leaves input, result and error out of the query (they come back None),
            for a list that does not show them.

    Returns:
        The Page: its rows, and whether more rows follow.

    Raises:
        InvalidArgument: limit below 1 or offset below 0.
    """
    if limit < 1 or offset < 0:
        raise InvalidArgument(f"A page needs limit >= 1 and offset >= 0, not limit={limit}, offset={offset}.")
    rows = models.WorkflowInstance.objects.order_by("-created_at", "id")
    if statuses is not None:
        rows = rows.filter(status__in=sorted(set(statuses)))
    if workflow is not None:
        rows = rows.filter(workflow_name=workflow)
    if business_key is not None:
        rows = rows.filter(business_key=business_key)
    if code_version is not None:
        rows = rows.filter(code_version=code_version)
    if created_after is not None:
        rows = rows.filter(created_at__gte=created_after)
    if created_before is not None:
        rows = rows.filter(created_at__lt=created_before)
    columns = _SUMMARY_COLUMNS if payloads else tuple(c for c in _SUMMARY_COLUMNS if c not in _PAYLOADS)
    # One row more than the page tells whether another page follows, without a COUNT.
    found = [_summary(row) for row in _lines(list(rows.values(*columns)[offset : offset + limit + 1]))]
    return Page(rows=tuple(found[:limit]), more=len(found) > limit)


def _in_line(row: dict[str, Any]) -> dict[str, Any]:
    """An instance in its queue's line gets the live numbers in its waiting_for: busy, rate used
    and its place in line ("queue emails: 10 of 10 busy, 37th in line")."""
    said = row["waiting_for"]
    if row["status"] == Status.PENDING and isinstance(said, dict) and said.get("kind") == "queue":
        row = {**row, "waiting_for": queues.describe(said, row["id"], row["business_key"], row["created_at"])}
    return row


def _lines(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A page's rows in a queue's line, with each queue's numbers read once (not their places in line)."""
    numbers: dict[str, dict[str, Any]] = {}
    shown = []
    for row in rows:
        said = row["waiting_for"]
        if row["status"] == Status.PENDING and isinstance(said, dict) and said.get("kind") == "queue":
            queue = str(said.get("queue"))
            if queue not in numbers:
                numbers[queue] = queues.numbers(queue)
            row = {**row, "waiting_for": {**said, **numbers[queue]}}
        shown.append(row)
    return shown


def active_by_workflow(limit: int) -> tuple[dict[tuple[str, str], int], bool]:
    """Active instances per (workflow, status), of the first `limit` read; True when there were more."""
    rows = list(
        models.WorkflowInstance.objects.filter(status__in=ACTIVE)
        .order_by()
        .values_list("workflow_name", "status")[: limit + 1]
    )
    tally: dict[tuple[str, str], int] = {}
    for key in rows[:limit]:
        tally[key] = tally.get(key, 0) + 1
    return tally, len(rows) > limit
