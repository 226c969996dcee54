"""Replay checks: run a recorded history against the current code, without running any step.

The engine's own replay (`durable.engine.replay.run` over a `WorkflowContext`) walks the
history; `CheckBackend` serves it and, the moment the code needs storage (a step beyond the
recorded history, or one in progress such as a retry), stops the run cleanly with `HistoryEnds`.
That is not a mismatch: the instance is still going, or its history ends there. A step whose
kind or name differs from what the history holds at its position is one, as is code that ends
(returns or raises) before the history does. This module never imports Django.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from durable.engine import codec, replay
from durable.engine.context import WorkflowContext
from durable.engine.registry import registry
from durable.engine.types import ActivityCall, FirstSpec, NewStep, Step, StepKind, TimerPurpose, Verdict, WaitSpec
from durable.exceptions import NonDeterminismError, Suspend, WorkflowNotFound

# What a finding is.
MISMATCH = "mismatch"
UNKNOWN_WORKFLOW = "unknown_workflow"
SKIPPED = "skipped"
MATCH = "match"
# Statuses of an ended instance: an unknown workflow there does not fail the check.
ENDED = frozenset({"completed", "failed", "cancelled"})


class HistoryEnds(Suspend):
    """The code asked for what the history does not hold: the check stops there (not a mismatch)."""


class ReplayMismatch(NonDeterminismError):
    """The current code no longer matches a recorded history."""

    code = "replay_mismatch"

    def __init__(self, message: str, finding: Finding) -> None:
        super().__init__(message)
        self.finding = finding


@dataclass
class Recorded:
    """One instance's recorded history, from the database or an exported file."""

    instance_id: str
    workflow_name: str
    status: str
    input: Any
    history: list[Step]
    business_key: str | None = None
    scheduled_at: dt.datetime | None = None
    compensation: dict | None = None
    erased: bool = False
    source: str | None = None  # the file it came from, if any


@dataclass
class Finding:
    """What replaying one history found: `verdict` is match, mismatch, unknown_workflow or skipped."""

    instance_id: str
    workflow_name: str
    verdict: str
    message: str
    position: int | None = None
    recorded: tuple[str, str] | None = None  # (kind, name) the history holds
    called: tuple[str, str] | None = None  # (kind, name) the code called; None when it ended
    replayed: int = 0  # how many recorded steps the code went through
    source: str | None = None
    fails: bool = field(default=False)  # whether it fails the check (exit 1)


class CheckingContext(WorkflowContext):
    """The engine's context, remembering the last step the code asked for (its position, kind, name)."""

    last_call: tuple[int, str, str] | None = None

    def _next(self, kind: str, name: str) -> tuple[int, Step | None]:
        if self._halt is None:
            self.last_call = (self._position, str(kind), name)
        return super()._next(kind, name)


class CheckBackend:
    """A Backend that serves only what is recorded: anything that would store or run ends the check."""

    def __init__(self) -> None:
        self.moment = dt.datetime.now(dt.UTC)

    def clock(self) -> dt.datetime:
        return self.moment

    def _stop(self) -> Any:
        raise HistoryEnds()

    def record(self, step: NewStep) -> None:
        self._stop()

    def activity_slot(self, call: ActivityCall) -> dt.datetime | None:
        return None

    def run_activity(self, call: ActivityCall) -> Any:
        self._stop()

    def activity_failed(self, call: ActivityCall, error: dict, retry_at: dt.datetime | None) -> Verdict:
        return self._stop()

    def suspend_timer(
        self, position: int, purpose: TimerPurpose, name: str, due_at: dt.datetime, *, label: str | None = None
    ) -> None:
        self._stop()

    def wait_event(self, spec: WaitSpec) -> Step | None:
        return self._stop()

    def start_child(self, spec: Any) -> None:
        self._stop()

    def wait_child(self, position: int, child_id: str, name: str) -> Step | None:
        return self._stop()

    def wait_steps(self, positions: list[int], children: int = 0) -> None:
        self._stop()

    def wait_first(self, spec: FirstSpec) -> Step | None:
        return self._stop()

    def waiting_at(self, position: int) -> bool:
        # Past the history, patched() would record a marker, which stops the check there: no open
        # wait is needed to decide, and a check never claims a mismatch it cannot see.
        return False

    def set_details(self, text: str) -> None:
        return None  # what the viewer shows is no part of the history

    def failure_pauses(self) -> bool:
        # Unwind: if the instance paused instead, its history ends here and the check stops at the
        # first compensation; if it unwound, the recorded compensations are checked.
        return False

    def compensating(self, progress: dict | None, error: dict | None = None) -> None:
        return None


