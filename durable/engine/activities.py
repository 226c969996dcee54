"""An activity step: replayed from its record, or run attempt by attempt (retries, a lost worker's
attempt, a limited activity's free slot); what a failed attempt reports; what an activity receives."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from durable.engine import codec
from durable.engine.types import ActivityCall, StepKind, StepStatus, TimerPurpose, Verdict
from durable.exceptions import ActivityError, EncodingError, WorkerLost

if TYPE_CHECKING:
    from durable.engine import saga
    from durable.engine.context import WorkflowContext


class ActivityFailure(Exception):
    """One failed attempt, as the storage reports it back to the context."""

    def __init__(self, error: dict, exc: BaseException) -> None:
        super().__init__(error.get("message", ""))
        self.error = error
        self.exc = exc


def run_step(
    ctx: WorkflowContext,
    definition: Any,
    args: tuple,
    kwargs: dict,
    *,
    kind: str = StepKind.ACTIVITY,
    undoes: saga.Compensating | None = None,
) -> Any:
    """The activity step at the context's next position: its recorded result (or failure) when
    replaying, else its attempts until one succeeds, the retries run out, or the run suspends."""
    position, step = ctx._next(kind, definition.name)
    if step is not None and step.status == StepStatus.COMPLETED:
        return codec.decode(step.result)
    if step is not None and step.status == StepStatus.FAILED:
        raise activity_error(ctx.instance_id, definition.name, step.error or {}, step.attempt)
    where = f"{ctx._where(position)} input of activity '{definition.name}'"
    input_tree = codec.encode({"args": list(args), "kwargs": kwargs}, where=where)
    args, kwargs = tuple(codec.decode(input_tree["args"])), codec.decode(input_tree["kwargs"])
    attempt = 1
    lost: ActivityFailure | None = None
    if step is not None and step.status == StepStatus.STARTED:
        # The worker running this attempt stopped before recording how it ended.
        attempt = step.attempt
        exc = WorkerLost(
            f"The worker running attempt {attempt} of activity '{definition.name}' stopped before it "
            "ended (it crashed, ran out of memory, was killed or timed out)."
        )
        lost = ActivityFailure({"type": "WorkerLost", "message": str(exc)}, exc)
    if step is not None and step.status == StepStatus.RETRYING:
        attempt = step.attempt + 1
        now = ctx._backend.clock()
        if step.retry_at is not None and step.retry_at > now:
            ctx._call(ctx._backend.suspend_timer, position, TimerPurpose.RETRY, definition.name, step.retry_at)
            ctx._suspend()
    while True:
        call = ActivityCall(
            position=position,
            definition=definition,
            args=args,
            kwargs=kwargs,
            input=input_tree,
            attempt=attempt,
            idempotency_key=f"{ctx.instance_id}:{position}",
            kind=kind,
            compensating=undoes,
        )
        try:
            if lost is not None:
                failed, lost = lost, None
                raise failed
            if definition.limited:
                # No free slot: the worker is released until one may be, as for a retry backoff.
                again = ctx._call(ctx._backend.activity_slot, call)
                if again is not None:
                    label = f"waiting for a free slot of activity '{definition.name}'"
                    ctx._call(
                        ctx._backend.suspend_timer,
                        position,
                        TimerPurpose.RETRY,
                        definition.name,
                        again,
                        label=label,
                    )
                    ctx._suspend()
            tree = ctx._call(ctx._backend.run_activity, call)
        except ActivityFailure as failure:
            retry_at = None
            if not isinstance(failure.exc, EncodingError) and definition.retry.retries(failure.exc, attempt):
                delay = definition.retry.delay(attempt)
                retry_at = ctx._backend.clock() + dt.timedelta(seconds=delay)
            verdict = ctx._call(ctx._backend.activity_failed, call, failure.error, retry_at)
            if verdict == Verdict.RETRY:
                attempt += 1
                continue
            if verdict == Verdict.SUSPENDED:
                ctx._suspend()
            raise activity_error(ctx.instance_id, definition.name, failure.error, attempt) from None
        return codec.decode(tree)


def activity_error(instance_id: str, name: str, error: dict, attempts: int) -> ActivityError:
    error_type = error.get("type", "Exception")
    message = error.get("message", "")
    return ActivityError(
        f"Instance {instance_id}: activity '{name}' failed after {attempts} attempt(s): {error_type}: {message}",
        activity_name=name,
        error_type=error_type,
        error_message=message,
        attempts=attempts,
    )


class ActivityContext:
    """What an activity receives: who runs it, which attempt, and a stable idempotency key."""

    def __init__(
        self,
        *,
        instance_id: str,
        workflow_name: str,
        activity_name: str,
        attempt: int,
        idempotency_key: str,
        sender: Callable[..., str],
        compensating: saga.Compensating | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.workflow_name = workflow_name
        self.activity_name = activity_name
        self.attempt = attempt
        self.idempotency_key = idempotency_key
        # The step a compensation undoes (activity_name, position, result); None otherwise.
        self.compensating = compensating
        self._sender = sender

    def send_event(self, event_type: str, source: str, data: Any = None, *, subject: str | None = None) -> str:
        """Send a CloudEvent; from a transactional activity it is stored with the step's result.

        Returns:
            The event id.
        """
        return self._sender(event_type, source, data, subject=subject)
