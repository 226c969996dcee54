"""One table of status transitions, and `apply`, the one function that makes them.

Every status change of an instance outside a run's own suspensions goes through here: the
operations (cancel, pause, resume, retry) from the client, the admin, the API and the commands,
and the endings of a run (completed, failed, paused by pause_after_errors, non-determinism or
missing code). Each transition names the statuses it starts from, the incident it logs, the
signal it sends on commit, the permission an operator needs and whether it takes a reason.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, router, transaction
from django.dispatch import Signal

from durable import db, hooks, joins, journal, leases, metrics, permissions, queues, signals, tracing
from durable.conf import settings
from durable.engine.types import StepKind
from durable.exceptions import InstanceNotFound, InvalidTransition, LeaseLost
from durable.models import ACTIVE, HELD, TERMINAL, Status, WorkflowInstance

INCIDENT_LOG_SIZE = 200


@dataclass(frozen=True)
class Transition:
    """One kind of status change."""

    name: str
    to: Status
    allowed: frozenset[str]
    incident: str | None
    signal: Signal
    permission: str | None
    takes_reason: bool
    label: str
    done: str

    @property
    def codename(self) -> str | None:
        """The permission's codename without the app label (for ModelAdmin checks)."""
        return self.permission.split(".", 1)[1] if self.permission else None


def _operation(name: str) -> str:
    return permissions.qualified(permissions.OPERATIONS[name][0])


RUNNING_ONLY = frozenset({Status.RUNNING})

TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        # Operations an operator (client, admin, API, commands) applies.
        Transition("cancel", Status.CANCELLED, ACTIVE, "cancelled", signals.workflow_cancelled,
                   _operation("cancel"), True, "Cancel", "Cancelled"),
        Transition("pause", Status.PAUSED, ACTIVE - {Status.PAUSED}, "paused", signals.workflow_paused,
                   _operation("pause"), True, "Pause", "Paused"),
        Transition("resume", Status.PENDING, frozenset({Status.PAUSED}), "resumed", signals.workflow_resumed,
                   _operation("resume"), False, "Resume", "Resumed"),
        # From paused too, after a compensation ran out of attempts: it runs again.
        Transition("retry", Status.PENDING, frozenset({Status.FAILED, Status.PAUSED}), "retried",
                   signals.workflow_resumed, _operation("retry"), False, "Retry", "Retried"),

        # Endings of a run, applied by the worker that holds the instance.
        Transition("complete", Status.COMPLETED, RUNNING_ONLY, None, signals.workflow_completed,
                   None, False, "Complete", "Completed"),
        Transition("fail", Status.FAILED, RUNNING_ONLY, "failed", signals.workflow_failed,
                   None, False, "Fail", "Failed"),
        Transition("pause_run", Status.PAUSED, RUNNING_ONLY, "paused", signals.workflow_paused,
                   None, True, "Pause", "Paused"),
        # The cancel operation, when compensations are armed: they run first (durable.sagas.cancel),
        # then the worker that ran them ends the instance.
        Transition("cancel_compensating", Status.COMPENSATING, ACTIVE, "compensating", signals.workflow_compensating,
                   None, True, "Cancel", "Cancelling"),
        Transition("cancel_run", Status.CANCELLED, HELD, "cancelled", signals.workflow_cancelled,
                   None, True, "Cancel", "Cancelled"),
    )
}  # fmt: skip
OPERATIONS = {name: TRANSITIONS[name] for name in ("pause", "resume", "retry", "cancel")}
START_PERMISSION = permissions.qualified(permissions.START_INSTANCE)


def offered(transition: Transition, status: str, compensation: dict | None) -> bool:
    """Whether an operator is offered `transition` for an instance in `status`: a paused one is
    retried only when its compensations were running (one may have run out of attempts)."""
    if status not in transition.allowed:
        return False
    if transition.name != "retry":
        return True
    # Paused: only while compensating. Failed: not once its saga unwound (nothing is redone).
    return bool(compensation) if status == Status.PAUSED else not compensation


