"""Run a workflow function against its history and say how the run ended."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from durable.engine import codec
from durable.engine.context import WorkflowContext
from durable.engine.registry import WorkflowDefinition
from durable.exceptions import EncodingError, Halt, NonDeterminismError, Suspend


class OutcomeKind(StrEnum):
    """How a run of the workflow function ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    SUSPENDED = "suspended"
    NONDETERMINISTIC = "nondeterministic"


COMPLETED, FAILED, SUSPENDED, NONDETERMINISTIC = OutcomeKind


@dataclass
class Outcome:
    """How one run of a workflow function ended."""

    kind: OutcomeKind
    result: Any = None
    error: dict | None = None


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
    try:
        value = definition.fn(ctx, *args, **kwargs)
    except Suspend:
        return Outcome(SUSPENDED)
    except Halt:
        raise
    except NonDeterminismError as exc:
        return Outcome(NONDETERMINISTIC, error=describe(exc, with_traceback=False))
    except Exception as exc:
        halted = _halted(ctx)
        return halted or Outcome(FAILED, error=describe(exc))
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
    except EncodingError as exc:
        return Outcome(FAILED, error=describe(exc))
    return Outcome(COMPLETED, result=tree)


def _halted(ctx: WorkflowContext) -> Outcome | None:
    halt = ctx.halt
    if isinstance(halt, Halt) and not isinstance(halt, Suspend):
        raise halt
    if isinstance(halt, Suspend):
        return Outcome(SUSPENDED)
    if isinstance(halt, NonDeterminismError):
        return Outcome(NONDETERMINISTIC, error=describe(halt, with_traceback=False))
    return None
