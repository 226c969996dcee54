"""An in-memory Backend so the engine's replay can be tested without a database."""

from __future__ import annotations

import datetime as dt

from durable.engine import codec
from durable.engine.activities import ActivityContext, ActivityFailure
from durable.engine.replay import describe
from durable.engine.types import Step, StepKind, StepStatus, Verdict

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


class MemoryBackend:
    def __init__(self) -> None:
        self.moment = T0
        self.steps: dict[int, Step] = {}
        self.timers: dict[int, tuple[str, str, dt.datetime]] = {}
        self.waits: dict = {}
        self.ran: list[tuple[str, int]] = []
        self.sent: list[tuple] = []
        self.progress: list[dict | None] = []
        self.details: list[str] = []

    # Backend ------------------------------------------------------------------------------
    def clock(self) -> dt.datetime:
        return self.moment

    def record(self, step) -> None:
        self.steps[step.position] = Step(step.position, step.kind, step.name, step.status, step.result)

    def run_activity(self, call):
        self.ran.append((call.definition.name, call.attempt))
        ctx = ActivityContext(
            instance_id="i-1",
            workflow_name="wf",
            activity_name=call.definition.name,
            attempt=call.attempt,
            idempotency_key=call.idempotency_key,
            sender=lambda *a, **k: self.sent.append((a, k)) or "event-id",
            compensating=call.compensating,
        )
        try:
            tree = codec.encode(call.definition.fn(ctx, *call.args, **call.kwargs))
        except Exception as exc:
            raise ActivityFailure(describe(exc), exc) from None
        self.steps[call.position] = Step(
            call.position, call.kind, call.definition.name, StepStatus.COMPLETED, tree, attempt=call.attempt
        )
        return tree

    def activity_failed(self, call, error, retry_at):
        position, name = call.position, call.definition.name
        if retry_at is None:
            self.steps[position] = Step(position, call.kind, name, StepStatus.FAILED, None, error, call.attempt)
            # A compensation that runs out of attempts pauses the instance (the run suspends).
            return Verdict.SUSPENDED if call.kind == StepKind.COMPENSATION else Verdict.FINAL
        self.steps[position] = Step(position, call.kind, name, StepStatus.RETRYING, None, error, call.attempt, retry_at)
        if retry_at <= self.moment:
            return Verdict.RETRY
        self.timers[position] = ("retry", name, retry_at)
        return Verdict.SUSPENDED

    def failure_pauses(self) -> bool:
        return False

    def compensating(self, progress, error=None) -> None:
        self.progress.append(progress)

    def suspend_timer(self, position, purpose, name, due_at, *, label=None) -> None:
        self.timers.setdefault(position, (purpose, name, due_at))

    def waiting_at(self, position: int) -> bool:
        return position in self.timers or position in self.waits

    def set_details(self, text: str) -> None:
        self.details.append(text)

    def wait_event(self, spec):
        self.waits[spec.position] = spec
        if spec.timeout_at is not None:
            self.timers[spec.position] = ("timeout", spec.name, spec.timeout_at)
        return None

    # Test helpers --------------------------------------------------------------------------
    def history(self) -> list[Step]:
        return [self.steps[p] for p in sorted(self.steps)]

    def fire(self, position: int) -> None:
        purpose, name, due = self.timers.pop(position)
        self.moment = max(self.moment, due)
        if purpose == "sleep":
            self.steps[position] = Step(position, StepKind.SLEEP, StepKind.SLEEP)
        elif purpose == "timeout":
            spec = self.waits.pop(position)
            self.steps[position] = Step(position, StepKind.WAIT_EVENT, spec.name, StepStatus.TIMED_OUT)

    def deliver(self, position: int, record: dict) -> None:
        spec = self.waits.pop(position)
        self.timers.pop(position, None)
        self.steps[position] = Step(position, StepKind.WAIT_EVENT, spec.name, StepStatus.COMPLETED, record)
