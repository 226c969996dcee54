"""Workflows of the bulk operation tests: ones that park waiting, and one that fails."""

from __future__ import annotations

import durable


@durable.workflow(name="bulk.parked")
def parked(ctx: durable.WorkflowContext, n: int) -> int:
    ctx.wait_event("bulk.go", match={"n": n})
    return n


@durable.workflow(name="bulk.fails")
def fails(ctx: durable.WorkflowContext) -> None:
    raise ValueError("bulk test failure")


def start_parked(count: int, prefix: str = "p", **options) -> list[str]:
    """Start `count` instances of bulk.parked in one transaction; ids prefix-00000, ..."""
    from django.db import transaction

    ids = [f"{prefix}-{n:05d}" for n in range(count)]
    with transaction.atomic():
        for n, instance_id in enumerate(ids):
            durable.start(parked, n, instance_id=instance_id, **options)
    return ids
