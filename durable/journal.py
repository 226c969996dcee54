"""The only writer of history, waits, timers, events, event keys, deliveries and published values.

Each operation has a name for what it means to an instance: record the steps a run produced,
open a wait, take a stored event for it, resolve a wait exactly once (by an event or by its
timeout), fire a sleep, reopen an activity for another round of attempts, withdraw an instance's
waits and timers, replace an erased instance's data by the marker. Callers hold the transaction
(and the locks: `durable.leases`); the journal writes the rows. On PostgreSQL a caller's own
read or write (a `statements.Part`: the waits an event finds, an instance's wake) may ride in
the journal's statement, to save the event's round trips; its SQL stays with its module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Exists, Model, OuterRef, Q, QuerySet

from durable import db, metrics, notify, statements
from durable.engine import matching
from durable.engine.composition import OUTCOME as CHILD_OUTCOME
from durable.engine.types import FirstSpec, NewStep, Step, StepKind, StepStatus, TimerPurpose, WaitSpec
from durable.models import (
    TERMINAL,
    ChildWait,
    Delivery,
    Event,
    EventKey,
    HistoryStep,
    HookRun,
    PublishedValue,
    Timer,
    Wait,
    WaitShape,
    WorkflowInstance,
)

STEP_FIELDS = ("position", "kind", "name", "status", "result", "error", "attempt", "retry_at", "failures")
BACKFILL_BATCH = 1000
# Inside the resolving statement (PostgreSQL): the condition that holds when it took the wait.
TAKEN = "EXISTS (SELECT 1 FROM w)"


# History ---------------------------------------------------------------------------------------


def load_history(instance_id: str) -> tuple[list[Step], dict[int, list]]:
    """Every recorded step in one query, and the earlier failures of each step by position."""
    rows = HistoryStep.objects.live().filter(instance_id=instance_id).order_by("position").values_list(*STEP_FIELDS)
    steps, failures = [], {}
    for position, kind, name, status, result, error, attempt, retry_at, failed in rows:
        steps.append(Step(position, kind, name, status, result, error, attempt, retry_at))
        failures[position] = failed
    return steps, failures


def record_steps(instance_id: str, steps: list[NewStep], updates: dict[int, dict[str, Any]]) -> list[int]:
    """Write a run's new history rows and the updates of rows earlier attempts left, with their
    effects (published values, sent events); returns the seqs of the events to dispatch.

    Raises:
        IntegrityError: a position is recorded already (the caller proved its lease first, so
            this is a fault, not a takeover).
    """
    moment = db.now()
    if steps:
        HistoryStep.objects.bulk_create(
            [
                HistoryStep(
                    instance_id=instance_id,
                    position=s.position,
                    kind=s.kind,
                    name=s.name,
                    status=s.status,
                    input=s.input,
                    result=s.result,
                    started_at=s.started_at,
                    recorded_at=moment,
                    **s.extra,
                )
                for s in steps
            ]
        )
    for position, fields in updates.items():
        HistoryStep.objects.live().filter(instance_id=instance_id, position=position).update(**fields)
    values = {s.name: s for s in steps if s.kind == StepKind.SET_EVENT}
    if values:
        PublishedValue.objects.bulk_create(
            [
                PublishedValue(instance_id=instance_id, key=k, value=s.result, position=s.position, updated_at=moment)
                for k, s in values.items()
            ],
            update_conflicts=True,
            unique_fields=["instance", "key"],
            update_fields=["value", "position", "updated_at"],
        )
        for key, step in values.items():
            notify.instance_changed(instance_id, key, step.result)
    seqs = []
    for step in steps:
        # A (source, id) stored before is a repeat, as for any sender: counted, not stored again.
        if step.kind == StepKind.SEND_EVENT and (event := store_event(step.result, received_at=moment)) is not None:
            seqs.append(event.seq)
    return seqs


def reopen_failed_activity(instance_id: str, moment: dt.datetime, *, kind: str = StepKind.ACTIVITY) -> bool:
    """Give the last step, an activity (or compensation) that ran out of attempts, another round of
    attempts; or, when the history ends with parallel steps, each of those that failed."""
    if kind == StepKind.ACTIVITY and _reopen_failed_parallel(instance_id, moment):
        return True
    last = HistoryStep.objects.live().filter(instance_id=instance_id).order_by("-position").first()
    if last is None or last.kind != kind or last.status != StepStatus.FAILED:
        return False
    HistoryStep.objects.filter(pk=last.pk).update(status=StepStatus.RETRYING, retry_at=moment, attempt=0)
    return True


def archive_run(instance_id: str, run: int) -> int:
    """Keep the live history as run `run`'s (ctx.continue_as_new): the next run starts empty. A
    parallel step still due or running is taken off the workers' list: its result has no reader."""
    live = HistoryStep.objects.live().filter(instance_id=instance_id)
    live.filter(due_at__isnull=False).update(due_at=None, lease_owner=None)
    return live.update(run=run)