def get(instance_id: str) -> WorkflowInstance:
    """The instance, or InstanceNotFound."""
    row = WorkflowInstance.objects.filter(id=instance_id).first()
    if row is None:
        raise InstanceNotFound.of(instance_id)
    return row


def start(
    instance_id: str,
    workflow_name: str,
    input_tree: dict,
    moment: dt.datetime,
    business_key: str | None = None,
    *,
    start_at: dt.datetime | None = None,
    waiting_for: dict | None = None,
    debounced: bool = False,
    trace_parent: dict | None = None,
    queue: str | None = None,
    priority: int = 0,
    **origin: Any,
) -> bool:
    """Insert a pending instance, due now or at `start_at` (its timer set through the journal), and
    send workflow_started; False when the id is taken (or, `debounced`, the key's window is open).
    `origin` holds the schedule_name and scheduled_at of an instance a schedule starts (or the
    forked_from and fork_position of a fork, durable.forking);
    `trace_parent` the extensions of the CloudEvent that starts it (its traceparent, if any).
    In a `queue` with limits it goes in line (durable.queues) instead of being due, and is
    admitted in the same transaction if there is room."""
    queue = queue or queues.queue_of(workflow_name)
    queue_state = queues.entry_state(queue, delayed=start_at is not None)
    if queue_state is not None:
        run_after = None  # runnable only once admitted (a delayed start: once its timer put it in line)
        if queue_state == queues.WAITING:
            waiting_for = queues.in_line(queue, priority)
    else:
        run_after = start_at or moment
    row = WorkflowInstance(
        id=instance_id,
        workflow_name=workflow_name,
        status=Status.PENDING,
        input=input_tree,
        business_key=business_key,
        run_after=run_after,
        waiting_for=waiting_for,
        debounced=debounced,
        queue=queue,
        priority=priority,
        queue_state=queue_state,
        trace=tracing.start_trace(instance_id, workflow_name, trace_parent),
        code_version=settings.code_version,
        **origin,
        created_at=moment,
        updated_at=moment,
    )
    try:
        if db.in_transaction() or start_at is not None or queue_state is not None:
            # A savepoint, so a taken id leaves the caller's transaction usable; the row and its
            # start timer (or its admission) commit together.
            with db.atomic():
                row.save(force_insert=True)
                if start_at is not None:
                    journal.set_start_timer(instance_id, start_at)
                if queue_state == queues.WAITING:
                    queues.admit(queue, wake=False)  # whoever starts it asks a worker on commit
        else:
            row.save(force_insert=True)
    except IntegrityError:
        return False
    signals.send_on_commit(signals.workflow_started, workflow_name, instance_id, Status.PENDING)
    return True


