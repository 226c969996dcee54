"""Workflows of the replay-check tests: REPLAY_FLIP set (read at call time) simulates a deploy that
calls a different activity at step 1 of replay.order."""

from __future__ import annotations

import os

import durable

FLIP = "DURABLE_TEST_REPLAY_FLIP"
QUICK = durable.RetryPolicy(max_attempts=3, initial_interval=0.05, backoff=1.0)


def flipped() -> bool:
    return os.environ.get(FLIP) == "1"


@durable.activity(name="replay.reserve")
def reserve(ctx: durable.ActivityContext, n: int) -> int:
    return n


@durable.activity(name="replay.charge")
def charge(ctx: durable.ActivityContext, n: int) -> int:
    return n * 10


@durable.activity(name="replay.bill")
def bill(ctx: durable.ActivityContext, n: int) -> int:
    return n * 10


@durable.activity(name="replay.flaky", retry=QUICK)
def flaky(ctx: durable.ActivityContext, n: int) -> int:
    if ctx.attempt == 1:
        raise RuntimeError("the first attempt always fails")
    return ctx.attempt


@durable.activity(name="replay.unbook")
def unbook(ctx: durable.ActivityContext, n: int) -> None:
    return None


@durable.activity(name="replay.book", compensation=unbook)
def book(ctx: durable.ActivityContext, n: int) -> int:
    return n


@durable.activity(name="replay.refuse", retry=durable.RetryPolicy(max_attempts=1))
def refuse(ctx: durable.ActivityContext, n: int) -> None:
    raise ValueError(f"refused {n}")


@durable.workflow(name="replay.order")
def order(ctx: durable.WorkflowContext, n: int) -> dict:
    reserved = reserve(ctx, n)
    paid = bill(ctx, n) if flipped() else charge(ctx, n)
    ctx.now()
    return {"reserved": reserved, "paid": paid}


@durable.workflow(name="replay.waits")
def waits(ctx: durable.WorkflowContext, n: int) -> str:
    reserve(ctx, n)
    event = ctx.wait_event("replay.go", match={"n": n})
    return event.type


@durable.workflow(name="replay.retries")
def retries(ctx: durable.WorkflowContext, n: int) -> int:
    return flaky(ctx, n)


@durable.workflow(name="replay.saga")
def saga(ctx: durable.WorkflowContext, n: int) -> None:
    book(ctx, n)
    book(ctx, n + 1)
    refuse(ctx, n)


@durable.workflow(name="replay.booked_waits")
def booked_waits(ctx: durable.WorkflowContext, n: int) -> str:
    book(ctx, n)
    return ctx.wait_event("replay.go", match={"n": n}).type