def _reopen_failed_parallel(instance_id: str, moment: dt.datetime) -> bool:
    """Make the failed steps of the trailing run of parallel steps due again (a retry): only those
    after the last other step, so no gather the workflow caught and went on from is changed."""
    steps = HistoryStep.objects.live().filter(instance_id=instance_id)
    before = steps.exclude(kind=StepKind.PARALLEL).order_by("-position").values_list("position", flat=True).first()
    trailing = steps.filter(kind=StepKind.PARALLEL, status=StepStatus.FAILED)
    if before is not None:
        trailing = trailing.filter(position__gt=before)
    count = trailing.update(status=StepStatus.RETRYING, attempt=1, due_at=moment, retry_at=None, lease_owner=None)
    if count:
        db.request_steps(count)
    return count > 0


# The columns of a history row that a copy keeps as recorded (all but the row's id and instance).
COPIED_STEP_FIELDS = (
    "position", "kind", "name", "status", "input", "result", "error", "attempt", "failures", "retry_at",
    "started_at", "recorded_at",
)  # fmt: skip


def copy_steps(source_id: str, target_id: str, upto: int) -> int:
    """Copy the source instance's steps at positions below `upto` to the target (a fork, see
    durable.forking), as recorded, with the values its set_event steps among them published;
    returns how many steps. Events its steps sent are not sent again and no delivery is copied:
    what the source received stays its own, the copied wait steps carry the events' records."""
    rows = list(
        HistoryStep.objects.live()
        .filter(instance_id=source_id, position__lt=upto)
        .order_by("position")
        .values(*COPIED_STEP_FIELDS)
    )
    HistoryStep.objects.bulk_create([HistoryStep(instance_id=target_id, **row) for row in rows])
    # The last value of each key, as the source had it after these steps.
    values = {row["name"]: row for row in rows if row["kind"] == StepKind.SET_EVENT}
    PublishedValue.objects.bulk_create(
        [
            PublishedValue(
                instance_id=target_id, key=key, value=row["result"], position=row["position"],
                updated_at=row["recorded_at"],
            )
            for key, row in values.items()
        ]
    )  # fmt: skip
    return len(rows)


# Timers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueTimer:
    id: int
    instance_id: str
    position: int
    purpose: str
    name: str
    due_at: dt.datetime
    branch: int | None = None


def existing_timer(instance_id: str, position: int) -> dt.datetime | None:
    """When the timer of this step is due, if it has one already."""
    return Timer.objects.filter(instance_id=instance_id, position=position).values_list("due_at", flat=True).first()


def pending_at(instance_id: str, position: int) -> bool:
    """Whether a wait or a timer of this step is pending (an earlier run opened it), in one query."""
    here = {"instance_id": instance_id, "position": position}
    either = Q(Exists(Timer.objects.filter(**here))) | Q(Exists(Wait.objects.filter(**here)))
    return WorkflowInstance.objects.filter(either, pk=instance_id).exists()


def add_timer(
    instance_id: str,
    position: int,
    purpose: TimerPurpose,
    name: str,
    due_at: dt.datetime,
    *,
    label: str | None = None,
    branch: int | None = None,
) -> None:
    """Set a timer for a step (a second one at the same position is ignored); `label` names it in
    the viewer; `branch` is the item index of a first's timer."""
    row = Timer(
        instance_id=instance_id,
        position=position,
        purpose=purpose,
        name=name,
        due_at=due_at,
        label=label,
        branch=branch,
    )
    Timer.objects.bulk_create([row], ignore_conflicts=True)
    notify.timer_set(due_at)


# The position of a delayed start's timer: past any step's, as the instance has recorded none yet.
START_POSITION = 2_147_483_647


def set_start_timer(instance_id: str, due_at: dt.datetime) -> None:
    """Set (or move) the timer that makes a delayed, pending instance runnable at `due_at`."""
    Timer.objects.filter(instance_id=instance_id, position=START_POSITION).delete()
    add_timer(instance_id, START_POSITION, TimerPurpose.START, "start", due_at)


def withdraw_timer(instance_id: str, position: int) -> None:
    """Remove a step's timer (a retry backoff whose attempt ran)."""
    Timer.objects.filter(instance_id=instance_id, position=position).delete()


def next_due() -> dt.datetime | None:
    """When the earliest timer is due (an index lookup)."""
    return Timer.objects.order_by("due_at").values_list("due_at", flat=True).first()


def due_timers(moment: dt.datetime, limit: int, *, skip_locked: bool) -> list[DueTimer]:
    """Timers due by `moment`, earliest first; with `skip_locked`, locked, skipping busy rows."""
    due = Timer.objects.due(moment)
    if skip_locked:
        due = due.select_for_update(skip_locked=True)
    fields = ("id", "instance_id", "position", "purpose", "name", "due_at", "branch")
    return [DueTimer(*row) for row in due.values_list(*fields)[:limit]]


