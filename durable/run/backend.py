"""OrmBackend: how each step of a running instance is persisted, inside the run's segments."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import itertools
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings as django_settings
from django.db import DatabaseError, InterfaceError, OperationalError

from durable import activity_limits, business_keys, db, events, journal, leases, metrics, routing, tracing, transitions
from durable.conf import settings
from durable.engine import codec, retry
from durable.engine.activities import ActivityContext, ActivityFailure
from durable.engine.replay import describe
from durable.engine.types import (
    ActivityCall,
    ChildSpec,
    FirstSpec,
    NewStep,
    Step,
    StepKind,
    StepStatus,
    TimerPurpose,
    Verdict,
    WaitSpec,
)
from durable.exceptions import InvalidArgument, StorageFault
from durable.models import Status
from durable.run.segment import Segment

F = TypeVar("F", bound=Callable[..., Any])
# Errors of the database itself, not of what was asked of it: the run is retried, not failed.
TRANSIENT = (OperationalError, InterfaceError)


def waiting_summary(kind: str, **details: Any) -> dict[str, Any]:
    """The `waiting_for` summary kept on the instance for list pages and the API."""
    return {"kind": kind, **{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in details.items()}}


def guarded(method: F) -> F:
    """A Backend method whose database errors end the run as a StorageFault (a Halt), so they
    never reach workflow code: the run is rolled back and tried again."""

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except DatabaseError as exc:
            raise StorageFault(exc) from exc

    return run  # type: ignore[return-value]


def activity_event_id(idempotency_key: str, attempt: int, index: int) -> str:
    """The id of the index-th event an activity attempt sends: stable for that attempt, unguessable."""
    secret = str(getattr(django_settings, "SECRET_KEY", "") or "durable").encode()
    digest = hmac.new(secret, f"{idempotency_key}:{attempt}:{index}".encode(), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def activity_sender(idempotency_key: str, attempt: int) -> Callable[..., str]:
    """What ActivityContext.send_event calls for one attempt of an activity."""
    counter = itertools.count()

    def send(event_type: str, source: str, data: Any = None, *, subject: str | None = None) -> str:
        # Keyed by the step and the project's SECRET_KEY: a re-run attempt re-sends the same
        # event (deduplicated), and nobody without the key can guess the id ahead.
        event_id = activity_event_id(idempotency_key, attempt, next(counter))
        record = {"id": event_id, "type": event_type, "source": source, "subject": subject}
        record["data"] = codec.encode(data, where=f"data of event {event_type}")
        routing.send(record)
        return event_id

    return send


def compensation_pause_reason(call: ActivityCall, error: dict) -> str:
    """Why a compensation that ran out of attempts paused its instance."""
    undoes = call.compensating
    what = f" (undoing '{undoes.activity_name}' at step {undoes.position})" if undoes and undoes.activity_name else ""
    return (
        f"Compensation '{call.definition.name}'{what} at step {call.position} failed after {call.attempt} "
        f"attempt(s): {error.get('type', 'Error')}: {error.get('message', '')}. Fix the cause, then retry the "
        "instance to run it again, or resume it to go on with the other compensations."
    )


def released(status: str, **changes: Any) -> dict[str, Any]:
    """Instance changes that hand it back: a new status, no lease, not due."""
    return {"status": status, "lease_owner": None, "lease_expires_at": None, "run_after": None, **changes}


class OrmBackend:
    """The engine's Backend over the Django ORM, for one run of one claimed instance."""

    def __init__(self, row: dict[str, Any], owner: str, definition: Any, history: list[Step], failures: dict) -> None:
        self.instance_id: str = row["id"]
        self.workflow_name: str = row["workflow_name"]
        self.created_at: dt.datetime = row["created_at"]
        self.streak: int = row["error_streak"]
        self.definition = definition
        self.segment = Segment(
            self.instance_id,
            self.workflow_name,
            owner,
            float(settings.LEASE_SECONDS),
            row["wake_seq"],
            row.get("parent_id"),
        )
        if "queue" in row:
            self.segment.line = (row["queue"], row.get("business_key"))
        self.existing = {step.position for step in history}
        self.failures = failures
        # A run before this one recorded nothing (it failed, or its worker died): mark each
        # attempt as started before running it, so a crash inside it counts as a failed attempt.
        self.careful = row.get("failed_runs", 0) > 1
        # The claim counted this run as failed until it records something.
        self.segment.changes["failed_runs"] = 0
        if row.get("status_reason"):
            self.segment.changes["status_reason"] = ""  # the note of an earlier failed run
        # The saga's progress as stored (a cancel's reason rides in it), and this run's phase.
        self.stored_compensation: dict | None = row.get("compensation")
        self.phase: dict | None = None
        self.slot: int | None = None  # the ActivitySlot the running attempt holds (durable.activity_limits)
        self.run_number: int = row.get("run") or 1
        self.run_input: Any = row.get("input")  # kept on a continue_as_new step: the run's own input

    def failure_pauses(self) -> bool:
        return retry.pauses(self.definition.pause_after_errors, self.streak + 1)

    def compensating(self, progress: dict | None, error: dict | None = None) -> None:
        """Compensations run (status `compensating`, with their progress and the error that set
        them off) or, None, have ended."""
        if progress is None:
            self.phase = None
            self.segment.changes.update(status=Status.RUNNING, compensation=None)
            return
        self.phase = {**(self.stored_compensation or {}), **progress}
        self.segment.changes.update(status=Status.COMPENSATING, compensation=self.phase)
        if error is not None:
            self.segment.changes["error"] = error

    def parked(self, status: str) -> str:
        """The status of an instance that waits: `compensating` while its compensations run."""
        return Status.COMPENSATING if self.phase is not None else status

    def clock(self) -> dt.datetime:
        return db.now()

    @guarded
    def record(self, step: NewStep) -> None:
        if step.kind == StepKind.SEND_EVENT:
            # The rules of incoming events, at the call site: a refused event is the workflow's error.
            sent = step.result
            events.build(sent["type"], sent["source"], subject=sent.get("subject"), event_id=sent["id"])
        if step.kind == StepKind.CONTINUE_AS_NEW:
            step.input = self.run_input
        self.segment.add(step)
        self._checkpoint()

    def _checkpoint(self) -> None:
        if self.segment.over_budget():
            self.segment.commit()

    def _step(self, position: int, kind: str, name: str, **fields: Any) -> None:
        """Record a step's row: a new row, or an update of the row an earlier attempt left."""
        if position in self.existing:
            self.segment.update(position, recorded_at=self.clock(), **fields)
        else:
            status = fields.pop("status", StepStatus.COMPLETED)
            result = fields.pop("result", None)
            step_input = fields.pop("input", None)
            started_at = fields.pop("started_at", None)
            self.segment.add(
                NewStep(
                    position,
                    kind,
                    name,
                    result=result,
                    status=status,
                    input=step_input,
                    started_at=started_at,
                    extra=fields,
                )
            )
            self.existing.add(position)

    # Activities -----------------------------------------------------------------------------

    @guarded
    def activity_slot(self, call: ActivityCall) -> dt.datetime | None:
        """Take a slot of an activity with limits, committed before its body runs so every worker
        sees it; None once taken, else when to look again."""
        definition = call.definition
        self.segment.commit()
        slot, again = activity_limits.acquire(
            definition.name,
            definition.concurrency,
            definition.rate_limit,
            self.instance_id,
            call.position,
            self.segment.owner,
        )
        self.slot = slot
        return again

    def _release_slot(self) -> None:
        """The attempt ended: its slot goes with the segment that records how."""
        if self.slot is not None:
            self.segment.open()
            activity_limits.release(self.slot)
            self.slot = None

    @guarded
    def run_activity(self, call: ActivityCall) -> Any:
        try:
            return self._run_activity(call)
        finally:
            self._release_slot()

    def _run_activity(self, call: ActivityCall) -> Any:
        definition = call.definition
        started = self.clock()
        context = ActivityContext(
            instance_id=self.instance_id,
            workflow_name=self.workflow_name,
            activity_name=definition.name,
            attempt=call.attempt,
            idempotency_key=call.idempotency_key,
            sender=self._sender(call),
            compensating=call.compensating,
        )
        where = f"Instance {self.instance_id} step {call.position}: result of activity '{definition.name}'"
        retried = call.position in self.existing
        if not definition.transactional or self.careful:
            # Recorded with the commit that precedes an outside effect anyway (or, after a run that
            # recorded nothing, in one of its own): a crash during the attempt is found on replay.
            self._step(
                call.position,
                call.kind,
                definition.name,
                status=StepStatus.STARTED,
                input=call.input,
                attempt=call.attempt,
                started_at=started,
                failures=self.failures.get(call.position, []),
            )
            self.segment.commit()
        began = time.perf_counter()
        span = tracing.activity(self.instance_id, self.workflow_name, definition.name, call.position, call.attempt)
        if definition.transactional:
            self.segment.open()
            try:
                # A savepoint: a failed attempt undoes its own writes, not the segment's.
                with span, db.atomic():
                    tree = codec.encode(definition.fn(context, *call.args, **call.kwargs), where=where)
            except TRANSIENT as exc:
                # The database failed under the activity, inside the run's transaction: retry the run.
                raise StorageFault(exc) from exc
            except Exception as exc:
                metrics.activity(definition.name, "failed", time.perf_counter() - began)
                raise ActivityFailure(describe(exc), exc) from None
        else:
            # What came before was committed with the marker above (the lease proved) ahead of
            # the outside effect.
            try:
                with span:
                    tree = codec.encode(definition.fn(context, *call.args, **call.kwargs), where=where)
            except Exception as exc:
                metrics.activity(definition.name, "failed", time.perf_counter() - began)
                raise ActivityFailure(describe(exc), exc) from None
            self.segment.open()
        metrics.activity(definition.name, "completed", time.perf_counter() - began)
        self._step(
            call.position,
            call.kind,
            definition.name,
            status=StepStatus.COMPLETED,
            input=call.input,
            result=tree,
            error=None,
            attempt=call.attempt,
            retry_at=None,
            started_at=started,
            failures=self.failures.get(call.position, []),
        )
        if retried:
            journal.withdraw_timer(self.instance_id, call.position)
        if call.kind == StepKind.ACTIVITY:
            # Compensations neither break nor extend the run of errors pause_after_errors counts.
            self.streak = 0
            self.segment.changes["error_streak"] = 0
        if definition.transactional and not definition.limited:
            self._checkpoint()
        else:
            self._release_slot()  # with the result, so the next waiting attempt may start at once
            self.segment.commit()
        return tree

    def _sender(self, call: ActivityCall):
        return activity_sender(call.idempotency_key, call.attempt)

    @guarded
    def activity_failed(self, call: ActivityCall, error: dict, retry_at: dt.datetime | None) -> Verdict:
        moment = self.clock()
        compensation = call.kind == StepKind.COMPENSATION
        streak = self.streak if compensation else self.streak + 1
        pause = not compensation and retry.pauses(self.definition.pause_after_errors, streak)
        failures = [
            *self.failures.get(call.position, []),
            {"attempt": call.attempt, "type": error["type"], "message": error["message"], "at": moment.isoformat()},
        ]
        wait = retry_at is not None and retry_at > moment and not pause
        name = call.definition.name
        self.segment.open()
        self._step(
            call.position,
            call.kind,
            name,
            status=StepStatus.RETRYING if (retry_at is not None or pause) else StepStatus.FAILED,
            input=call.input,
            error=error,
            attempt=call.attempt,
            failures=failures,
            retry_at=moment if pause else retry_at,
        )
        self.streak = streak
        self.failures[call.position] = failures
        if compensation and retry_at is None:
            # A person decides: retry runs it again, resume goes on with the rest.
            reason = compensation_pause_reason(call, error)
            self.segment.commit(transition="pause_run", reason=reason, run_after=None, error_streak=streak)
            return Verdict.SUSPENDED
        if pause:
            reason = retry.activity_pause_reason(streak, name, error)
            self.segment.commit(transition="pause_run", reason=reason, run_after=None, error_streak=streak)
            return Verdict.SUSPENDED
        if wait:
            assert retry_at is not None
            summary = waiting_summary(
                "retry",
                activity=name,
                attempt=call.attempt + 1,
                max_attempts=call.definition.retry.max_attempts,
                due_at=retry_at,
            )
            journal.add_timer(self.instance_id, call.position, TimerPurpose.RETRY, name, retry_at)
            self.segment.commit(
                suspend=True,
                **released(self.parked(Status.WAITING_FOR_TIMER), waiting_for=summary, error_streak=streak),
            )
            return Verdict.SUSPENDED
        self.segment.commit(error_streak=streak)
        return Verdict.RETRY if retry_at is not None else Verdict.FINAL

    # Timers and waits -------------------------------------------------------------------------

    def set_details(self, text: str) -> None:
        self.segment.changes["details"] = text

    @guarded
    def waiting_at(self, position: int) -> bool:
        return journal.pending_at(self.instance_id, position)

    @guarded
    def suspend_timer(
        self, position: int, purpose: TimerPurpose, name: str, due_at: dt.datetime, *, label: str | None = None
    ) -> None:
        self.segment.open()
        existing = journal.existing_timer(self.instance_id, position)
        if existing is None:
            journal.add_timer(self.instance_id, position, purpose, name, due_at, label=label)
        kind = "retry" if purpose == TimerPurpose.RETRY else "timer"
        labelled = {"label": label} if label else {}
        summary = waiting_summary(kind, name=name, due_at=existing or due_at, **labelled)
        self.segment.commit(suspend=True, **released(self.parked(Status.WAITING_FOR_TIMER), waiting_for=summary))

    @guarded
    def wait_event(self, spec: WaitSpec) -> Step | None:
        moment = self.clock()
        self.segment.open()
        # Before any instance row: senders take the type lock first too (no deadlock).
        leases.lock_event_types(spec.types)
        record = journal.take_stored_event(self.instance_id, self.created_at, spec, moment - settings.event_retention)
        if record is not None:
            self._step(spec.position, StepKind.WAIT_EVENT, spec.name, result=record)
            self.segment.commit()
            return Step(spec.position, StepKind.WAIT_EVENT, spec.name, StepStatus.COMPLETED, record)
        if spec.timeout_at is not None and spec.timeout_at <= moment:
            self._step(spec.position, StepKind.WAIT_EVENT, spec.name, status=StepStatus.TIMED_OUT)
            self.segment.commit()
            return Step(spec.position, StepKind.WAIT_EVENT, spec.name, StepStatus.TIMED_OUT)
        timeout_at = journal.existing_timer(self.instance_id, spec.position) or spec.timeout_at
        journal.open_wait(self.instance_id, spec)
        labelled = {"label": spec.label} if spec.label else {}
        summary = waiting_summary(
            "event", types=spec.types, match=spec.match, subject=spec.subject, timeout_at=timeout_at, **labelled
        )
        self.segment.commit(suspend=True, **released(Status.WAITING_FOR_EVENT, waiting_for=summary))
        return None

    # Children (durable.engine.composition) ------------------------------------------------------

    @guarded
    def start_child(self, spec: ChildSpec) -> None:
        """Insert the child with the step that starts it, in one transaction: a crash before the
        commit leaves neither, a replay after it finds the step (and never starts a second child)."""
        key = business_keys.to_key(spec.business_key)
        self.segment.open()
        moment = self.clock()
        if transitions.start(
            spec.instance_id,
            spec.workflow_name,
            spec.input,
            moment,
            key,
            parent_id=self.instance_id,
            detached=spec.detached,
        ):
            db.request_run()
        else:
            # A taken id: ours only if an earlier attempt of this very step started it.
            existing = transitions.get(spec.instance_id)
            if existing.parent_id != self.instance_id or existing.workflow_name != spec.workflow_name:
                raise InvalidArgument(
                    f"Instance {self.instance_id} step {spec.position}: instance {spec.instance_id} exists already "
                    f"({existing.workflow_name}) and is not this step's child; choose another instance_id."
                )
        record = {"id": spec.instance_id, "detached": spec.detached}
        self._step(spec.position, StepKind.CHILD, spec.workflow_name, result=record, input=spec.input)
        self._checkpoint()

    @guarded
    def wait_child(self, position: int, child_id: str, name: str) -> Step | None:
        self.segment.open()
        # The child's row before this one's (descendants first, as a child that ends and a cancel
        # lock them): the child cannot end between the look and the wait.
        leases.lock_instances([child_id])
        record = journal.child_outcome(child_id)
        if record is not None:
            self._step(position, StepKind.CHILD_RESULT, name, result=record)
            self.segment.commit()
            return Step(position, StepKind.CHILD_RESULT, name, StepStatus.COMPLETED, record)
        journal.open_child_wait(self.instance_id, position, name, child_id)
        summary = waiting_summary("child", id=child_id, workflow=name)
        self.segment.commit(suspend=True, **released(self.parked(Status.WAITING_FOR_CHILD), waiting_for=summary))
        return None

    # Parallel steps and first of several (durable.engine.parallel) ----------------------------

    @guarded
    def wait_steps(self, positions: list[int], children: int = 0) -> None:
        """Suspend until these parallel steps (and `children` of them, children) have all ended;
        the last one to end wakes the instance (durable.joins), and one that ended during this
        run rewinds it."""
        self.segment.open()
        summary = waiting_summary("steps", positions=positions, **({"children": children} if children else {}))
        waiting = Status.WAITING_FOR_CHILD if children == len(positions) else Status.WAITING_FOR_EVENT
        self.segment.commit(suspend=True, **released(self.parked(waiting), waiting_for=summary))

    @guarded
    def wait_first(self, spec: FirstSpec) -> Step | None:
        """Decide a first now from a kept event or a timer already due, or open its waits and
        timer and suspend (None)."""
        moment = self.clock()
        self.segment.open()
        types = [t for _, wait in spec.events for t in wait.types]
        leases.lock_event_types(types)
        cutoff = moment - settings.event_retention
        for index, wait in spec.events:
            record = journal.take_stored_event(self.instance_id, self.created_at, wait, cutoff)
            if record is not None:
                return self._decided(spec, {"index": index, "event": record})
        if spec.timer_at is not None and spec.timer_at <= moment:
            return self._decided(spec, {"index": spec.timer_index})
        journal.open_first(self.instance_id, spec)
        summary = waiting_summary(
            "first",
            position=spec.position,
            name=spec.name,
            words=spec.words,
            types=types,
            due_at=spec.timer_at,
            steps={str(position): index for position, index in spec.steps.items()},
        )
        status = Status.WAITING_FOR_EVENT if spec.events or not spec.timer_at else Status.WAITING_FOR_TIMER
        self.segment.commit(suspend=True, **released(self.parked(status), waiting_for=summary))
        return None

    def _decided(self, spec: FirstSpec, result: dict) -> Step:
        self._step(spec.position, StepKind.FIRST, spec.name, result=result)
        self.segment.commit()
        return Step(spec.position, StepKind.FIRST, spec.name, StepStatus.COMPLETED, result)
