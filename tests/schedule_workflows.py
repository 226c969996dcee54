"""Scheduled workflows the tests run in-process and in real worker subprocesses."""

from __future__ import annotations

import time

import durable
from tests.testapp.models import Ledger


@durable.activity
def note_slot(ctx: durable.ActivityContext, label: str, slot: str | None) -> None:
    Ledger.objects.create(instance_id=ctx.instance_id, step=f"{label}:{slot}", started=time.time())


@durable.workflow
def scheduled_report(ctx: durable.WorkflowContext, label: str = "report") -> str | None:
    slot = ctx.scheduled_at.isoformat() if ctx.scheduled_at is not None else None
    note_slot(ctx, label, slot)
    return slot


@durable.workflow
def scheduled_waiter(ctx: durable.WorkflowContext) -> str:
    """Stays active until it hears "release", so overlap rules have a run to overlap."""
    ctx.wait_event("schedule.release", timeout=3600)
    return "released"


# A code schedule that never comes due during a test run (1 January, 03:00): sync_code writes it.
@durable.workflow(
    schedule=[
        "0 3 1 1 *",
        durable.Schedule(cron="0 4 1 1 *", timezone="Europe/Berlin", name="new-year-berlin", kwargs={"label": "b"}),
    ]
)
def new_year(ctx: durable.WorkflowContext, label: str = "ny") -> str:
    return label