def fire(timers: list[DueTimer], moment: dt.datetime) -> set[str]:
    """Fire due timers: record the sleep or the timeout, remove the timers; returns who woke.

    A wait timeout and an event race to record the wait's step (under the instance locks);
    whoever records it first resolves the wait, so each wait ends exactly one way. A retry
    timer only wakes its instance.
    """
    steps, woken = [], set()
    for timer in timers:
        result = None
        if timer.purpose == TimerPurpose.SLEEP:
            kind, name, status = StepKind.SLEEP, StepKind.SLEEP.value, StepStatus.COMPLETED
        elif timer.purpose == TimerPurpose.FIRST:
            # The timer of a first: it decides unless an event or a step recorded the decision
            # already (then the insert below is ignored); the first's waits are withdrawn.
            Wait.objects.filter(instance_id=timer.instance_id, position=timer.position).delete()
            kind, name, status = StepKind.FIRST, timer.name, StepStatus.COMPLETED
            result = {"index": timer.branch}
        elif timer.purpose == TimerPurpose.TIMEOUT:
            # An event that won the race recorded the step already: the insert below is ignored.
            # A wait withdrawn at a resume (re-opened by the next run) still times out on time.
            Wait.objects.filter(instance_id=timer.instance_id, position=timer.position).delete()
            kind, name, status = StepKind.WAIT_EVENT, timer.name, StepStatus.TIMED_OUT
        else:
            woken.add(timer.instance_id)
            continue
        steps.append(
            HistoryStep(
                instance_id=timer.instance_id,
                position=timer.position,
                kind=kind,
                name=name,
                status=status,
                result=result,
                recorded_at=moment,
            )
        )
        woken.add(timer.instance_id)
    HistoryStep.objects.bulk_create(steps, ignore_conflicts=True)
    Timer.objects.filter(id__in=[t.id for t in timers]).delete()
    return woken


# Waits -----------------------------------------------------------------------------------------


def _wait_rows(instance_id: str, spec: WaitSpec, timeout_at: dt.datetime | None) -> list[Wait]:
    shape, _ = matching.shape_of(spec.match, spec.subject)
    key = matching.key_of(spec.match, spec.subject)
    return [
        Wait(
            instance_id=instance_id,
            position=spec.position,
            name=spec.name,
            event_type=t,
            match=spec.match,
            subject=spec.subject,
            shape=shape,
            match_key=key,
            timeout_at=timeout_at,
            label=spec.label,
            branch=spec.branch,
        )
        for t in dict.fromkeys(spec.types)
    ]


def open_wait(instance_id: str, spec: WaitSpec) -> None:
    """Create the wait rows (one per type) and its timeout timer; `take_stored_event` has
    registered the wait's shape already."""
    Wait.objects.bulk_create(_wait_rows(instance_id, spec, spec.timeout_at), ignore_conflicts=True)
    if spec.timeout_at is not None:
        add_timer(instance_id, spec.position, TimerPurpose.TIMEOUT, spec.name, spec.timeout_at, label=spec.label)


def open_first(instance_id: str, spec: FirstSpec) -> None:
    """Create a first's waits (its event items, all at its position) and its timer; whichever
    resolves the position first decides it (see `resolve`, `fire`, `resolve_first`)."""
    rows = [row for _, wait in spec.events for row in _wait_rows(instance_id, wait, spec.timer_at)]
    Wait.objects.bulk_create(rows, ignore_conflicts=True)
    if spec.timer_at is not None:
        add_timer(instance_id, spec.position, TimerPurpose.FIRST, spec.name, spec.timer_at, branch=spec.timer_index)


def resolve_first(instance_id: str, position: int, name: str, index: int, moment: dt.datetime) -> bool:
    """Decide a first for its item `index` (a step that ended), unless it is decided already; its
    waits and timer are withdrawn. The caller holds the instance lock."""
    if HistoryStep.objects.live().filter(instance_id=instance_id, position=position).exists():
        return False
    Wait.objects.filter(instance_id=instance_id, position=position).delete()
    Timer.objects.filter(instance_id=instance_id, position=position).delete()
    HistoryStep.objects.create(
        instance_id=instance_id,
        position=position,
        kind=StepKind.FIRST,
        name=name,
        result={"index": index},
        recorded_at=moment,
    )
    return True


def take_stored_event(
    instance_id: str, created_at: dt.datetime, spec: WaitSpec, cutoff: dt.datetime
) -> dict[str, Any] | None:
    """Consume the first event, in arrival order, kept for this instance that the wait accepts;
    returns its record for the history, or None.

    The lookup goes through the event keys of the wait's shape, so it is one indexed query
    whatever the kind of the match values and however many events are kept. A shape new to a
    type first gets keys for the type's retained events. The caller holds the type locks.
    """
    shape, paths = matching.shape_of(spec.match, spec.subject)
    key = matching.key_of(spec.match, spec.subject)
    since = max(created_at, cutoff)
    types = list(dict.fromkeys(spec.types))
    known = set(WaitShape.objects.filter(event_type__in=types, shape=shape).values_list("event_type", flat=True))
    for event_type in types:
        if event_type not in known:
            _register_shape(event_type, shape, paths, cutoff)
    rows = (
        Event.objects.filter(type__in=types, received_at__gte=since, keys__shape=shape, keys__key=key)
        .filter(Q(target__isnull=True) | Q(target_id=instance_id))
        .filter(~Exists(Delivery.objects.filter(instance_id=instance_id, event=OuterRef("pk"))))
        .order_by("seq")
    )
    for event in rows.iterator(chunk_size=20):
        if matching.matches(spec.match, spec.subject, event.data, event.subject):
            Delivery.objects.create(
                event=event, instance_id=instance_id, position=spec.position, kind=Delivery.Kind.CONSUMED
            )
            metrics.event_delivered((db.now() - event.received_at).total_seconds())
            return record_of(event)
    return None


