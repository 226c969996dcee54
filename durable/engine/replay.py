"""Run a workflow function against its history and say how the run ended."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from durable.engine import codec, saga
from durable.engine.context import WorkflowContext
from durable.engine.registry import WorkflowDefinition
from durable.exceptions import ContinueAsNew, EncodingError, Halt, NonDeterminismError, Suspend


class OutcomeKind(StrEnum):
    """How a run of the workflow function ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    SUSPENDED = "suspended"
    NONDETERMINISTIC = "nondeterministic"
    CANCELLED = "cancelled"  # a cancel's compensations have all run
    CONTINUED = "continued"  # ctx.continue_as_new: `result` holds the next run's input


COMPLETED, FAILED, SUSPENDED, NONDETERMINISTIC, CANCELLED, CONTINUED = OutcomeKind


@dataclass
class Outcome:
    """How one run of a workflow function ended."""

    kind: OutcomeKind
    result: Any = None
    error: dict | None = None
    # After a saga unwound: True when every compensation ran, False when a resume skipped one.
    compensated: bool | None = None


def describe(exc: BaseException, *, with_traceback: bool = True) -> dict:
    """The JSON form of an exception, as stored in histories and on instances."""
    info = {"type": type(exc).__name__, "message": str(exc)}
    if with_traceback:
        info["traceback"] = "".join(traceback.format_exception(exc))
    return info


def run(definition: WorkflowDefinition, ctx: WorkflowContext, args: list, kwargs: dict) -> Outcome:
    """Call the workflow from the top; recorded steps replay, new ones run through the backend.

    Suspension and non-determinism are decided by the context, not by what user code let
    through: a workflow that swallows either still ends the run that way.
    """
    failure: dict | None = None
    try:
        value = definition.fn(ctx, *args, **kwargs)
    except Suspend:
        return Outcome(SUSPENDED)
    except ContinueAsNew as again:
        return Outcome(CONTINUED, result=again.input)
    except Halt:
        raise
    except NonDeterminismError as exc:
        return Outcome(NONDETERMINISTIC, error=describe(exc, with_traceback=False))
    except Exception as exc:
        halted = _halted(ctx)
        if halted:
            return halted
        failure = describe(exc)
    if failure is not None:
        if not ctx.saga.armed or ctx._backend.failure_pauses():
            return Outcome(FAILED, error=failure)
        # Outside the except block: a compensation's own errors are not chained to this one.
        return _unwind(ctx, lambda: ctx.saga.run(saga.FAILED, error=failure), FAILED, failure)
    halted = _halted(ctx)
    if halted:
        return halted
    if ctx.position < ctx.recorded:
        return Outcome(
            NONDETERMINISTIC,
            error={
                "type": "NonDeterminismError",
                "message": (
                    f"Instance {ctx.instance_id}: the workflow returned after {ctx.position} steps but "
                    f"the history holds {ctx.recorded}. Check that the workflow is deterministic; "
                    "deploy code that replays the recorded steps, then resume the instance."
                ),
            },
        )
    try:
        tree = codec.encode(value, where=f"Instance {ctx.instance_id} result of '{definition.name}'")
    except EncodingError as bad:
        return Outcome(FAILED, error=describe(bad))
    return Outcome(COMPLETED, result=tree)


def compensate_cancelled(ctx: WorkflowContext, history: list) -> Outcome:
    """Run the compensations a cancel left, from the history alone; the workflow is not called."""
    return _unwind(ctx, lambda: ctx.saga.run_recorded(history), CANCELLED, None)


def _unwind(ctx: WorkflowContext, run_saga: Callable[[], bool], kind: OutcomeKind, error: dict | None) -> Outcome:
    """Run the armed compensations; the outcome `kind` once they have all run."""
    try:
        compensated = run_saga()
    except Suspend:
        return Outcome(SUSPENDED)
    except NonDeterminismError as exc:
        return Outcome(NONDETERMINISTIC, error=describe(exc, with_traceback=False))
    return _halted(ctx) or Outcome(kind, error=error, compensated=compensated)


def _halted(ctx: WorkflowContext) -> Outcome | None:
    halt = ctx.halt
    if isinstance(halt, ContinueAsNew):
        return Outcome(CONTINUED, result=halt.input)
    if isinstance(halt, Halt) and not isinstance(halt, Suspend):
        raise halt
    if isinstance(halt, Suspend):
        return Outcome(SUSPENDED)
    if isinstance(halt, NonDeterminismError):
        return Outcome(NONDETERMINISTIC, error=describe(halt, with_traceback=False))
    return None
