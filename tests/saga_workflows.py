"""Saga workflows the tests run in-process and in real worker subprocesses: reservations undone in reverse."""

from __future__ import annotations

import os
import time
from pathlib import Path

import durable
from tests.testapp.models import Ledger

QUICK = durable.RetryPolicy(max_attempts=2, initial_interval=0.05, backoff=1.0)
# Flipped by the replay tests to change the code under a recorded history (in a worker, by its environment).
ARMING = {"explicit": os.environ.get("DURABLE_TEST_SAGA_ARMING", "on") == "on"}


# What each workflow's ledger holds once it has ended (the compensations newest first, each once).
EXPECTED = {
    "saga.three_then_fail": [
        "reserve:flight",
        "reserve:hotel",
        "reserve:car",
        "release:car:saga.reserve@4=car-ref",
        "release:hotel:saga.reserve@2=hotel-ref",
        "release:flight:saga.reserve@0=flight-ref",
    ],
    "saga.reserve_then_wait": ["reserve:seat", "release:deposit:None@2=None", "release:seat:saga.reserve@0=seat-ref"],
    "saga.compensate_on_timeout": [
        "reserve:a",
        "reserve:b",
        "release:b:saga.reserve@2=b-ref",
        "release:a:saga.reserve@0=a-ref",
        "reserve:c",
    ],
    "saga.undo_keeps_failing": [
        "reserve:first",
        "reserve:second",
        "release:second:saga.fragile_reserve@2=second-ref",
        "release:first:saga.reserve@0=first-ref",
    ],
}


def ledger(instance_id: str) -> list[str]:
    """The ledger rows an instance's activities wrote, in order."""
    return list(Ledger.objects.filter(instance_id=instance_id).order_by("pk").values_list("step", flat=True))


def _write(ctx: durable.ActivityContext, step: str) -> None:
    Ledger.objects.create(instance_id=ctx.instance_id, step=step, pid=os.getpid(), finished=time.time())


def _reserved(ctx: durable.ActivityContext, what: str) -> dict:
    """What every reserving activity does: a ledger row, and a reference its compensation sees."""
    _write(ctx, f"reserve:{what}")
    return {"ref": f"{what}-ref"}


def _undone(ctx: durable.ActivityContext) -> str:
    """What ctx.compensating says, as a ledger step: "<activity>@<position>=<ref>"."""
    undone = ctx.compensating
    if undone is None:
        return "none"
    ref = undone.result["ref"] if isinstance(undone.result, dict) else undone.result
    return f"{undone.activity_name}@{undone.position}={ref}"


@durable.activity(name="saga.release")
def release(ctx: durable.ActivityContext, what: str) -> None:
    _write(ctx, f"release:{what}:{_undone(ctx)}")


@durable.activity(name="saga.reserve", compensation=release)
def reserve(ctx: durable.ActivityContext, what: str) -> dict:
    return _reserved(ctx, what)


@durable.activity(name="saga.explode", retry=durable.RetryPolicy(max_attempts=1))
def explode(ctx: durable.ActivityContext, what: str) -> None:
    raise RuntimeError(f"no {what} available")


@durable.workflow(name="saga.three_then_fail")
def three_then_fail(ctx: durable.WorkflowContext) -> None:
    for what in ("flight", "hotel", "car"):
        reserve(ctx, what)
    explode(ctx, "insurance")


@durable.workflow(name="saga.reserve_then_wait")
def reserve_then_wait(ctx: durable.WorkflowContext) -> str:
    reserve(ctx, "seat")
    ctx.add_compensation(release, "deposit")
    ctx.wait_event("saga.go", match={"id": ctx.instance_id})
    reserve(ctx, "never")
    return "went on"


@durable.workflow(name="saga.compensate_on_timeout")
def compensate_on_timeout(ctx: durable.WorkflowContext) -> dict:
    reserve(ctx, "a")
    reserve(ctx, "b")
    try:
        ctx.wait_event("saga.confirmed", timeout=0.2)
    except durable.WaitTimeout:
        ctx.compensate()
    reserve(ctx, "c")
    return {"status": "timed out, undone, went on"}