def _register_shape(event_type: str, shape: str, paths: list[str], cutoff: dt.datetime) -> None:
    """Record a new shape for a type and key the type's retained events by it."""
    WaitShape.objects.bulk_create([WaitShape(event_type=event_type, shape=shape, paths=paths)], ignore_conflicts=True)
    kept = Event.objects.filter(type=event_type, received_at__gte=cutoff).order_by("seq")
    batch = []
    for seq, data, subject in kept.values_list("seq", "data", "subject").iterator(chunk_size=BACKFILL_BATCH):
        event_key = matching.event_key(paths, data, subject)
        if event_key is not None:
            batch.append(EventKey(event_id=seq, shape=shape, key=event_key))
        if len(batch) >= BACKFILL_BATCH:
            EventKey.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    if batch:
        EventKey.objects.bulk_create(batch, ignore_conflicts=True)


def resolve(
    instance_id: str,
    position: int,
    name: str,
    event: Event,
    record: dict,
    moment: dt.datetime,
    *,
    has_timeout: bool = True,
    branch: int | None = None,
    then: Sequence[Callable[[str], statements.Part]] = (),
) -> bool:
    """Resolve one wait with an event, unless a timeout or another event resolved it first.

    Deleting the wait decides it; its timeout's timer, the history step and the delivery follow.
    Hand-written, as this runs for every event a workflow waits for; on PostgreSQL it is one
    statement, whose later parts write only when the wait was there to delete.

    Args:
        then: what else to do only if this call resolves the wait (the wake of its instance,
            the offer to a runner), each built by its own module from the SQL condition that
            holds then: a statement returning rows (UPDATE ... RETURNING, SELECT). On PostgreSQL
            each joins the resolving statement; elsewhere they run after it, in turn.
    """
    connection = connections[db.alias()]
    step = HistoryStep(
        instance_id=instance_id,
        position=position,
        kind=StepKind.WAIT_EVENT if branch is None else StepKind.FIRST,
        name=name,
        status=StepStatus.COMPLETED,
        result=record if branch is None else {"index": branch, "event": record},
        recorded_at=moment,
    )
    delivery = Delivery(
        event=event, instance_id=instance_id, position=position, kind=Delivery.Kind.RESUMED, delivered_at=moment
    )
    if connection.vendor == "postgresql":
        resolved = _resolve_in_one(connection, instance_id, position, step, delivery, has_timeout, then)
    else:
        resolved = _resolve_in_turn(connection, instance_id, position, step, delivery, has_timeout, then)
    if resolved:
        metrics.event_delivered((moment - event.received_at).total_seconds())
    return resolved


def _resolve_in_one(
    connection: Any,
    instance_id: str,
    position: int,
    step: Model,
    delivery: Model,
    has_timeout: bool,
    then: Sequence[Callable[[str], statements.Part]],
) -> bool:
    where = f"instance_id = %s AND {statements.column(Wait, 'position', connection)} = %s"
    taken = f"WHERE {TAKEN}"
    parts = [f"w AS (DELETE FROM {statements.table(Wait, connection)} WHERE {where} RETURNING 1)"]
    params: list[Any] = [instance_id, position]
    if has_timeout:
        timers = statements.table(Timer, connection)
        parts.append(f"t AS (DELETE FROM {timers} WHERE {where} AND EXISTS (SELECT 1 FROM w))")
        params += [instance_id, position]
    for label, row in (("h", step), ("d", delivery)):
        model = type(row)
        head = statements.insert_into(model, connection)
        parts.append(f"{label} AS ({head} SELECT {statements.placeholders(model)} {taken})")
        params += statements.values(row, connection)
    # Each further part is a CTE of its own: a SELECT one (a pg_notify) runs only as it is read,
    # so the final SELECT reads every part.
    counted = ["(SELECT count(*) FROM w)"]
    for n, build in enumerate(then):
        part = build(TAKEN)
        parts.append(f"p{n} AS ({part.sql})")
        params += part.params
        counted.append(f"(SELECT count(*) FROM p{n})")
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT {', '.join(counted)}", params)
        return bool(cursor.fetchone()[0])