def _before_cancel(record: Recorded) -> list[Step]:
    """The steps the workflow itself made: a cancel's compensations (trailing) are run from the
    history by the worker, without calling the workflow, so they are not replayed against it."""
    after_cancel = record.status == "cancelled" or (record.compensation or {}).get("after") == "cancelled"
    steps = sorted(record.history, key=lambda s: s.position)
    if not after_cancel:
        return steps
    end = len(steps)
    while end and steps[end - 1].kind == StepKind.COMPENSATION:
        end -= 1
    return steps[:end]


def check(record: Recorded) -> Finding:
    """Replay one recorded history against the registered code; nothing runs and nothing is written.

    Returns:
        A Finding: `match` (the code replays the history, up to its end or to where the instance
        waits), `mismatch` (with position, recorded and called), `unknown_workflow`, or `skipped`
        (an erased instance, whose inputs and results are gone).
    """
    found = Finding(record.instance_id, record.workflow_name, MATCH, "", source=record.source)
    if record.erased:
        found.verdict, found.message = SKIPPED, "its data was erased, so its history cannot be replayed"
        return found
    try:
        definition = registry.workflow(record.workflow_name)
    except WorkflowNotFound:
        found.verdict = UNKNOWN_WORKFLOW
        found.fails = record.status not in ENDED
        found.message = (
            f"no workflow named '{record.workflow_name}' is registered; a worker would pause this "
            f"{record.status} instance"
            if found.fails
            else f"no workflow named '{record.workflow_name}' is registered (the instance has ended)"
        )
        return found
    history = _before_cancel(record)
    inputs = codec.decode(record.input) if isinstance(record.input, dict) else {}
    args, kwargs = list(inputs.get("args", [])), dict(inputs.get("kwargs", {}))
    misfit = definition.misfit(args, kwargs)
    if misfit is not None:
        return _mismatch(found, 0, history, None, f"the code cannot take the recorded input: {misfit}")
    ctx = CheckingContext(
        instance_id=record.instance_id,
        workflow_name=definition.name,
        history=history,
        backend=CheckBackend(),
        business_key=record.business_key,
        scheduled_at=record.scheduled_at,
    )
    outcome = replay.run(definition, ctx, args, kwargs)
    found.replayed = min(ctx.position, ctx.recorded)
    if outcome.kind == replay.NONDETERMINISTIC:
        return _nondeterministic(found, ctx, history, outcome)
    if outcome.kind in (replay.FAILED, replay.COMPLETED) and ctx.position < ctx.recorded:
        error = outcome.error or {}
        said = f"raised {error.get('type', 'an error')}: {error.get('message', '')}"
        return _mismatch(found, ctx.position, history, None, f"the code {said}")
    if isinstance(ctx.halt, HistoryEnds):
        where = ctx.last_call
        found.message = (
            f"replays {found.replayed} recorded step(s); goes on with {where[1]} '{where[2]}' at step {where[0]}"
            if where
            else "the history is empty"
        )
    else:
        found.message = f"replays all {ctx.recorded} recorded step(s); the workflow {outcome.kind}"
    return found


def _nondeterministic(found: Finding, ctx: CheckingContext, history: list[Step], outcome: replay.Outcome) -> Finding:
    last = ctx.last_call
    recorded = ctx._history.get(last[0]) if last else None
    if isinstance(ctx.halt, NonDeterminismError) and last and recorded is not None:
        if (recorded.kind, recorded.name) != (last[1], last[2]):
            return _mismatch(found, last[0], history, (last[1], last[2]), "")
    if ctx.halt is None and ctx.position < ctx.recorded:
        return _mismatch(found, ctx.position, history, None, "the workflow returned")
    return _mismatch(found, ctx.position, history, None, (outcome.error or {}).get("message", "non-deterministic"))


def _mismatch(found: Finding, position: int, history: list[Step], called: tuple[str, str] | None, why: str) -> Finding:
    step = next((s for s in history if s.position == position), None)
    found.verdict, found.fails, found.position, found.called = MISMATCH, True, position, called
    found.recorded = (step.kind, step.name) if step is not None else None
    has = f"history has {step.kind} '{step.name}'" if step is not None else "history ends"
    if called is not None:
        found.message = f"step {position}: {has} but the code called {called[0]} '{called[1]}'"
    else:
        found.message = f"step {position}: {has} but {why}"
    return found


def failed_check(record: Recorded, exc: Exception) -> Finding:
    """The finding when checking one history raised (a history the code cannot even read): it fails
    the check, and the others are still checked."""
    message = f"the check could not replay it: {type(exc).__name__}: {exc}"
    return Finding(record.instance_id, record.workflow_name, MISMATCH, message, source=record.source, fails=True)


def raise_for(found: Finding) -> Finding:
    """The finding, or ReplayMismatch (a NonDeterminismError) when it fails the check.

    Raises:
        ReplayMismatch: a mismatch, or an unknown workflow of an instance that has not ended.
    """
    if found.fails:
        raise ReplayMismatch(f"Instance {found.instance_id} ({found.workflow_name}): {found.message}.", found)
    return found
