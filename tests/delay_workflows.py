"""The workflow of the delayed-start and debounce tests: it says when it started, with what, once."""

from __future__ import annotations

import os
import time

import durable
from tests.testapp.models import Ledger


@durable.activity
def begin(ctx: durable.ActivityContext, label: str) -> float:
    """One row per run that started: two rows would be two starts."""
    now = time.time()
    Ledger.objects.create(
        instance_id=ctx.instance_id, step=f"begin:{label}", pid=os.getpid(), started=now, finished=now
    )
    return now


@durable.workflow
def delayed(ctx: durable.WorkflowContext, label: str) -> dict:
    """Records when it began, in the database's clock like its start time (ctx.now()) and in this
    machine's (its first activity's), and its input."""
    now = ctx.now()
    return {"label": label, "now": now.timestamp(), "began": begin(ctx, label)}