def _resolve_in_turn(
    connection: Any,
    instance_id: str,
    position: int,
    step: Model,
    delivery: Model,
    has_timeout: bool,
    then: Sequence[Callable[[str], statements.Part]],
) -> bool:
    where = f"instance_id = %s AND {statements.column(Wait, 'position', connection)} = %s"
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {statements.table(Wait, connection)} WHERE {where}", [instance_id, position])
        if cursor.rowcount < 1:
            return False
        if has_timeout:
            cursor.execute(f"DELETE FROM {statements.table(Timer, connection)} WHERE {where}", [instance_id, position])
        for row in (step, delivery):
            model = type(row)
            head = statements.insert_into(model, connection)
            cursor.execute(f"{head} VALUES ({statements.placeholders(model)})", statements.values(row, connection))
        for build in then:
            cursor.execute(*build("1 = 1"))
            cursor.fetchall()
    return True


def withdraw_waits(instance_id: str) -> None:
    """Remove an instance's waits but keep its timers (a resume: the next run opens the waits
    its code makes now, and a timeout keeps its original due time). A wait for a child goes too:
    the next run looks at the child again before it waits."""
    Wait.objects.filter(instance_id=instance_id).delete()
    ChildWait.objects.filter(instance_id=instance_id).delete()


def withdraw(instance_ids: Iterable[str]) -> None:
    """Withdraw every wait and timer of these instances, and their parallel steps not yet taken (cancel)."""
    ids = list(instance_ids)
    Wait.objects.filter(instance_id__in=ids).delete()
    Timer.objects.filter(instance_id__in=ids).delete()
    ChildWait.objects.filter(instance_id__in=ids).delete()
    HistoryStep.objects.filter(instance_id__in=ids, due_at__isnull=False).update(due_at=None, lease_owner=None)


# Children (durable.children) -------------------------------------------------------------------


def child_outcome(child_id: str) -> dict[str, Any] | None:
    """How a child ended, as its parent's child_result step records it; None while it is active.

    The caller holds the child's row lock (leases.lock_instances), so the child cannot end
    between this read and the wait the caller opens otherwise."""
    row = WorkflowInstance.objects.filter(pk=child_id).values("status", "result", "error", "status_reason").first()
    if row is None:
        # Purged (retention) or erased away before the parent looked: nothing to return.
        return {"status": "failed", "error": {"type": "InstanceNotFound", "message": f"{child_id} no longer exists"}}
    if row["status"] not in TERMINAL:
        return None
    return ended_child(row["status"], row["result"], row["error"], row["status_reason"])


def ended_child(status: str, result: Any, error: Any, reason: str) -> dict[str, Any]:
    """The record of a child's end: {"status", "result"} or {"status", "error"} or {"status", "reason"}."""
    if status == "completed":
        return {"status": "completed", "result": result}
    if status == "cancelled":
        return {"status": "cancelled", "reason": reason or ""}
    return {"status": "failed", "error": error if isinstance(error, dict) else {"type": "Error", "message": str(error)}}


def record_child_end(parent_id: str, child_id: str, record: dict[str, Any]) -> int | None:
    """Keep a child's end on the parent's start_child step; returns its position (None when the
    live run has no such step: the parent continued as new, or was erased)."""
    rows = HistoryStep.objects.live().filter(instance_id=parent_id, kind=StepKind.CHILD, result__id=child_id)
    found = rows.values_list("pk", "position", "result").first()
    if found is None:
        return None
    pk, position, result = found
    HistoryStep.objects.filter(pk=pk).update(result={**(result or {}), CHILD_OUTCOME: record})
    return position


def open_child_wait(instance_id: str, position: int, name: str, child_id: str) -> None:
    """The parent waits at `position` for `child_id` to end."""
    row = ChildWait(instance_id=instance_id, position=position, name=name, child_id=child_id)
    ChildWait.objects.bulk_create([row], ignore_conflicts=True)


def child_ended(child_id: str, record: dict[str, Any], moment: dt.datetime) -> str | None:
    """Resolve the wait of a parent for this child, once: its child_result step is recorded; returns
    the parent to wake, or None when no parent waits (it will find the child ended when it looks)."""
    waits = list(ChildWait.objects.filter(child_id=child_id).values_list("pk", "instance_id", "position", "name"))
    if not waits:
        return None
    pk, parent_id, position, name = waits[0]
    if not ChildWait.objects.filter(pk=pk).delete()[0]:
        return None
    step = HistoryStep(
        instance_id=parent_id,
        position=position,
        kind=StepKind.CHILD_RESULT,
        name=name,
        status=StepStatus.COMPLETED,
        result=record,
        recorded_at=moment,
    )
    HistoryStep.objects.bulk_create([step], ignore_conflicts=True)
    return parent_id


# Parallel steps (durable.run.steps) ----------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedStep:
    """A parallel step a worker took: what it needs to run the attempt."""

    pk: int
    instance_id: str
    workflow_name: str
    position: int
    name: str
    input: Any
    attempt: int
    failures: list
    # Who held it before this claim: not None means that worker stopped during its attempt.
    lost_by: str | None


