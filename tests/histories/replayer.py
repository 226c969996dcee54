"""Replay a recorded history against the current workflow code, running and storing nothing.

Kept test-side for now; SPEC §17 later makes `replay` public as `durable.testing.replay`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from durable.engine import codec
from durable.engine import replay as engine
from durable.engine.context import WorkflowContext
from durable.engine.registry import WorkflowDefinition, registry
from durable.engine.types import ActivityCall, NewStep, Step, StepKind, StepStatus, TimerPurpose, Verdict, WaitSpec
from durable.exceptions import Suspend, WorkflowNotFound

FORMAT = 1
# Statuses the workflow function reached by itself: a replay must end the same way, asking nothing.
ENDED = ("completed", "failed")
# What a waiting instance asks for next, once its recorded steps are replayed.
NEXT_KINDS = {
    "waiting_for_event": (StepKind.WAIT_EVENT,),
    "waiting_for_timer": (StepKind.SLEEP, StepKind.ACTIVITY),
    "waiting_for_child": (StepKind.CHILD_RESULT,),
}
# Earlier than any recorded retry time, so a retrying step waits for its timer again.
CLOCK = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Asked:
    """A step the code asked the backend for: something the history does not answer."""

    position: int
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} '{self.name}'"


class ReplayOnly:
    """The engine's Backend for a recorded history: any request for new work stops the run."""

    def __init__(self) -> None:
        self.asked: Asked | None = None

    def _stop(self, position: int, kind: str, name: str) -> NoReturn:
        # Suspend is how a real backend stops a run too; the report then judges the request.
        self.asked = Asked(position, kind, name)
        raise Suspend()

    def clock(self) -> dt.datetime:
        return CLOCK

    def record(self, step: NewStep) -> None:
        self._stop(step.position, step.kind, step.name)

    def run_activity(self, call: ActivityCall) -> Any:
        self._stop(call.position, StepKind.ACTIVITY, call.definition.name)

    def activity_failed(self, call: ActivityCall, error: dict, retry_at: dt.datetime | None) -> Verdict:
        self._stop(call.position, StepKind.ACTIVITY, call.definition.name)

    def suspend_timer(
        self, position: int, purpose: str, name: str, due_at: dt.datetime, *, label: str | None = None
    ) -> None:
        self._stop(position, StepKind.SLEEP if purpose == TimerPurpose.SLEEP else StepKind.ACTIVITY, name)

    def waiting_at(self, position: int) -> bool:
        return False  # a history file holds no open waits: past it, patched() would record a marker

    def set_details(self, text: str) -> None:
        pass  # what the viewer shows is no part of the history

    def wait_event(self, spec: WaitSpec) -> Step | None:
        self._stop(spec.position, StepKind.WAIT_EVENT, spec.name)

    def start_child(self, spec: Any) -> None:
        self._stop(spec.position, StepKind.CHILD, spec.workflow_name)

    def wait_child(self, position: int, child_id: str, name: str) -> Step | None:
        self._stop(position, StepKind.CHILD_RESULT, name)

    def failure_pauses(self) -> bool:
        return False  # a recorded failure that unwound its saga was not paused

    def compensating(self, progress: dict | None, error: dict | None = None) -> None:
        pass  # the status a saga shows is no part of its history


@dataclass(frozen=True)
class Report:
    """How a replay went: `ok`, or the step where the code left its history, recorded vs called."""

    source: str
    ok: bool
    status: str
    position: int | None = None
    recorded: str = ""
    called: str = ""
    problem: str = ""

    @property
    def message(self) -> str:
        if self.ok:
            return f"{self.source}: replays to {self.status}"
        if self.position is None:
            return f"{self.source}: {self.problem}"
        return f"{self.source}: step {self.position}: {self.problem}; recorded {self.recorded}, called {self.called}"


def load(path: str | Path) -> dict[str, Any]:
    """Read one history file."""
    return json.loads(Path(path).read_text())


