"""The benchmark's own workflows; worker subprocesses import them via DURABLE_WORKFLOW_MODULES."""

from __future__ import annotations

import datetime as dt
import os

import durable
from project.bench import querycount

querycount.install()

EVENT_TYPE = "project.bench.event"
EVENT_SOURCE = "durable-bench"
MATCH_FIELD = "key"


@durable.activity(name="bench_step")
def bench_step(ctx: durable.ActivityContext, value: int) -> int:
    """A trivial transactional activity: what the engine costs, not what the activity does."""
    return value + 1


@durable.workflow(name="bench_three_activities")
def three_activities(ctx: durable.WorkflowContext, value: int = 0) -> int:
    """Throughput and memory: three activities in a row."""
    for _ in range(3):
        value = bench_step(ctx, value)
    return value


if os.environ.get("DURABLE_BENCH_HOOK"):
    # DURABLE_BENCH_HOOK=1: one `completed` hook on the throughput workflow, to measure what hooks cost.

    @durable.hook("completed", workflow="bench_three_activities", name="bench_completed_hook")
    def bench_completed_hook(ctx: durable.HookContext, instance: durable.InstanceInfo) -> None:
        """A trivial hook: what recording and running one costs, not what it does."""


@durable.workflow(name="bench_child")
def child(ctx: durable.WorkflowContext, value: int = 0) -> int:
    """Children: the child, one activity."""
    return bench_step(ctx, value)


@durable.workflow(name="bench_parent")
def parent(ctx: durable.WorkflowContext, value: int = 0) -> int:
    """Children: start one child and wait for it (the parent's worker is released meanwhile)."""
    return ctx.run_child(child, value)


@durable.activity(name="bench_undo")
def bench_undo(ctx: durable.ActivityContext, value: int) -> int:
    """The compensation of bench_booked_step: as trivial, to measure what unwinding costs."""
    return value - 1


@durable.activity(name="bench_booked_step", compensation=bench_undo)
def bench_booked_step(ctx: durable.ActivityContext, value: int) -> int:
    """bench_step that arms its compensation once it completes."""
    return value + 1


@durable.activity(name="bench_fails", retry=durable.RetryPolicy(max_attempts=1))
def bench_fails(ctx: durable.ActivityContext, value: int) -> None:
    raise RuntimeError(f"step {value} fails: the saga unwinds")


@durable.workflow(name="bench_saga")
def saga(ctx: durable.WorkflowContext, value: int = 0) -> None:
    """Sagas: three steps that arm compensations, then one that fails; the three run newest first."""
    for _ in range(3):
        value = bench_booked_step(ctx, value)
    bench_fails(ctx, value)


@durable.workflow(name="bench_wait_event")
def wait_event(ctx: durable.WorkflowContext, key: str) -> dict:
    """Event round trip: wait for the event matching `key`, note when it resumed, end."""
    event = ctx.wait_event(EVENT_TYPE, match={MATCH_FIELD: key})
    return {"event_id": event.id, "resumed_at": ctx.now()}


@durable.workflow(name="bench_publish_after_event")
def publish_after_event(ctx: durable.WorkflowContext, key: str) -> None:
    """Published values: once the event for `key` arrives, publish when it was set, for blocked readers."""
    ctx.wait_event(EVENT_TYPE, match={MATCH_FIELD: key})
    ctx.set_event("value", {"set_at": ctx.now().timestamp()})


@durable.workflow(name="bench_sleep")
def sleep(ctx: durable.WorkflowContext, seconds: float) -> dict:
    """Timer lateness: the due time is fixed before the sleep and compared with the resume."""
    due = ctx.now() + dt.timedelta(seconds=seconds)
    ctx.sleep_until(due)
    return {"due_at": due, "resumed_at": ctx.now()}


@durable.workflow(name="bench_replay")
def replay(ctx: durable.WorkflowContext, steps: int) -> int:
    """Replay: `steps` recorded steps, then a sleep; the resume after it replays them all."""
    for _ in range(steps):
        ctx.now()
    ctx.sleep(dt.timedelta(days=1))
    return steps


@durable.workflow(name="bench_parked")
def parked(ctx: durable.WorkflowContext, key: str) -> None:
    """What the scale fixtures pretend to run: waiting for an event nobody sends."""
    ctx.wait_event(EVENT_TYPE, match={MATCH_FIELD: key})


@durable.workflow(name="bench_far_sleep")
def far_sleep(ctx: durable.WorkflowContext, seconds: float) -> None:
    """What the scale fixtures pretend to run: sleeping far beyond the benchmark."""
    ctx.sleep(seconds)


@durable.workflow(name="bench_scheduled")
def scheduled(ctx: durable.WorkflowContext) -> str | None:
    """What a schedule starts in the schedules scenario: it returns its slot."""
    return ctx.scheduled_at.isoformat() if ctx.scheduled_at is not None else None


@durable.workflow(name="bench_fanout")
def fanout(ctx: durable.WorkflowContext, count: int) -> int:
    """Fan-out: `count` bench_steps started side by side, then gathered."""
    handles = [bench_step.start(ctx, i) for i in range(count)]
    return sum(ctx.gather(*handles))
