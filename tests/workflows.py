"""Workflows the tests run, in-process and in real worker subprocesses (DURABLE_WORKFLOW_MODULES)."""

from __future__ import annotations

import dataclasses
import decimal
import os
import time
from datetime import timedelta
from pathlib import Path

import durable
from tests.testapp.models import Ledger

FAST_RETRY = durable.RetryPolicy(max_attempts=5, initial_interval=0.05, backoff=1.0)
# Flipped by the non-determinism test to change the code under a recorded history.
VARIANT = {"name": "a"}


def _ledger(ctx: durable.ActivityContext, step: str, started: float) -> None:
    Ledger.objects.create(
        instance_id=ctx.instance_id, step=step, pid=os.getpid(), started=started, finished=time.time()
    )


@durable.activity
def add(ctx: durable.ActivityContext, a: int, b: int) -> int:
    started = time.time()
    _ledger(ctx, f"add:{ctx.idempotency_key}", started)
    return a + b


@durable.activity
def slow_step(ctx: durable.ActivityContext, label: str, seconds: float, marker: str = "") -> str:
    started = time.time()
    if marker:
        with open(marker, "a") as fh:
            fh.write(f"{ctx.instance_id} {label} {os.getpid()}\n")
    time.sleep(seconds)
    _ledger(ctx, label, started)
    return label


@durable.workflow
def three_steps(ctx: durable.WorkflowContext, n: int, nap: float = 0.3) -> dict:
    first = add(ctx, n, 1)
    second = add(ctx, first, 1)
    ctx.sleep(nap)
    third = add(ctx, second, 1)
    return {"result": third, "finished": ctx.now()}


@durable.workflow
def ledger_three(ctx: durable.WorkflowContext, seconds: float = 0.0, marker: str = "") -> list:
    return [slow_step(ctx, f"step{i}", seconds, marker) for i in range(3)]


@durable.activity(retry=FAST_RETRY, transactional=False)
def flaky(ctx: durable.ActivityContext, succeed_on: int) -> dict:
    Ledger.objects.create(instance_id=ctx.instance_id, step=f"flaky:{ctx.attempt}", pid=os.getpid())
    if ctx.attempt < succeed_on:
        raise ConnectionError(f"attempt {ctx.attempt} failed")
    return {"attempt": ctx.attempt, "key": ctx.idempotency_key}


@durable.workflow
def flaky_flow(ctx: durable.WorkflowContext, succeed_on: int = 3) -> dict:
    return flaky(ctx, succeed_on)


@durable.activity(retry=durable.RetryPolicy(max_attempts=2, initial_interval=0.05))
def always_fails(ctx: durable.ActivityContext) -> None:
    raise ValueError("the card was declined")


@durable.workflow
def catches_activity_error(ctx: durable.WorkflowContext) -> dict:
    try:
        always_fails(ctx)
    except durable.ActivityError as exc:
        return {"activity": exc.activity_name, "type": exc.error_type, "message": exc.message, "attempts": exc.attempts}
    return {"activity": None}


@durable.workflow
def lets_activity_error_fail(ctx: durable.WorkflowContext) -> None:
    always_fails(ctx)


@durable.activity(retry=durable.RetryPolicy(max_attempts=10, initial_interval=0.05, backoff=1.0))
def needs_fix(ctx: durable.ActivityContext) -> str:
    if not Ledger.objects.filter(instance_id=ctx.instance_id, step="fixed").exists():
        raise RuntimeError("upstream is down")
    return "ok"


@durable.workflow(pause_after_errors=2)
def pauses_after_errors(ctx: durable.WorkflowContext) -> str:
    return needs_fix(ctx)


@durable.workflow
def sleeper(ctx: durable.WorkflowContext, seconds: float) -> str:
    due = ctx.now() + timedelta(seconds=seconds)
    ctx.sleep(seconds)
    return ctx.now().isoformat() + "|" + due.isoformat()


@durable.workflow
def publisher(ctx: durable.WorkflowContext, nap: float = 0.3) -> str:
    ctx.set_event("payment_url", {"url": f"https://pay.example/{ctx.instance_id}"})
    ctx.sleep(nap)
    ctx.set_event("status", "done")
    return "published"


@durable.workflow
def explodes(ctx: durable.WorkflowContext) -> None:
    add(ctx, 1, 1)
    raise RuntimeError("boom in workflow code")


@durable.activity
def step_a(ctx: durable.ActivityContext) -> str:
    return "a"


@durable.activity
def step_b(ctx: durable.ActivityContext) -> str:
    return "b"


@durable.workflow
def changes_shape(ctx: durable.WorkflowContext) -> list:
    first = step_a(ctx) if VARIANT["name"] == "a" else step_b(ctx)
    ctx.sleep(0.2)
    return [first, step_a(ctx)]


@durable.workflow
def swallows_everything(ctx: durable.WorkflowContext) -> str:
    try:
        ctx.sleep(60)
    except BaseException:  # noqa: B036 - proving that even this cannot swallow the wait
        pass
    return "escaped"


@durable.activity(transactional=False)
def gate(ctx: durable.ActivityContext, path: str, marker: str) -> str:
    Path(marker).write_text(str(os.getpid()))
    while not Path(path).exists():
        time.sleep(0.02)
    return "opened"


@durable.workflow
def gated(ctx: durable.WorkflowContext, path: str, marker: str) -> str:
    gate(ctx, path, marker)
    return add(ctx, 1, 2)


@durable.workflow
def deterministic_values(ctx: durable.WorkflowContext) -> dict:
    values = {"now": ctx.now(), "uuid": ctx.uuid4(), "random": ctx.random()}
    ctx.sleep(0.1)
    again = {"now": ctx.now(), "uuid": ctx.uuid4(), "random": ctx.random()}
    return {"first": values, "second": again, "replaying_at_end": ctx.is_replaying}


# The event tests' workflows register with these (one DURABLE_WORKFLOW_MODULES entry for both).
from tests import event_workflows  # noqa: E402, F401


@durable.workflow
def n_activities(ctx: durable.WorkflowContext, n: int) -> int:
    total = 0
    for i in range(n):
        total = add(ctx, total, i)
    return total


@durable.workflow
def names_like_ours(ctx: durable.WorkflowContext, instance_id: str, workflow: str) -> list:
    """Arguments named like durable.start's own keywords still reach the workflow."""
    return [instance_id, workflow]


@dataclasses.dataclass
class Receipt:
    number: str
    amount: decimal.Decimal


@durable.workflow
def publishes_anything(ctx: durable.WorkflowContext, data: dict) -> dict:
    """Publishes values of every kind the codec stores, and returns what it was given."""
    ctx.set_event("receipt", Receipt("R-1", decimal.Decimal("9.50")))
    ctx.set_event("raw", b"\xff\xfe not utf-8")
    ctx.set_event("tagged", {"$t": "timedelta", "v": None})
    return data


@durable.workflow
def keyed(ctx: durable.WorkflowContext, label: str = "") -> dict:
    """Reports the business key it runs for (SPEC 11)."""
    return {"business_key": ctx.business_key, "label": label}
