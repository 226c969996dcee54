"""The representative workflow the fault sweep runs: every kind of step the engine persists."""

from __future__ import annotations

import durable
from tests.testapp.models import Ledger

ONE_RETRY = durable.RetryPolicy(max_attempts=3, initial_interval=0.01, backoff=1.0)


@durable.activity
def tour_write(ctx: durable.ActivityContext, label: str) -> str:
    """Transactional: its Ledger row must exist exactly once whatever fails around it."""
    Ledger.objects.create(instance_id=ctx.instance_id, step=label)
    return label


@durable.activity(transactional=False, retry=ONE_RETRY)
def tour_outside(ctx: durable.ActivityContext, n: int) -> int:
    """Not transactional, and its first attempt always fails: a retry with a durable backoff."""
    if ctx.attempt == 1:
        raise ConnectionError("the first attempt always fails")
    return n * 2


@durable.workflow
def fault_tour(ctx: durable.WorkflowContext, key: str) -> dict:
    first = tour_write(ctx, "first")
    doubled = tour_outside(ctx, 21)
    ctx.send_event("tour.ping", "/tour", {"key": key})
    event = ctx.wait_event("tour.ping", match={"key": key}, timeout=30)
    ctx.set_event("progress", "half way")
    ctx.sleep(0.02)
    try:
        ctx.wait_event("tour.never", match={"key": key}, timeout=0.02)
        timed_out = False
    except durable.WaitTimeout:
        timed_out = True
    last = tour_write(ctx, "last")
    return {"first": first, "doubled": doubled, "event": event.data["key"], "timed_out": timed_out, "last": last}


# A workflow whose code changes under a waiting instance (a deploy between two runs).
DEPLOYED = {"version": 1}


@durable.workflow
def redeployed(ctx: durable.WorkflowContext, key: str) -> str:
    if DEPLOYED["version"] == 1:
        return ctx.wait_event("order.ready", match={"key": key}).data["key"]
    ctx.now()  # the new code records something else at the wait's position
    ctx.sleep(60)
    return "v2"


@durable.workflow
def sends_one(ctx: durable.WorkflowContext, event_type: str) -> str:
    return ctx.send_event(event_type, "/faults", {"n": 1})


@durable.workflow
def takes_two(ctx: durable.WorkflowContext, key: str) -> list:
    return [ctx.wait_event("tick.tock", match={"key": key}).id for _ in range(2)]


QUICK_RETRY = durable.RetryPolicy(max_attempts=3, initial_interval=0.2, backoff=1.0)


def _die(ctx: durable.ActivityContext | None, marker: str) -> None:
    """Like running out of memory or a segfault: the process is gone, no exception, no cleanup."""
    import os

    with open(marker, "a") as fh:
        fh.write(f"{ctx.attempt if ctx else 0} {os.getpid()}\n")
    os._exit(3)


@durable.activity(transactional=False, retry=QUICK_RETRY)
def kills_its_worker(ctx: durable.ActivityContext, marker: str, survive_on: int = 0) -> int:
    if ctx.attempt != survive_on:
        _die(ctx, marker)
    return ctx.attempt


@durable.activity(retry=durable.RetryPolicy(max_attempts=2, initial_interval=0.2))
def kills_its_worker_in_a_transaction(ctx: durable.ActivityContext, marker: str) -> None:
    Ledger.objects.create(instance_id=ctx.instance_id, step=f"attempt-{ctx.attempt}")
    _die(ctx, marker)


@durable.workflow
def crash_loop(ctx: durable.WorkflowContext, marker: str, survive_on: int = 0, transactional: bool = False):
    try:
        if transactional:
            kills_its_worker_in_a_transaction(ctx, marker)
        return kills_its_worker(ctx, marker, survive_on)
    except durable.ActivityError as error:
        return {"gave_up": error.error_type, "attempts": error.attempts}


@durable.workflow
def crashes_in_workflow_code(ctx: durable.WorkflowContext, marker: str) -> None:
    ctx.now()
    _die(None, marker)