def claim_step(owner: str, lease_seconds: float, statuses: Iterable[str]) -> ClaimedStep | None:
    """Take the parallel step due longest (of an instance in `statuses`) for `owner` until its
    lease ends; None when none is due. Its own short transaction."""
    moment = db.now()
    with db.atomic():
        due = (
            HistoryStep.objects.live()
            .filter(due_at__lte=moment, kind=StepKind.PARALLEL, instance__status__in=list(statuses))
            .order_by("due_at")
        )
        if db.is_postgres():
            due = due.select_for_update(skip_locked=True, of=("self",))
        fields = ("pk", "instance_id", "instance__workflow_name", "position", "name", "input", "attempt", "failures")
        row = due.values_list(*fields, "lease_owner").first()
        if row is None:
            return None
        HistoryStep.objects.filter(pk=row[0]).update(
            lease_owner=owner, due_at=moment + dt.timedelta(seconds=lease_seconds), started_at=moment
        )
    return ClaimedStep(*row)


def end_step(pk: int, owner: str, moment: dt.datetime, **fields: Any) -> bool:
    """Record how a parallel step's attempt ended, if `owner` still holds it (False: it lost the
    lease and another worker has the step). `fields` hold the status, result or error, and a
    `due_at` for a retry (None once it has ended)."""
    fields.setdefault("due_at", None)
    return (
        HistoryStep.objects.filter(pk=pk, lease_owner=owner).update(lease_owner=None, recorded_at=moment, **fields) == 1
    )


def renew_steps(pks: Iterable[int], owner: str, until: dt.datetime) -> int:
    """Extend the leases of the parallel steps this worker runs."""
    return HistoryStep.objects.filter(pk__in=list(pks), lease_owner=owner).update(due_at=until)


def unended_steps(instance_id: str, positions: list[int]) -> int:
    """How many of these parallel steps and children (their start steps) have not ended (one query)."""
    ended = [StepStatus.COMPLETED, StepStatus.FAILED]
    running = Q(kind=StepKind.PARALLEL) & ~Q(status__in=ended)
    active_child = Q(kind=StepKind.CHILD) & ~Q(result__has_key=CHILD_OUTCOME)
    rows = HistoryStep.objects.live().filter(instance_id=instance_id, position__in=positions)
    return rows.filter(running | active_child).count()


def next_step_due() -> dt.datetime | None:
    """When the earliest parallel step is due (an index lookup)."""
    return HistoryStep.objects.filter(due_at__isnull=False).order_by("due_at").values_list("due_at", flat=True).first()


# Events ----------------------------------------------------------------------------------------


def record_of(event: Event) -> dict[str, Any]:
    """The ReceivedEvent record stored in the history for a delivered event."""
    return {
        "id": event.event_id,
        "type": event.type,
        "source": event.source,
        "subject": event.subject,
        "time": event.time.isoformat() if event.time else None,
        "data": event.data,
        "datacontenttype": event.datacontenttype,
        "extensions": event.extensions or {},
    }


def store_event(
    record: dict[str, Any],
    *,
    received_at: dt.datetime,
    target_id: str | None = None,
    dispatched_at: dt.datetime | None = None,
) -> Event | None:
    """Insert one validated event row, or count a repeat of its (source, id) and return None.

    One statement for what is otherwise an UPDATE that finds nothing and an INSERT. It tells a
    new row from a counted repeat: on PostgreSQL a row just inserted has no xmax yet, while a
    repeat's carries this transaction's; on SQLite a new row's count of repeats is still 0.
    """
    event, _ = store_event_returning(
        record, None, received_at=received_at, target_id=target_id, dispatched_at=dispatched_at
    )
    return event


def store_event_returning(
    record: dict[str, Any],
    extra: statements.Part | None,
    *,
    received_at: dt.datetime,
    target_id: str | None = None,
    dispatched_at: dt.datetime | None = None,
    after: statements.Part | None = None,
) -> tuple[Event | None, Any]:
    """`store_event`, returning beside it the value of `extra`, an expression (a scalar subquery)
    the same statement evaluates, so the read costs no round trip of its own.

    The expression reads the database as the statement found it when it began: a lock the
    caller relies on for that read must be taken in an earlier statement, `after`, run first.
    Where the connection allows (db.sends_statements_together) it goes in the same round trip,
    as a statement of its own: in READ COMMITTED each statement of a multi-statement query reads
    a snapshot taken when it starts.
    """
    event = _event_row(record, received_at=received_at, target_id=target_id, dispatched_at=dispatched_at)
    connection = connections[db.alias()]
    table = statements.table(Event, connection)
    inserted = "xmax = 0" if connection.vendor == "postgresql" else "duplicates = 0"
    also, params = ("", []) if extra is None else (f", {extra.sql}", extra.params)
    sql = (
        f"{statements.insert_into(Event, connection)} VALUES ({statements.placeholders(Event)}) "
        f"ON CONFLICT (source, event_id) DO UPDATE SET duplicates = {table}.duplicates + 1 "
        f"RETURNING seq, {inserted}{also}"
    )
    values = [*statements.values(event, connection), *params]
    with connection.cursor() as cursor:
        if after is not None and db.sends_statements_together():
            # The simple query protocol (psycopg's client-side binding, Django's default) takes
            # both statements in one message; the second one's rows are the next result set.
            cursor.execute(f"{after.sql}; {sql}", [*after.params, *values])
            cursor.nextset()
        else:
            if after is not None:
                cursor.execute(*after)
            cursor.execute(sql, values)
        seq, new, *value = cursor.fetchone()
    if not new:
        return None, None
    event.seq = seq
    event._state.adding = False
    return event, value[0] if value else None


