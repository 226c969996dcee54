"""Workflows and durable hooks for the hook tests; each hook appends a JSON line per attempt to the
file the instance's result names, and fails its first `fails` attempts (or blocks on the first)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import durable

QUICK = durable.RetryPolicy(max_attempts=1000, initial_interval=0.05, backoff=2.0, max_interval=0.2)


@durable.workflow(name="hooks.finishes")
def finishes(ctx: durable.WorkflowContext, log: str, fails: int = 0, block: float = 0.0) -> dict:
    return {"log": log, "fails": fails, "block": block}


@durable.workflow(name="hooks.other")
def other(ctx: durable.WorkflowContext, log: str) -> dict:
    return {"log": log, "fails": 0, "block": 0.0}


@durable.workflow(name="hooks.breaks")
def breaks(ctx: durable.WorkflowContext) -> None:
    raise ValueError("the workflow breaks")


@durable.workflow(name="hooks.waits")
def waits(ctx: durable.WorkflowContext) -> None:
    ctx.wait_event("hooks.never", match={"k": "v"})


def attempts(log: str | Path) -> list[dict]:
    path = Path(log)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _note(ctx: durable.HookContext, instance: durable.InstanceInfo) -> None:
    said = instance.result
    line = {
        "hook": ctx.hook_name,
        "trigger": ctx.trigger,
        "key": ctx.idempotency_key,
        "attempt": ctx.attempt,
        "instance": instance.id,
        "workflow": instance.workflow_name,
        "status": instance.status,
        "pid": os.getpid(),
    }
    with open(said["log"], "a") as out:
        out.write(json.dumps(line) + "\n")
    if ctx.attempt == 1 and said["block"]:
        time.sleep(said["block"])
    if ctx.attempt <= said["fails"]:
        raise RuntimeError(f"hook attempt {ctx.attempt} fails on purpose")


@durable.hook("completed", workflow=finishes, retry=QUICK)
def on_finish(ctx: durable.HookContext, instance: durable.InstanceInfo) -> None:
    _note(ctx, instance)


@durable.hook("completed", workflow="hooks.other", retry=QUICK)
def on_other(ctx: durable.HookContext, instance: durable.InstanceInfo) -> None:
    _note(ctx, instance)


@durable.hook("failed", workflow=breaks)
def on_break(ctx: durable.HookContext, instance: durable.InstanceInfo) -> None:
    """Recorded for the query counts and the admin; never run by a worker there."""


@durable.hook("cancelled", workflow=waits)
def on_cancel(ctx: durable.HookContext, instance: durable.InstanceInfo) -> None:
    """A second hook on another trigger, for the record tests."""


@durable.hook("cancelled", workflow=waits, name="hooks.on_cancel_too")
def on_cancel_too(ctx: durable.HookContext, instance: durable.InstanceInfo) -> None:
    """Two hooks on one transition: still one INSERT."""