def apply(
    instance_id: str,
    name: str,
    reason: str = "",
    *,
    held_by: str | None = None,
    workflow_name: str = "",
    line: tuple[str, str | None] | None = None,
    parent: str | None = None,
    **changes: Any,
) -> None:
    """Apply the transition `name` to an instance, with its incident and signal; an instance
    that ends wakes its parent if the parent waits for it (ChildHandle.result()).

    Args:
        instance_id: the instance.
        name: a key of TRANSITIONS.
        reason: why, for the incident log and the signal (kept as the status reason where it
            applies: cancel, pause).
        held_by: the lease owner of a worker ending its own run: the change is fenced by the
            lease instead of a row lock and a status check, inside the run's transaction.
        workflow_name: the workflow, when `held_by` is given (the signal's sender).
        line: the instance's queue and business key, when `held_by` is given and the run knows
            them, so an end in a queue without limits costs no query to find its queue.
        parent: with `held_by`, the instance's parent_id as its claim read it (None: not a child).
        **changes: further instance fields (result, error, waiting_for, error_streak, ...).

    Raises:
        InstanceNotFound: no instance has that id.
        InvalidTransition: the instance's status does not allow it.
        LeaseLost: with `held_by`, the worker no longer holds the instance.
    """
    transition = TRANSITIONS[name]
    moment = db.now()
    fields: dict[str, Any] = {
        "status": transition.to,
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": moment,
    }
    if transition.to in (Status.CANCELLED, Status.COMPLETED, Status.FAILED):
        # Its queue slot (or place in line) goes with it: durable.queues.ended admits the next.
        fields.update(finished_at=moment, waiting_for=None, run_after=None, queue_state=None)
    if transition.to in (Status.PAUSED, Status.CANCELLED, Status.COMPENSATING):
        fields["status_reason"] = reason
    fields.update(changes)
    if held_by is not None:
        fields.setdefault("failed_runs", 0)
        updated = WorkflowInstance.objects.filter(id=instance_id, lease_owner=held_by, status__in=HELD)
        if updated.update(**fields) != 1:
            raise LeaseLost()
        if parent is not None:
            _wake_parent(instance_id, parent, transition, fields, moment)
        _record(transition, instance_id, workflow_name, moment, reason, fields)
        if transition.to in TERMINAL:
            queues.ended(instance_id, line)
        return
    with db.atomic():
        row = _lock(instance_id)
        if row.status not in transition.allowed:
            raise InvalidTransition(f"Cannot {transition.name} instance {instance_id}: it is {row.status}.")
        if transition.name in ("cancel", "cancel_compensating"):
            journal.withdraw([instance_id])
        if transition.name == "cancel_compensating":
            fields.update(run_after=moment, waiting_for=None)
        if transition.to == Status.PENDING:
            # The code may have changed: a wait it no longer makes must not catch events.
            journal.withdraw_waits(instance_id)
            fields.update(status_reason="", error_streak=0, failed_runs=0)
        if transition.name == "retry" and row.erase_reason is not None:
            raise InvalidTransition(
                f"Cannot retry instance {instance_id}: its data was erased, so it has nothing to run again with."
            )
        if transition.name == "retry" and row.status == Status.PAUSED:
            if not journal.reopen_failed_activity(instance_id, moment, kind=StepKind.COMPENSATION):
                raise InvalidTransition(
                    f"Cannot retry instance {instance_id}: it is paused, not by a compensation that ran out of "
                    "attempts. Resume it instead."
                )
        elif transition.name == "retry":
            if row.compensation:
                raise InvalidTransition(
                    f"Cannot retry instance {instance_id}: it failed and its compensations ran, so a retry would "
                    "not redo what they undid. Start a new instance instead."
                )
            if (row.error or {}).get("type") == "ActivityError":
                journal.reopen_failed_activity(instance_id, moment)
            fields.update(error=None, finished_at=None)
        # An operator's hand closes a debounce window: later calls open a new one.
        fields["debounced"] = False
        start_at = (
            journal.existing_timer(instance_id, journal.START_POSITION) if transition.to == Status.PENDING else None
        )
        back_in_line = queues.requeue_fields(row) if transition.to == Status.PENDING else None
        if start_at is not None and start_at > moment:
            # Resumed before its delayed start: it waits for its time again (its timer never went);
            # in a queue with limits, its timer then puts it in line.
            fields.update(run_after=start_at, waiting_for=start_summary(start_at))
            if back_in_line is not None:
                fields.update(queue_state=queues.DELAYED, run_after=None)
            WorkflowInstance.objects.filter(id=instance_id).update(**fields)
        elif back_in_line is not None:
            # Back in its queue's line (a retried or resumed instance that held no slot).
            fields.update(back_in_line)
            WorkflowInstance.objects.filter(id=instance_id).update(**fields)
            queues.admit(row.queue)
        else:
            WorkflowInstance.objects.filter(id=instance_id).update(**fields)
            if transition.to in (Status.PENDING, Status.COMPENSATING):
                leases.wake([instance_id], moment)
                db.request_run()
        if row.parent_id is not None:
            _wake_parent(instance_id, row.parent_id, transition, fields, moment)
        _record(transition, instance_id, row.workflow_name, moment, reason, fields)
        if transition.to in TERMINAL:
            queues.ended(instance_id, (row.queue, row.business_key))


