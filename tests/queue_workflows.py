"""Workflows of the flow-control tests (SPEC 14): each records when its steps ran in the Ledger."""

from __future__ import annotations

import os
import time

import durable
from tests.testapp.models import Ledger


@durable.activity
def mark(ctx: durable.ActivityContext, step: str, nap: float = 0.0) -> float:
    """Record this step's start and end (wall clock, pid) in the ledger; returns its start."""
    started = time.time()
    if nap:
        time.sleep(nap)
    Ledger.objects.create(
        instance_id=ctx.instance_id, step=step, pid=os.getpid(), started=started, finished=time.time()
    )
    return started


def _hold(ctx: durable.WorkflowContext, nap: float) -> str:
    mark(ctx, "begin")
    ctx.sleep(nap)  # a sleeping instance is in progress too: it keeps its slot
    mark(ctx, "end")
    return ctx.instance_id


@durable.workflow(queue="q_two")
def two_at_once(ctx: durable.WorkflowContext, nap: float = 0.2) -> str:
    return _hold(ctx, nap)


@durable.workflow(queue="q_key")
def one_per_key(ctx: durable.WorkflowContext, nap: float = 0.2) -> str:
    return _hold(ctx, nap)


@durable.workflow(queue="q_rate")
def rated(ctx: durable.WorkflowContext) -> str:
    mark(ctx, "begin")
    return ctx.instance_id


@durable.workflow(queue="q_one")
def one_at_a_time(ctx: durable.WorkflowContext, nap: float = 0.2) -> str:
    return _hold(ctx, nap)


@durable.workflow
def unqueued(ctx: durable.WorkflowContext) -> str:
    mark(ctx, "begin")
    return ctx.instance_id


@durable.activity
def undo_hold(ctx: durable.ActivityContext, key: str) -> None:
    Ledger.objects.create(instance_id=ctx.instance_id, step=f"undo {key}", pid=os.getpid())


@durable.activity(compensation=undo_hold)
def take_hold(ctx: durable.ActivityContext, key: str) -> None:
    Ledger.objects.create(instance_id=ctx.instance_id, step=f"hold {key}", pid=os.getpid())


def _until_released(ctx: durable.WorkflowContext, key: str) -> str:
    take_hold(ctx, key)
    ctx.wait_event("singleton.release", match={"key": key})
    return ctx.instance_id


@durable.workflow(singleton="skip")
def sync_skip(ctx: durable.WorkflowContext, key: str) -> str:
    return _until_released(ctx, key)


@durable.workflow(singleton="replace")
def sync_replace(ctx: durable.WorkflowContext, key: str) -> str:
    return _until_released(ctx, key)


@durable.workflow(singleton="queue")
def sync_queue(ctx: durable.WorkflowContext, key: str) -> str:
    return _until_released(ctx, key)


@durable.activity(concurrency=1, transactional=False)
def call_fragile_service(ctx: durable.ActivityContext, nap: float) -> float:
    """At most one at a time across every worker: the ledger's times show whether two overlapped."""
    return mark.fn(ctx, "service", nap)


@durable.workflow
def uses_fragile_service(ctx: durable.WorkflowContext, nap: float = 0.2) -> str:
    call_fragile_service(ctx, nap)
    return ctx.instance_id


@durable.activity(rate="4/s")
def rated_call(ctx: durable.ActivityContext) -> float:
    return mark.fn(ctx, "rated call")


@durable.workflow
def uses_rated_call(ctx: durable.WorkflowContext) -> str:
    rated_call(ctx)
    return ctx.instance_id
