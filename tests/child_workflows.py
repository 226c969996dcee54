"""Workflows of the composition tests: parents and children (SPEC 15), continue as new."""

from __future__ import annotations

import durable
from tests.testapp.models import Ledger


@durable.activity(name="child.note")
def note(ctx: durable.ActivityContext, label: str) -> str:
    """Transactional: one Ledger row per step, so a repeat shows."""
    Ledger.objects.create(instance_id=ctx.instance_id, step=label)
    return label


@durable.workflow(name="child.double")
def double(ctx: durable.WorkflowContext, n: int) -> int:
    note(ctx, f"double {n}")
    return n * 2


@durable.workflow(name="child.broken")
def broken(ctx: durable.WorkflowContext, why: str) -> None:
    raise ValueError(why)


@durable.workflow(name="child.waits")
def waits(ctx: durable.WorkflowContext, key: str) -> str:
    """Waits for an event that never comes: a child that stays active until cancelled."""
    return ctx.wait_event("child.go", match={"key": key}).data["key"]


@durable.workflow(name="child.parent")
def parent(ctx: durable.WorkflowContext, n: int) -> dict:
    result = ctx.run_child(double, n)
    note(ctx, "parent after child")
    return {"child": result}


@durable.workflow(name="child.catches")
def catches(ctx: durable.WorkflowContext) -> dict:
    handle = ctx.start_child("child.broken", "no stock")
    try:
        handle.result()
    except durable.ChildFailed as failed:
        return {"failed": failed.child_id, "type": failed.error.get("type"), "message": failed.error.get("message")}
    return {"failed": None}


@durable.workflow(name="child.waiting_parent")
def waiting_parent(ctx: durable.WorkflowContext, key: str, detached: bool) -> str:
    kept = ctx.start_child(waits, key, detached=True, instance_id=f"{key}-detached") if detached else None
    handle = ctx.start_child(waits, key)
    try:
        return handle.result()
    except durable.ChildCancelled as cancelled:
        return f"cancelled: {cancelled.reason} {kept}"


@durable.workflow(name="child.unknown")
def unknown_child(ctx: durable.WorkflowContext) -> str:
    try:
        ctx.start_child("child.no_such_workflow")
    except durable.WorkflowNotFound as exc:
        return f"refused: {exc.code}"
    return "started"


@durable.workflow(name="child.bad_id")
def bad_id(ctx: durable.WorkflowContext, instance_id: str) -> str:
    try:
        ctx.start_child(double, 1, instance_id=instance_id)
    except durable.InvalidArgument as exc:
        return f"refused: {exc.code}"
    return "started"


@durable.workflow(name="child.counter")
def counter(ctx: durable.WorkflowContext, n: int, until: int) -> int:
    """Continues as new `until` times; each run records one activity."""
    note(ctx, f"run {n}")
    if n < until:
        ctx.continue_as_new(n + 1, until)
    return n


@durable.workflow(name="child.gathers")
def gathers(ctx: durable.WorkflowContext, count: int, failing: bool = False, with_step: bool = True) -> dict:
    """Children (one of them failing, if asked) and a parallel activity, gathered in one call."""
    from tests.parallel_workflows import double as doubled

    handles: list = [ctx.start_child(double, n) for n in range(count)]
    if failing:
        handles.insert(1, ctx.start_child(broken, "gathered"))
    if with_step:
        handles.append(doubled.start(ctx, 50))
    try:
        return {"results": ctx.gather(*handles)}
    except durable.ChildFailed as failed:
        return {"failed": failed.child_id, "message": failed.error.get("message")}


@durable.workflow(name="child.first_or_timer")
def first_or_timer(ctx: durable.WorkflowContext, key: str, seconds: float) -> dict:
    """Whichever ends first: a child that waits for an event, or a timer."""
    index, value = ctx.first(ctx.start_child(waits, key), ctx.timer(seconds))
    return {"index": index, "value": value}


@durable.workflow(name="child.gathers_waiting")
def gathers_waiting(ctx: durable.WorkflowContext, keys: list[str]) -> list:
    """Children that each wait for their event, gathered: the parent waits for children only."""
    return ctx.gather(*(ctx.start_child(waits, key) for key in keys))