def _wake_parent(
    instance_id: str, parent_id: str, transition: Transition, fields: dict[str, Any], moment: dt.datetime
) -> None:
    """A child that ends resolves its parent's wait for it (through the journal) and wakes the
    parent: a wait of ChildHandle.result(), or a gather or first over the child's handle."""
    if transition.to not in TERMINAL:
        return
    record = journal.ended_child(
        transition.to, fields.get("result"), fields.get("error"), str(fields.get("status_reason") or "")
    )
    # The child's row is held; the parent's next (descendants first, as a cancel locks them).
    leases.lock_instances([parent_id])
    waiting = journal.child_ended(instance_id, record, moment)
    position = journal.record_child_end(parent_id, instance_id, record)
    if waiting is not None:
        leases.wake([waiting], moment, waiting_for=None)
        db.request_run()
    elif position is not None:
        joins.position_ended(parent_id, position, moment)


def _lock(instance_id: str) -> WorkflowInstance:
    rows = WorkflowInstance.objects.filter(id=instance_id)
    if db.is_postgres():
        rows = rows.select_for_update()
    row = rows.first()
    if row is None:
        raise InstanceNotFound.of(instance_id)
    return row


def _record(
    transition: Transition, instance_id: str, workflow_name: str, moment: dt.datetime, reason: str, fields: dict
) -> None:
    """The transition's incident, its durable hooks' rows and its signal (sent once the transaction commits)."""
    extra: dict[str, Any] = {}
    details: dict[str, Any] = {}
    if transition.takes_reason:
        extra["reason"] = details["reason"] = reason
    elif reason:
        details["reason"] = reason
    if transition.name == "complete":
        extra["result"] = fields.get("result")
    if transition.name == "fail":
        error = fields.get("error") or {}
        extra["error"] = error
        details = {"error_type": error.get("type"), "message": error.get("message")}
    if transition.incident is not None:
        append_incident(instance_id, {"kind": transition.incident, "at": moment.isoformat(), **details})
    trigger = hooks.TRIGGER_OF.get(transition.name)
    if trigger is not None:
        hooks.record(instance_id, workflow_name, trigger, moment)
    signals.send_on_commit(transition.signal, workflow_name, instance_id, transition.to, **extra)
    if transition.to in TERMINAL and metrics.enabled():
        ended = functools.partial(metrics.ended, workflow_name, str(transition.to))
        transaction.on_commit(ended, using=router.db_for_write(WorkflowInstance))


def append_incident(instance_id: str, entry: dict[str, Any]) -> None:
    """Add to the instance's operations log, inside the caller's transaction."""
    log = WorkflowInstance.objects.filter(id=instance_id).values_list("incidents", flat=True).first() or []
    WorkflowInstance.objects.filter(id=instance_id).update(incidents=[*log, entry][-INCIDENT_LOG_SIZE:])


def start_summary(due: dt.datetime, latest: dt.datetime | None = None, *, debounced: bool = False) -> dict[str, Any]:
    """What a delayed instance's `waiting_for` says until it starts."""
    said: dict[str, Any] = {"kind": "start", "due_at": due.isoformat()}
    if debounced:
        said["debounced"] = True
    if latest is not None:
        said["latest_at"] = latest.isoformat()
    return said


def move_start(
    instance_id: str, input_tree: dict, start_at: dt.datetime, waiting_for: dict, moment: dt.datetime
) -> int:
    """A later debounced call: new inputs and a later start for the pending instance (SPEC 13)."""
    pending = WorkflowInstance.objects.filter(id=instance_id, status=Status.PENDING)
    # In a queue with limits the start timer puts it in line; it is not due by itself.
    moved = pending.filter(queue_state__isnull=True).update(
        input=input_tree, run_after=start_at, waiting_for=waiting_for, updated_at=moment
    ) or pending.filter(queue_state=queues.DELAYED).update(input=input_tree, waiting_for=waiting_for, updated_at=moment)
    if moved:
        journal.set_start_timer(instance_id, start_at)
    return moved
