"""Workflows for restart from a step (durable.fork): a step that fails with the old code and passes once fixed.

The fix is a row in the test ledger, read when the activity runs, so a worker subprocess sees it
as well as the test process: `deploy_fix()` is what deploying the corrected code does here.
"""

from __future__ import annotations

import durable
from tests.testapp.models import Ledger

ONCE = durable.RetryPolicy(max_attempts=1)
FIX = ("fork.fix", "fixed")


def deploy_fix() -> None:
    Ledger.objects.create(instance_id=FIX[0], step=FIX[1])


def fixed() -> bool:
    return Ledger.objects.filter(instance_id=FIX[0], step=FIX[1]).exists()


def ledger(instance_id: str) -> list[str]:
    """The rows the instance's activities wrote, in order."""
    return list(Ledger.objects.filter(instance_id=instance_id).order_by("pk").values_list("step", flat=True))


@durable.activity(name="fork.write")
def write(ctx: durable.ActivityContext, step: str) -> str:
    Ledger.objects.create(instance_id=ctx.instance_id, step=step)
    return f"{step} done"


@durable.activity(name="fork.charge", retry=ONCE)
def charge(ctx: durable.ActivityContext, order_id: str) -> dict:
    if not fixed():
        raise ValueError(f"the old code cannot charge {order_id}")
    Ledger.objects.create(instance_id=ctx.instance_id, step="charge")
    return {"charged": order_id}


@durable.workflow(name="fork.order")
def order(ctx: durable.WorkflowContext, order_id: str) -> dict:
    """Two steps that write rows, then the step the fix is about, then one more."""
    reserved = write(ctx, "reserve")  # 0
    invoiced = write(ctx, "invoice")  # 1
    charged = charge(ctx, order_id)  # 2: fails with the old code
    write(ctx, "ship")  # 3
    return {"reserved": reserved, "invoiced": invoiced, "charged": charged}


@durable.workflow(name="fork.approval")
def approval(ctx: durable.WorkflowContext, order_id: str) -> dict:
    """A published value, a wait for an event and a sleep before the step the fix is about."""
    write(ctx, "asked")  # 0
    ctx.set_event("stage", "asked")  # 1
    event = ctx.wait_event("fork.approved", match={"order_id": order_id}, timeout=300)  # 2
    ctx.set_event("stage", "approved")  # 3
    ctx.sleep(0.01)  # 4
    charged = charge(ctx, order_id)  # 5: fails with the old code
    return {"approved_by": event.data["by"], "charged": charged}


@durable.activity(name="fork.unreachable", retry=durable.RetryPolicy(max_attempts=3, initial_interval=60))
def unreachable(ctx: durable.ActivityContext) -> None:
    raise ConnectionError("the service does not answer")


@durable.workflow(name="fork.retries")
def retries(ctx: durable.WorkflowContext) -> None:
    """Its step 1 waits a minute for its next attempt."""
    write(ctx, "before")  # 0
    unreachable(ctx)  # 1
