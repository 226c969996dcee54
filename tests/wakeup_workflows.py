"""The workflow of the wake-up tests: one of every kind of wake-up, each effect recorded once."""

from __future__ import annotations

import datetime as dt
import os
import time

import durable
from tests.testapp.models import Ledger

EVENT_TYPE = "wake.go"
EVENT_SOURCE = "/wakeups"


@durable.activity
def tally(ctx: durable.ActivityContext, key: str, step: str) -> str:
    """A transactional write: exactly one row per step, or the run happened twice."""
    now = time.time()
    Ledger.objects.create(instance_id=ctx.instance_id, step=f"{key}:{step}", pid=os.getpid(), started=now, finished=now)
    return step


@durable.workflow
def wake_mix(ctx: durable.WorkflowContext, key: str, nap: float) -> dict:
    """Woken by its start, an event, a timer; publishes a value and ends (waking get_event and result)."""
    tally(ctx, key, "start")
    event = ctx.wait_event(EVENT_TYPE, match={"key": key})
    ctx.sleep(nap)
    ctx.set_event("done", {"key": key})
    tally(ctx, key, "end")
    return {"event": event.id}


@durable.activity(transactional=False)
def nap(ctx: durable.ActivityContext, seconds: float, step: str) -> str:
    """Keeps a worker busy without holding a transaction (SQLite's one writer stays free)."""
    time.sleep(seconds)
    now = time.time()
    Ledger.objects.create(instance_id=ctx.instance_id, step=step, pid=os.getpid(), started=now, finished=now)
    return step


@durable.workflow
def naps(ctx: durable.WorkflowContext, seconds: float) -> list:
    """Three naps in a row: a backlog of these keeps a drain busy."""
    return [nap(ctx, seconds, f"nap{i}") for i in range(3)]


@durable.workflow
def woken(ctx: durable.WorkflowContext, key: str) -> str:
    """Waits for its event, then records one row: run twice, it would record two."""
    event = ctx.wait_event(EVENT_TYPE, match={"key": key})
    tally(ctx, key, "woken")
    return event.id


@durable.workflow
def punctual(ctx: durable.WorkflowContext, seconds: float) -> dict:
    """Sleeps to a due time fixed beforehand and says when it resumed."""
    due = ctx.now() + dt.timedelta(seconds=seconds)
    ctx.sleep_until(due)
    return {"due_at": due.isoformat(), "resumed_at": ctx.now().isoformat()}