def replay(history: dict[str, Any] | str | Path) -> Report:
    """Replay a history against the current code of its workflow, without running any step.

    Args:
        history: a history as `load` returns it, or the path of its file.

    Returns:
        A Report: ok when the code replays every recorded step and ends as the instance did, or,
        for an instance that had not ended, stops at its next step.

    Raises:
        ValueError: the history is of another format version.
    """
    if isinstance(history, dict):
        source = f"instance {history.get('instance_id')}"
    else:
        source = Path(history).name
        history = load(history)
    if history.get("format") != FORMAT:
        raise ValueError(f"{source}: history format {history.get('format')!r} is not {FORMAT}; re-record it.")
    try:
        definition = registry.workflow(history["workflow"])
    except WorkflowNotFound as exc:
        return Report(source, False, "missing", problem=str(exc))
    steps = [_step(row) for row in history["steps"]]
    outcome, ctx, asked = _run(definition, history, steps)
    status = history["status"]
    if outcome.kind == engine.NONDETERMINISTIC:
        position, recorded, called = _divergence(definition, history, steps, ctx.position)
        return _mismatch(source, outcome, position, "the code no longer matches its history", recorded, called)
    if outcome.kind == engine.SUSPENDED:
        assert asked is not None, "only the replay-only backend suspends a replay"
        here = _describe(steps[asked.position]) if asked.position < len(steps) else "the end of the history"
        if status in ENDED:
            problem = f"the instance had ended ({status}) but the code asks for another step"
            return _mismatch(source, outcome, asked.position, problem, here, asked)
        retrying_last = asked.position == len(steps) - 1 and steps[-1].status == StepStatus.RETRYING
        if asked.position != len(steps) and not retrying_last:
            return _mismatch(source, outcome, asked.position, "the code stops inside its history", here, asked)
        if asked.kind not in NEXT_KINDS.get(status, (asked.kind,)):
            problem = "the code asks for another kind of step than the instance waits for"
            return _mismatch(source, outcome, asked.position, problem, status, asked)
        return Report(source, True, outcome.kind, position=asked.position, called=str(asked))
    recorded, called = _ending(status, history.get("result"), history.get("error")), _outcome(outcome)
    if recorded != called:
        return _mismatch(source, outcome, len(steps), "the code ends differently", recorded, called)
    return Report(source, True, outcome.kind, position=len(steps))


def _mismatch(
    source: str, outcome: engine.Outcome, position: int, problem: str, recorded: object, called: object
) -> Report:
    return Report(source, False, outcome.kind, position, str(recorded), str(called), problem)


def _step(row: dict[str, Any]) -> Step:
    retry_at = row.get("retry_at")
    return Step(
        position=row["position"],
        kind=row["kind"],
        name=row["name"],
        status=row["status"],
        result=row.get("result"),
        error=row.get("error"),
        attempt=row.get("attempt", 1),
        retry_at=dt.datetime.fromisoformat(retry_at) if retry_at else None,
    )


def _run(
    definition: WorkflowDefinition, history: dict[str, Any], steps: list[Step]
) -> tuple[engine.Outcome, WorkflowContext, Asked | None]:
    backend = ReplayOnly()
    # A scheduled instance's slot (ctx.scheduled_at), kept in its history when it has one.
    slot = history.get("scheduled_at")
    ctx = WorkflowContext(
        instance_id=history["instance_id"],
        workflow_name=definition.name,
        history=steps,
        backend=backend,
        scheduled_at=dt.datetime.fromisoformat(slot) if slot else None,
    )
    inputs = codec.decode(history["input"])
    outcome = engine.run(definition, ctx, list(inputs.get("args", [])), dict(inputs.get("kwargs", {})))
    return outcome, ctx, backend.asked


def _divergence(definition: WorkflowDefinition, history: dict, steps: list[Step], reached: int) -> tuple[int, str, str]:
    """The step where the code leaves its history: position, recorded step, what the code does there.

    The engine stops on the step it could not replay (one before `reached`) or, when the code
    returned early, at `reached` itself; replaying only the steps before a candidate lets the
    backend see what the code asks for in that place.
    """
    position = max(reached - 1, 0)
    called = _next_after(definition, history, steps[:position])
    if position < len(steps) and called == _describe(steps[position]):
        position += 1
        called = _next_after(definition, history, steps[:position])
    recorded = _describe(steps[position]) if position < len(steps) else "the end of the history"
    return position, recorded, called


def _next_after(definition: WorkflowDefinition, history: dict, prefix: list[Step]) -> str:
    outcome, _, asked = _run(definition, history, prefix)
    if asked is not None:
        return str(asked)
    if outcome.kind == engine.NONDETERMINISTIC:
        return "a different step earlier (is the workflow deterministic?)"
    return f"the end: {_outcome(outcome)}"


def _describe(step: Step) -> str:
    return f"{step.kind} '{step.name}'"


def _ending(status: str, result: Any, error: dict | None) -> str:
    if status == engine.COMPLETED:
        return f"completed with {json.dumps(result, sort_keys=True)}"
    error = error or {}
    return f"{status}: {error.get('type')}: {error.get('message')}"


def _outcome(outcome: engine.Outcome) -> str:
    return _ending(outcome.kind, outcome.result, outcome.error)
