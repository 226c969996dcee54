"""OrmBackend: how each step of a running instance is written, fenced by the worker's lease."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import uuid
from typing import Any

from django.db import IntegrityError

from durable import routing, signals, store
from durable.conf import settings
from durable.engine import codec
from durable.engine.context import ActivityContext, ActivityFailure
from durable.engine.replay import describe
from durable.engine.types import (
    ACTIVITY,
    COMPLETED,
    FAILED,
    RETRYING,
    TIMED_OUT,
    TIMER_RETRY,
    TIMER_TIMEOUT,
    WAIT_EVENT,
    ActivityCall,
    NewStep,
    Step,
    WaitSpec,
)
from durable.exceptions import LeaseLost
from durable.models import Delivery, Status, Timer

logger = logging.getLogger(__name__)

ACTIVITY_EVENT_NAMESPACE = uuid.UUID("a3c5e1d7-2b4f-4c8a-9e6d-1f0b7a5c3e92")


def waiting_summary(kind: str, **details: Any) -> dict[str, Any]:
    """The `waiting_for` summary kept on the instance for list pages and the API."""
    return {"kind": kind, **{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in details.items()}}


class OrmBackend:
    """The engine's Backend over the Django ORM, for one run of one claimed instance."""

    def __init__(self, row: dict[str, Any], owner: str, definition: Any, history: list[Step], failures: dict) -> None:
        self.instance_id: str = row["id"]
        self.workflow_name: str = row["workflow_name"]
        self.created_at: dt.datetime = row["created_at"]
        self.wake_seq: int = row["wake_seq"]
        self.streak: int = row["error_streak"]
        self.owner = owner
        self.definition = definition
        self.lease = float(settings.LEASE_SECONDS)
        self.pending: list[NewStep] = []
        self.existing = {step.position for step in history}
        self.failures = failures

    # Helpers --------------------------------------------------------------------------------

    def clock(self) -> dt.datetime:
        return store.now()

    def record(self, step: NewStep) -> None:
        self.pending.append(step)

    def fence(self, *, suspend: bool = False, **changes: Any) -> None:
        store.fence(self.instance_id, self.owner, self.lease, wake_seq=self.wake_seq if suspend else None, **changes)

    def flush(self, *extra: NewStep) -> None:
        """Write the buffered steps (and `extra`) inside the caller's transaction."""
        steps = self.pending + list(extra)
        try:
            seqs = store.write_steps(self.instance_id, steps)
        except IntegrityError:
            # Another worker recorded this position: it holds the instance now.
            raise LeaseLost() from None
        if seqs:
            store.on_commit(lambda: [routing.deliver(seq) for seq in seqs])
        self.existing.update(step.position for step in steps)

    def release_changes(self, status: str, **changes: Any) -> dict[str, Any]:
        return {
            "status": status,
            "lease_owner": None,
            "lease_expires_at": None,
            "run_after": None,
            **changes,
        }

    # Activities -----------------------------------------------------------------------------

    def run_activity(self, call: ActivityCall) -> Any:
        definition = call.definition
        started = self.clock()
        context = ActivityContext(
            instance_id=self.instance_id,
            workflow_name=self.workflow_name,
            activity_name=definition.name,
            attempt=call.attempt,
            idempotency_key=call.idempotency_key,
            sender=self._sender(call),
        )
        where = f"Instance {self.instance_id} step {call.position}: result of activity '{definition.name}'"
        if definition.transactional:
            try:
                with store.atomic():
                    tree = codec.encode(definition.fn(context, *call.args, **call.kwargs), where=where)
                    self._record_activity(call, tree, started)
            except Exception as exc:
                raise ActivityFailure(describe(exc), exc) from None
        else:
            # Check the lease (and record what came before) ahead of any outside effect.
            with store.atomic():
                self.fence()
                self.flush()
            self.pending.clear()
            try:
                tree = codec.encode(definition.fn(context, *call.args, **call.kwargs), where=where)
            except Exception as exc:
                raise ActivityFailure(describe(exc), exc) from None
            with store.atomic():
                self._record_activity(call, tree, started)
        self.pending.clear()
        self.streak = 0
        return tree

    def _record_activity(self, call: ActivityCall, tree: Any, started: dt.datetime) -> None:
        self.fence(error_streak=0)
        fields = {
            "status": COMPLETED,
            "input": call.input,
            "result": tree,
            "error": None,
            "attempt": call.attempt,
            "retry_at": None,
            "started_at": started,
        }
        if call.position in self.existing:
            self.flush()
            store.update_step(self.instance_id, call.position, recorded_at=self.clock(), **fields)
            Timer.objects.filter(instance_id=self.instance_id, position=call.position).delete()
        else:
            step = NewStep(call.position, ACTIVITY, call.definition.name, result=tree, input=call.input)
            step.started_at = started
            step.extra = {"attempt": call.attempt, "failures": self.failures.get(call.position, [])}
            self.flush(step)

    def _sender(self, call: ActivityCall):
        counter = itertools.count()

        def send(event_type: str, source: str, data: Any = None, *, subject: str | None = None) -> str:
            # Ids derive from the step, so a repeated attempt re-sends the same event (deduplicated).
            event_id = str(
                uuid.uuid5(ACTIVITY_EVENT_NAMESPACE, f"{call.idempotency_key}:{call.attempt}:{next(counter)}")
            )
            record = {"id": event_id, "type": event_type, "source": source, "subject": subject}
            record["data"] = codec.encode(data, where=f"data of event {event_type}")
            routing.send(record)
            return event_id

        return send

    def activity_failed(self, call: ActivityCall, error: dict, retry_at: dt.datetime | None) -> str:
        moment = self.clock()
        streak = self.streak + 1
        limit = self.definition.pause_after_errors
        pause = limit is not None and streak >= limit
        failures = [
            *self.failures.get(call.position, []),
            {"attempt": call.attempt, "type": error["type"], "message": error["message"], "at": moment.isoformat()},
        ]
        wait = retry_at is not None and retry_at > moment and not pause
        status = RETRYING if (retry_at is not None or pause) else FAILED
        step_fields = {
            "status": status,
            "input": call.input,
            "error": error,
            "attempt": call.attempt,
            "failures": failures,
            "retry_at": moment if pause else retry_at,
            "recorded_at": moment,
        }
        name = call.definition.name
        with store.atomic():
            if pause:
                reason = (
                    f"Paused after {streak} failed attempts in a row; the last, of activity '{name}', raised "
                    f"{error['type']}: {error['message']}. Fix the cause, then resume the instance."
                )
                self.fence(
                    **self.release_changes(Status.PAUSED, status_reason=reason, error_streak=streak),
                )
                store.append_incident(self.instance_id, store.incident("paused", moment, reason=reason))
                signals.send_on_commit(
                    signals.workflow_paused, self.workflow_name, self.instance_id, Status.PAUSED, reason=reason
                )
            elif wait:
                summary = waiting_summary(
                    "retry",
                    activity=name,
                    attempt=call.attempt + 1,
                    max_attempts=call.definition.retry.max_attempts,
                    due_at=retry_at,
                )
                self.fence(
                    suspend=True,
                    **self.release_changes(Status.WAITING_FOR_TIMER, waiting_for=summary, error_streak=streak),
                )
                store.add_timer(self.instance_id, call.position, TIMER_RETRY, name, retry_at)
            else:
                self.fence(error_streak=streak)
            if call.position in self.existing:
                self.flush()
                store.update_step(self.instance_id, call.position, **step_fields)
            else:
                step = NewStep(call.position, ACTIVITY, name, status=status, input=call.input)
                step.extra = {k: v for k, v in step_fields.items() if k not in ("status", "input", "recorded_at")}
                self.flush(step)
        self.pending.clear()
        self.streak = streak
        self.failures[call.position] = failures
        if pause or wait:
            return "suspended"
        return "retry" if retry_at is not None else "final"

    # Timers and waits -------------------------------------------------------------------------

    def suspend_timer(self, position: int, purpose: str, name: str, due_at: dt.datetime) -> None:
        with store.atomic():
            existing = store.existing_timer(self.instance_id, position)
            due = existing or due_at
            kind = "timer" if purpose != TIMER_RETRY else "retry"
            summary = waiting_summary(kind, name=name, due_at=due)
            self.fence(suspend=True, **self.release_changes(Status.WAITING_FOR_TIMER, waiting_for=summary))
            if existing is None:
                store.add_timer(self.instance_id, position, purpose, name, due_at)
            self.flush()
        self.pending.clear()

    def wait_event(self, spec: WaitSpec) -> Step | None:
        moment = self.clock()
        with store.atomic():
            store.lock_event_types(spec.types)
            cutoff = moment - settings.event_retention
            event = routing.find_stored_event(self.instance_id, self.created_at, spec, cutoff)
            if event is not None:
                self.fence()
                Delivery.objects.create(
                    event=event, instance_id=self.instance_id, position=spec.position, kind=Delivery.Kind.CONSUMED
                )
                step = NewStep(spec.position, WAIT_EVENT, spec.name, result=routing.record_of(event))
                self.flush(step)
                found: Step | None = Step(spec.position, WAIT_EVENT, spec.name, COMPLETED, step.result)
            elif spec.timeout_at is not None and spec.timeout_at <= moment:
                self.fence()
                self.flush(NewStep(spec.position, WAIT_EVENT, spec.name, status=TIMED_OUT))
                found = Step(spec.position, WAIT_EVENT, spec.name, TIMED_OUT)
            else:
                timeout_at = store.existing_timer(self.instance_id, spec.position) or spec.timeout_at
                summary = waiting_summary(
                    "event", types=spec.types, match=spec.match, subject=spec.subject, timeout_at=timeout_at
                )
                self.fence(suspend=True, **self.release_changes(Status.WAITING_FOR_EVENT, waiting_for=summary))
                routing.add_wait(self.instance_id, spec)
                if spec.timeout_at is not None:
                    store.add_timer(self.instance_id, spec.position, TIMER_TIMEOUT, spec.name, spec.timeout_at)
                self.flush()
                found = None
        self.pending.clear()
        return found
