"""Parallel-step workflows the tests run in-process and in real worker subprocesses: gather, first."""

from __future__ import annotations

import os
import time
from pathlib import Path

import durable
from tests.testapp.models import Ledger

QUICK = durable.RetryPolicy(max_attempts=2, initial_interval=0.05, backoff=1.0)


@durable.activity(name="par.nap", transactional=False)
def nap(ctx: durable.ActivityContext, label: str, seconds: float) -> dict:
    """Sleeps outside any transaction (so naps overlap on SQLite too); its start and end in the ledger."""
    started = time.time()
    time.sleep(seconds)
    Ledger.objects.create(
        instance_id=ctx.instance_id, step=label, pid=os.getpid(), started=started, finished=time.time()
    )
    return {"label": label, "pid": os.getpid()}


@durable.activity(name="par.broken", transactional=False, retry=QUICK)
def broken(ctx: durable.ActivityContext, seconds: float) -> None:
    time.sleep(seconds)
    Ledger.objects.create(instance_id=ctx.instance_id, step=f"broken:{ctx.attempt}", finished=time.time())
    raise ValueError("the batch item was refused")


@durable.activity(name="par.book")
def book(ctx: durable.ActivityContext, item: int, seconds: float, marker: str = "") -> int:
    """Transactional: its ledger row commits with its result, or not at all; `marker` (a file)
    counts every attempt that began, outside the transaction."""
    started = time.time()
    if marker:
        with open(marker, "a") as fh:
            fh.write(f"{item} {os.getpid()}\n")
    Ledger.objects.create(instance_id=ctx.instance_id, step=f"book:{item}", pid=os.getpid(), started=started)
    time.sleep(seconds)
    return item * 10


@durable.activity(name="par.double")
def double(ctx: durable.ActivityContext, value: int) -> int:
    return value * 2


@durable.workflow(name="par.naps")
def naps(ctx: durable.WorkflowContext, count: int, seconds: float) -> list:
    handles = [nap.start(ctx, f"nap:{i}", seconds) for i in range(count)]
    return [r["label"] for r in ctx.gather(*handles)]


@durable.workflow(name="par.one_fails")
def one_fails(ctx: durable.WorkflowContext, seconds: float) -> dict:
    handles = [nap.start(ctx, "nap:a", seconds), broken.start(ctx, seconds), nap.start(ctx, "nap:b", seconds)]
    try:
        ctx.gather(*handles)
    except durable.ActivityError as exc:
        return {"failed": exc.activity_name, "attempts": exc.attempts, "at": ctx.now().isoformat()}
    return {"failed": None}


@durable.workflow(name="par.bookings")
def bookings(ctx: durable.WorkflowContext, count: int, seconds: float, marker: str = "") -> int:
    handles = [book.start(ctx, i, seconds, marker) for i in range(count)]
    return sum(ctx.gather(*handles))


@durable.workflow(name="par.mixed")
def mixed(ctx: durable.WorkflowContext, count: int) -> dict:
    """Sequential steps around a fan-out: what a replay must reproduce exactly."""
    before = double(ctx, 1)
    handles = [double.start(ctx, i) for i in range(count)]
    stamp = ctx.uuid4()
    results = ctx.gather(*handles)
    after = double(ctx, sum(results))
    return {"before": before, "results": results, "after": after, "stamp": str(stamp)}


@durable.workflow(name="par.approval")
def approval(ctx: durable.WorkflowContext, request_id: str, seconds: float) -> dict:
    index, value = ctx.first(ctx.event("approval.decision", match={"request_id": request_id}), ctx.timer(seconds))
    if index == 0:
        return {"outcome": "decided", "approved": value.data["approved"]}
    return {"outcome": "reminded"}


@durable.workflow(name="par.race_step")
def race_step(ctx: durable.WorkflowContext, seconds: float, timer: float) -> dict:
    index, value = ctx.first(nap.start(ctx, "nap:race", seconds), ctx.timer(timer))
    return {"index": index, "value": value}


@durable.workflow(name="par.foreign")
def foreign(ctx: durable.WorkflowContext, other: str) -> str:
    from durable.engine.parallel import StepHandle

    try:
        ctx.gather(StepHandle(other, 0, "par.double"))
    except durable.InvalidArgument as exc:
        return str(exc)
    return "accepted"


@durable.workflow(name="par.nothing")
def nothing(ctx: durable.WorkflowContext) -> str:
    try:
        ctx.first()
    except durable.InvalidArgument as exc:
        return str(exc)
    return "accepted"


@durable.workflow(name="par.too_many")
def too_many(ctx: durable.WorkflowContext, count: int) -> dict:
    started = 0
    try:
        for i in range(count):
            double.start(ctx, i)
            started += 1
    except durable.InvalidArgument as exc:
        return {"started": started, "error": str(exc)}
    return {"started": started, "error": None}


@durable.activity(name="par.needs_fix", retry=QUICK)
def needs_fix(ctx: durable.ActivityContext, value: int, fixed: str) -> int:
    if value == 2 and not Path(fixed).exists():
        raise RuntimeError("not fixed yet")
    return value


@durable.workflow(name="par.flaky_batch")
def flaky_batch(ctx: durable.WorkflowContext, fixed: str) -> list:
    return ctx.gather(*[needs_fix.start(ctx, v, fixed) for v in (1, 2, 3)])


def marker_lines(path: str) -> list[str]:
    file = Path(path)
    return file.read_text().splitlines() if file.exists() else []
