"""Sagas: the compensations an instance has armed, rebuilt by replay, run newest first as recorded steps.

Arming is a step of its own (kind `arm`, named after the compensation) that records the arguments
and the step it undoes, so replay rebuilds the same armed list and a code change that arms
differently is caught like any other non-determinism. Running one is a step of kind
`compensation`, run like an activity (retries, durable backoff, the transactional guarantee).
The armed list is a stack: every compensation that runs (or that a resume went past) undoes the
newest armed one still waiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from durable.engine import activities, codec
from durable.engine.registry import ActivityDefinition, registry
from durable.engine.types import NewStep, Step, StepKind, StepStatus
from durable.exceptions import DefinitionError, NonDeterminismError

if TYPE_CHECKING:
    from durable.engine.context import WorkflowContext

# Why a phase of compensations runs: what the instance becomes after it.
FAILED = "failed"
CANCELLED = "cancelled"
EXPLICIT = "compensate"  # ctx.compensate(): the workflow goes on afterwards


@dataclass(frozen=True)
class Compensating:
    """The step a running compensation undoes, as `ActivityContext.compensating` shows it.

    Attributes:
        activity_name: the undone activity's name; None for a compensation armed with
            `ctx.add_compensation`, which undoes no particular step.
        position: the history position of the undone activity (of the arm step, for
            `add_compensation`).
        result: the undone activity's result (None for `add_compensation`).
    """

    activity_name: str | None
    position: int
    result: Any = None


@dataclass(frozen=True)
class Armed:
    """One armed compensation waiting to run."""

    position: int
    name: str
    args: tuple
    kwargs: dict
    undoes: Compensating


def armed_of(position: int, name: str, record: dict[str, Any]) -> Armed:
    """The Armed entry of an arm step's recorded result."""
    undoes = record.get("undoes")
    if undoes is None:
        target = Compensating(None, position, None)
    else:
        target = Compensating(undoes["activity_name"], undoes["position"], codec.decode(undoes.get("result")))
    return Armed(
        position=position,
        name=name,
        args=tuple(codec.decode(record.get("args") or [])),
        kwargs=dict(codec.decode(record.get("kwargs") or {})),
        undoes=target,
    )


@dataclass(frozen=True)
class Rebuilt:
    """What the history says of a saga without running the workflow (a cancel's compensations)."""

    armed: list[Armed]
    done: int
    skipped: int
    resume_at: int


def rebuild(history: Iterable[Step]) -> Rebuilt:
    """The armed compensations still to run, from the recorded steps alone.

    `done` and `skipped` count the compensations of the phase the history ends in, and
    `resume_at` is the position the next compensation takes (the one in progress, if any).

    Raises:
        NonDeterminismError: a recorded compensation is not the newest armed one.
    """
    stack: list[Armed] = []
    done = skipped = 0
    resume_at = 0
    for step in sorted(history, key=lambda s: s.position):
        resume_at = step.position + 1
        if step.kind == StepKind.ARM:
            stack.append(armed_of(step.position, step.name, step.result or {}))
            done = skipped = 0
        elif step.kind == StepKind.COMPENSATION:
            if not stack or stack[-1].name != step.name:
                expected = stack[-1].name if stack else "nothing"
                raise NonDeterminismError(
                    f"Step {step.position}: history has compensation '{step.name}' but the newest armed "
                    f"compensation is {expected!r}. The history was not written by this saga."
                )
            if step.status == StepStatus.COMPLETED:
                done += 1
            elif step.status == StepStatus.FAILED:
                skipped += 1
            else:
                # Retrying, or started when its worker stopped: it runs again at this position.
                resume_at = step.position
                break
            stack.pop()
        else:
            done = skipped = 0
    return Rebuilt(stack, done, skipped, resume_at)


class Saga:
    """The armed compensations of one run of a workflow; the context arms and runs them."""

    def __init__(self, ctx: WorkflowContext) -> None:
        self.ctx = ctx
        self.armed: list[Armed] = []

    def arm(self, undo: Any, args: tuple, kwargs: dict, undoes: tuple[str, int, Any] | None) -> None:
        """Record (or replay) the arming of `undo` with these arguments.

        Raises:
            DefinitionError: `undo` is not an activity.
            EncodingError: an argument (or the undone result) cannot be stored as JSON.
        """
        if not isinstance(undo, ActivityDefinition):
            raise DefinitionError(
                f"Instance {self.ctx.instance_id}: add_compensation needs an @durable.activity, not {undo!r}."
            )
        ctx = self.ctx
        position, step = ctx._next(StepKind.ARM, undo.name)
        if step is not None:
            record = step.result or {}
        else:
            where = f"Instance {ctx.instance_id} step {position}: arguments of compensation '{undo.name}'"
            record = codec.encode({"args": list(args), "kwargs": kwargs}, where=where)
            if undoes is not None:
                name, at, result = undoes
                record["undoes"] = {
                    "activity_name": name,
                    "position": at,
                    "result": codec.encode(result, where=f"{where} (result of '{name}')"),
                }
            ctx._call(ctx._backend.record, NewStep(position=position, kind=StepKind.ARM, name=undo.name, result=record))
        self.armed.append(armed_of(position, undo.name, record))

    def run(self, after: str, *, done: int = 0, skipped: int = 0, error: dict | None = None) -> bool:
        """Run every armed compensation, newest first, each a recorded step; True when none was skipped.

        `error` is the workflow's uncaught error that set them off, shown while they run. A
        compensation that exhausts its retries pauses the instance (the run suspends); after
        `resume` its failed step is gone past, after `retry` it runs again.
        """
        ctx = self.ctx
        if not self.armed and after == EXPLICIT:
            return True
        total = done + skipped + len(self.armed)
        backend = ctx._backend
        backend.compensating({"after": after, "done": done, "skipped": skipped, "total": total}, error)
        while self.armed:
            armed = self.armed[-1]
            definition = registry.activities.get(armed.name)
            if definition is None:
                ctx._halt = NonDeterminismError(
                    f"Instance {ctx.instance_id} step {armed.position}: history arms compensation "
                    f"'{armed.name}' but no activity of that name is registered. Deploy code that has it, "
                    "then resume the instance."
                )
                raise ctx._halt
            step = ctx._history.get(ctx.position)
            if (
                step is not None
                and step.kind == StepKind.COMPENSATION
                and step.name == armed.name
                and step.status == StepStatus.FAILED
            ):
                ctx._next(StepKind.COMPENSATION, armed.name)  # a resume went on past it
                skipped += 1
            else:
                activities.run_step(
                    ctx, definition, armed.args, armed.kwargs, kind=StepKind.COMPENSATION, undoes=armed.undoes
                )
                done += 1
            self.armed.pop()
            backend.compensating({"after": after, "done": done, "skipped": skipped, "total": total})
        if after == EXPLICIT:
            backend.compensating(None)
        return skipped == 0

    def run_recorded(self, history: Iterable[Step]) -> bool:
        """Run the compensations a cancel left to run, from the history alone (the workflow is not called)."""
        rebuilt = rebuild(history)
        self.armed = rebuilt.armed
        self.ctx._position = rebuilt.resume_at
        return self.run(CANCELLED, done=rebuilt.done, skipped=rebuilt.skipped)
