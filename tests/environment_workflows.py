"""Workflows for the virtual-clock environment's tests (in-process only: no worker imports them)."""

from __future__ import annotations

from datetime import timedelta

import durable

# What `note` saw, in the order its calls ran: (label, the virtual time it ran at).
NOTES: list[tuple[str, str]] = []


@durable.activity
def note(ctx: durable.ActivityContext, label: str, at: str) -> str:
    NOTES.append((label, at))
    return label


@durable.workflow
def clock_naps(ctx: durable.WorkflowContext, label: str, seconds: list[float]) -> list[str]:
    """Sleeps each of `seconds` in turn, noting ctx.now() after each."""
    seen = [ctx.now().isoformat()]
    for index, nap in enumerate(seconds):
        ctx.sleep(nap)
        moment = ctx.now().isoformat()
        note(ctx, f"{label}-{index}", moment)
        seen.append(moment)
    return seen


@durable.activity(retry=durable.RetryPolicy(max_attempts=2, initial_interval=30.0))
def fragile(ctx: durable.ActivityContext) -> int:
    raise RuntimeError("the service is down")


@durable.workflow
def retries_later(ctx: durable.WorkflowContext) -> str:
    try:
        fragile(ctx)
    except durable.ActivityError as exc:
        return f"gave up after {exc.attempts} attempts"
    return "worked"


@durable.workflow
def waits_for_ever(ctx: durable.WorkflowContext) -> str:
    return ctx.wait_event("never.sent").type


@durable.workflow
def day_timeout(ctx: durable.WorkflowContext) -> str:
    try:
        ctx.wait_event("reply.sent", timeout=timedelta(days=1))
    except durable.WaitTimeout:
        return "timed out"
    return "replied"