@durable.activity(name="saga.fragile_release", retry=QUICK)
def fragile_release(ctx: durable.ActivityContext, what: str, fault: str) -> None:
    if Path(fault).exists():
        raise ConnectionError(f"the {what} service is down")
    _write(ctx, f"release:{what}:{_undone(ctx)}")


@durable.activity(name="saga.fragile_reserve", compensation=fragile_release)
def fragile_reserve(ctx: durable.ActivityContext, what: str, fault: str) -> dict:
    return _reserved(ctx, what)


@durable.workflow(name="saga.undo_keeps_failing")
def undo_keeps_failing(ctx: durable.WorkflowContext, fault: str) -> None:
    reserve(ctx, "first")
    fragile_reserve(ctx, "second", fault)
    explode(ctx, "third")


@durable.activity(name="saga.slow_release")
def slow_release(ctx: durable.ActivityContext, what: str, seconds: float, marker: str) -> None:
    with open(marker, "a") as fh:
        fh.write(f"{what} {os.getpid()}\n")
    time.sleep(seconds)
    _write(ctx, f"release:{what}")


@durable.activity(name="saga.slow_reserve", compensation=slow_release)
def slow_reserve(ctx: durable.ActivityContext, what: str, seconds: float, marker: str) -> dict:
    _write(ctx, f"reserve:{what}")
    return {"ref": what}


@durable.workflow(name="saga.slow_unwind")
def slow_unwind(ctx: durable.WorkflowContext, seconds: float, marker: str) -> None:
    for what in ("one", "two", "three"):
        slow_reserve(ctx, what, seconds, marker)
    explode(ctx, "four")


@durable.workflow(name="saga.arms_then_sleeps")
def arms_then_sleeps(ctx: durable.WorkflowContext) -> str:
    reserve(ctx, "x")
    if ARMING["explicit"]:
        ctx.add_compensation(release, "extra")
    ctx.sleep(0.05)
    return "slept"


@durable.workflow(name="saga.arms_bad")
def arms_bad(ctx: durable.WorkflowContext) -> dict:
    caught = {}
    try:
        ctx.add_compensation(print, "x")
    except durable.DefinitionError as exc:
        caught["not an activity"] = type(exc).__name__
    try:
        ctx.add_compensation(release, object())
    except durable.EncodingError as exc:
        caught["not JSON"] = type(exc).__name__
    return caught


@durable.activity(name="saga.patient_release", retry=durable.RetryPolicy(max_attempts=3, initial_interval=60))
def patient_release(ctx: durable.ActivityContext, what: str) -> None:
    if ctx.attempt == 1:
        raise ConnectionError(f"the {what} desk is closed")
    _write(ctx, f"release:{what}:{_undone(ctx)}")


@durable.activity(name="saga.patient_reserve", compensation=patient_release)
def patient_reserve(ctx: durable.ActivityContext, what: str) -> dict:
    return _reserved(ctx, what)


@durable.workflow(name="saga.waits_to_retry_an_undo")
def waits_to_retry_an_undo(ctx: durable.WorkflowContext) -> None:
    """Unwinds until its second compensation waits a minute to try again: compensating, 1 of 3 done."""
    reserve(ctx, "a")
    patient_reserve(ctx, "b")
    reserve(ctx, "c")
    explode(ctx, "d")


@durable.workflow(name="saga.arms_then_waits")
def arms_then_waits(ctx: durable.WorkflowContext) -> None:
    """Arms two compensations, waits (the next run replays them), then fails: both run newest first."""
    reserve(ctx, "x")
    if ARMING["explicit"]:
        ctx.add_compensation(release, "extra")
    ctx.wait_event("saga.wake", match={"id": ctx.instance_id})
    explode(ctx, "y")


@durable.workflow(name="saga.fragile_then_waits")
def fragile_then_waits(ctx: durable.WorkflowContext, fault: str) -> None:
    reserve(ctx, "first")
    fragile_reserve(ctx, "second", fault)
    ctx.wait_event("saga.go", match={"id": ctx.instance_id})