def record_event(
    record: dict[str, Any],
    *,
    received_at: dt.datetime,
    target_id: str | None = None,
    dispatched_at: dt.datetime | None = None,
) -> Event:
    """Insert one validated event row; the caller has checked (source, id) is new."""
    event = _event_row(record, received_at=received_at, target_id=target_id, dispatched_at=dispatched_at)
    event.save(force_insert=True)
    return event


def _event_row(
    record: dict[str, Any],
    *,
    received_at: dt.datetime,
    target_id: str | None = None,
    dispatched_at: dt.datetime | None = None,
) -> Event:
    time = record.get("time")
    if isinstance(time, str):
        # Stored in UTC: PostgreSQL refuses an offset beyond 15:59 that RFC 3339 allows (+21:08).
        time = dt.datetime.fromisoformat(time).astimezone(dt.UTC)
    return Event(
        event_id=record["id"],
        source=record["source"],
        type=record["type"],
        subject=record.get("subject"),
        time=time or received_at,
        datacontenttype=record.get("datacontenttype") or "application/json",
        dataschema=record.get("dataschema"),
        data=record.get("data"),
        extensions=record.get("extensions") or {},
        target_id=target_id,
        received_at=received_at,
        dispatched_at=dispatched_at,
    )


def key_event(event: Event, keys: dict[str, str], *, then: statements.Part | None = None) -> list[tuple]:
    """Store the event's key for each shape registered for its type (see take_stored_event).

    With `then`, a SELECT, also runs it and returns its rows: on PostgreSQL in the same
    statement (the keys' INSERT a data-modifying CTE before it, which the SELECT does not see).
    """
    rows = [EventKey(event=event, shape=shape, key=key) for shape, key in keys.items()]
    connection = connections[db.alias()]
    if then is None or connection.vendor != "postgresql":
        if rows:
            EventKey.objects.bulk_create(rows, ignore_conflicts=True)
        if then is None:
            return []
        sql, params = then
    elif rows:
        each = f"({statements.placeholders(EventKey)})"
        sql = (
            f"WITH k AS ({statements.insert_into(EventKey, connection)} VALUES {', '.join([each] * len(rows))} "
            f"ON CONFLICT DO NOTHING) {then.sql}"
        )
        params = [*(value for row in rows for value in statements.values(row, connection)), *then.params]
    else:
        sql, params = then
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def claim_dispatch(seq: int, moment: dt.datetime) -> bool:
    """Mark a stored event dispatched; False when another process dispatched it first."""
    return Event.objects.filter(seq=seq, dispatched_at__isnull=True).update(dispatched_at=moment) == 1


def record_start(event: Event, instance_id: str, moment: dt.datetime) -> None:
    """Record that an event started an instance (an on_event workflow)."""
    Delivery.objects.create(event=event, instance_id=instance_id, kind=Delivery.Kind.STARTED, delivered_at=moment)


def undispatched(before: dt.datetime, limit: int) -> list[int]:
    """Seqs of events stored before `before` that no process dispatched."""
    rows = Event.objects.filter(dispatched_at__isnull=True, received_at__lt=before).order_by("seq")
    return list(rows.values_list("seq", flat=True)[:limit])


# Every table whose rows belong to one instance by its `instance` foreign key, deleted with it.
INSTANCE_TABLES: tuple[type[Model], ...] = (HistoryStep, Wait, Timer, Delivery, PublishedValue, HookRun, ChildWait)


def forget_instances(instance_ids: list[str]) -> int:
    """Delete every row these instances own (see `owned_rows`); returns how many. The caller
    deletes the instance rows themselves, in the same transaction."""
    return sum(rows._raw_delete(db.alias()) for rows in owned_rows(instance_ids))


def owned_rows(instance_ids: list[str] | QuerySet) -> list[QuerySet]:
    """What instances own, in an order that deletes it: the events addressed to one of them
    alone with those events' keys (and deliveries), then the rows of INSTANCE_TABLES.

    Events an instance received from a broadcast are not its own (other instances may take
    them too): they stay until DURABLE_EVENT_RETENTION, only the delivery row goes.
    """
    addressed = Event.objects.filter(target_id__in=instance_ids)
    seqs = addressed.values("seq")
    return [
        # A delivery to one of these instances is counted (and deleted) with the instance's rows.
        Delivery.objects.filter(event_id__in=seqs).exclude(instance_id__in=instance_ids),
        EventKey.objects.filter(event_id__in=seqs),
        addressed,
        *(table._default_manager.filter(instance_id__in=instance_ids) for table in INSTANCE_TABLES),
    ]


