"""Sagas against an in-memory history: the armed list is rebuilt by replay, unwinding is recorded and replayed."""

from __future__ import annotations

import pytest

import durable
from durable.engine import replay, saga
from durable.engine.context import WorkflowContext
from durable.engine.types import StepKind
from tests.engine.memory import MemoryBackend

UNDONE: list[tuple[str, object]] = []


@durable.activity(name="engine_saga.unbook")
def unbook(ctx: durable.ActivityContext, what: str, note: dict | None = None) -> None:
    UNDONE.append((what, ctx.compensating))


@durable.activity(name="engine_saga.book", compensation=unbook)
def book(ctx: durable.ActivityContext, what: str) -> str:
    return f"{what}-1"


@durable.workflow(name="engine_saga.books_then_sleeps")
def books_then_sleeps(ctx: durable.WorkflowContext) -> None:
    book(ctx, "flight")
    ctx.add_compensation(unbook, "fee", note={"why": "explicit"})
    book(ctx, "hotel")
    ctx.sleep(60)
    raise RuntimeError("the car is gone")


def run(backend: MemoryBackend) -> tuple[replay.Outcome, WorkflowContext]:
    ctx = WorkflowContext(
        instance_id="i-1", workflow_name=books_then_sleeps.name, history=backend.history(), backend=backend
    )
    return replay.run(books_then_sleeps, ctx, [], {}), ctx


@pytest.fixture(autouse=True)
def clear():
    UNDONE.clear()


def test_saga__the_armed_list_survives_replay():
    backend = MemoryBackend()
    outcome, first = run(backend)
    assert outcome.kind == replay.SUSPENDED
    armed = first.saga.armed
    assert [(a.name, a.args, a.kwargs) for a in armed] == [
        ("engine_saga.unbook", ("flight",), {}),
        ("engine_saga.unbook", ("fee",), {"note": {"why": "explicit"}}),
        ("engine_saga.unbook", ("hotel",), {}),
    ]
    assert [s.kind for s in backend.history()] == ["activity", "arm", "arm", "activity", "arm"]
    _, again = run(backend)  # replays up to the sleep, still due
    assert again.saga.armed == armed
    assert saga.rebuild(backend.history()).armed == armed


def test_saga__unwinding_is_recorded_and_a_replay_runs_nothing_twice():
    backend = MemoryBackend()
    run(backend)
    backend.fire(5)
    outcome, _ = run(backend)
    assert outcome.kind == replay.FAILED and outcome.compensated is True
    assert outcome.error["type"] == "RuntimeError"
    assert [what for what, _ in UNDONE] == ["hotel", "fee", "flight"]
    assert UNDONE[0][1] == saga.Compensating("engine_saga.book", 3, "hotel-1")
    assert UNDONE[1][1] == saga.Compensating(None, 2, None)
    assert [s.kind for s in backend.history()][6:] == [StepKind.COMPENSATION] * 3
    assert backend.progress[-1] == {"after": "failed", "done": 3, "skipped": 0, "total": 3}
    outcome, _ = run(backend)
    assert outcome.kind == replay.FAILED and outcome.compensated is True
    assert len(UNDONE) == 3


def test_saga__a_history_whose_compensations_are_out_of_order_is_refused():
    backend = MemoryBackend()
    run(backend)
    history = backend.history()
    history.append(type(history[0])(9, StepKind.COMPENSATION, "engine_saga.other"))
    with pytest.raises(durable.NonDeterminismError, match="newest armed compensation is 'engine_saga.unbook'"):
        saga.rebuild(history)


@durable.workflow(name="engine_saga.calls_the_undo_itself")
def calls_the_undo_itself(ctx: durable.WorkflowContext) -> None:
    unbook(ctx, "by hand")


def test_saga__an_activity_not_run_as_a_compensation_sees_compensating_none():
    backend = MemoryBackend()
    ctx = WorkflowContext(instance_id="i-2", workflow_name="w", history=[], backend=backend)
    assert replay.run(calls_the_undo_itself, ctx, [], {}).kind == replay.COMPLETED
    assert UNDONE == [("by hand", None)]
    assert ctx.saga.armed == []