def purge_events(cutoff: dt.datetime, limit: int) -> int:
    """Forget up to `limit` events received before `cutoff`, with their deliveries and keys
    (in a transaction of its own, opened only when there is something to forget)."""
    old = list(Event.objects.filter(received_at__lt=cutoff).values_list("seq", flat=True)[:limit])
    if old:
        with db.atomic():
            Delivery.objects.filter(event_id__in=old).delete()
            EventKey.objects.filter(event_id__in=old).delete()
            Event.objects.filter(seq__in=old).delete()
    return len(old)


# Erasure (durable.erasure) -----------------------------------------------------------------------

ERASE_BATCH = 500
# What a failure entry keeps once erased: when, and which attempt (the timeline's structure).
_FAILURE_KEPT = ("attempt", "at")


def erased_entry(entry: Any, kept: tuple[str, ...], marker: str) -> Any:
    """An entry of a log (a failure, an incident) with every value but those of `kept` replaced."""
    if not isinstance(entry, dict):
        return marker
    return {key: value if key in kept else marker for key, value in entry.items()}


def erase_steps(instance_id: str, after: int, marker: str, limit: int | None = None) -> int | None:
    """Replace the input, result, error and failures of up to `limit` steps past position `after`
    by `marker`; returns the last position done, None when no step was left."""
    rows = list(
        HistoryStep.objects.filter(instance_id=instance_id, position__gt=after)
        .order_by("position")
        .values_list("pk", "position", "failures")[: limit or ERASE_BATCH]
    )
    if not rows:
        return None
    steps = HistoryStep.objects.filter(pk__in=[pk for pk, _, _ in rows])
    for column in ("input", "result", "error"):
        steps.filter(**{f"{column}__isnull": False}).update(**{column: marker})
    for pk, _, failures in rows:
        if failures:
            erased = [erased_entry(f, _FAILURE_KEPT, marker) for f in failures] if isinstance(failures, list) else []
            HistoryStep.objects.filter(pk=pk).update(failures=erased)
    return rows[-1][1]


def sent_events(instance_id: str) -> list[tuple[str, str]]:
    """The (source, id) of the events the instance sent, as its send_event steps recorded them."""
    rows = HistoryStep.objects.filter(instance_id=instance_id, kind=StepKind.SEND_EVENT).values_list(
        "result", flat=True
    )
    return [
        (record["source"], record["id"])
        for record in rows.iterator(chunk_size=ERASE_BATCH)
        if isinstance(record, dict) and isinstance(record.get("source"), str) and isinstance(record.get("id"), str)
    ]


def erase_values(instance_id: str, marker: str) -> int:
    """Replace every value the instance published by `marker` (its keys stay)."""
    return PublishedValue.objects.filter(instance_id=instance_id).update(value=marker)


def events_of(instance_id: str, sent: Iterable[tuple[str, str]]) -> set[int]:
    """Seqs of the events delivered to the instance, addressed to it, or among `sent` (source, id)."""
    seqs = set(Delivery.objects.filter(instance_id=instance_id).values_list("event_id", flat=True))
    seqs |= set(Event.objects.filter(target_id=instance_id).values_list("seq", flat=True))
    pairs = list(dict.fromkeys(sent))
    for start in range(0, len(pairs), ERASE_BATCH):
        found = Q()
        for source, event_id in pairs[start : start + ERASE_BATCH]:
            found |= Q(source=source, event_id=event_id)
        seqs |= set(Event.objects.filter(found).values_list("seq", flat=True))
    return seqs


def erase_events(seqs: Iterable[int], instance_id: str, keep_extensions: frozenset[str], marker: str) -> int:
    """Replace the data and extensions (but the routing ones) of these events by `marker`, unless
    an instance whose data is not erased (or being erased) received the event or is its addressee:
    then it keeps its data. The erased events' keys go (no later wait may take an event whose
    data is gone) and they count as dispatched (nothing routes them again).

    Args:
        seqs: candidate events (see `events_of`).
        instance_id: the instance being erased.
        keep_extensions: extension names that route and stay (durableinstanceid).
        marker: the replacement.

    Returns:
        How many events were erased.
    """
    done, moment, todo = 0, db.now(), sorted(set(seqs))
    kept = Q(instance__erase_reason__isnull=True) & ~Q(instance_id=instance_id)
    shared = Delivery.objects.filter(kept, event=OuterRef("pk"))
    for start in range(0, len(todo), ERASE_BATCH):
        batch = todo[start : start + ERASE_BATCH]
        rows = list(
            Event.objects.filter(seq__in=batch)
            .filter(~Exists(shared))
            .filter(Q(target__isnull=True) | Q(target_id=instance_id) | Q(target__erase_reason__isnull=False))
            .values_list("seq", "extensions")
        )
        mine = [seq for seq, _ in rows]
        if not mine:
            continue
        Event.objects.filter(seq__in=mine).update(data=marker)
        Event.objects.filter(seq__in=mine, dispatched_at__isnull=True).update(dispatched_at=moment)
        for seq, extensions in rows:
            if any(name not in keep_extensions for name in extensions or {}):
                erased = {k: v if k in keep_extensions else marker for k, v in extensions.items()}
                Event.objects.filter(seq=seq).update(extensions=erased)
        EventKey.objects.filter(event_id__in=mine).delete()
        done += len(mine)
    return done
