"""Workflows the viewer's tests run: an order that waits for its payment, and one that fails."""

from __future__ import annotations

import durable

VIEWER_SOURCE = "/tests/viewer"


@durable.activity
def viewer_reserve(ctx: durable.ActivityContext, order_id: str) -> dict:
    return {"reservation": f"R-{order_id}", "lines": [{"sku": f"sku-{i}", "quantity": i} for i in range(1, 6)]}


@durable.workflow
def viewer_order(ctx: durable.WorkflowContext, order_id: str, timeout: float = 600.0) -> dict:
    reservation = viewer_reserve(ctx, order_id)
    ctx.set_event("status", "awaiting payment")
    event = ctx.wait_event("payment.completed", match={"order_id": order_id}, timeout=timeout)
    ctx.set_event("status", "paid")
    return {"order_id": order_id, "payment_id": event.data.get("payment_id"), "reservation": reservation["reservation"]}


@durable.workflow
def viewer_nap(ctx: durable.WorkflowContext, seconds: float = 3600.0) -> str:
    ctx.sleep(seconds)
    return "rested"


@durable.activity(retry=durable.RetryPolicy(max_attempts=2, initial_interval=0.01))
def viewer_charge(ctx: durable.ActivityContext, amount: int) -> None:
    raise ValueError(f"the card was declined for {amount}")


@durable.workflow
def viewer_fails(ctx: durable.WorkflowContext, amount: int = 42) -> None:
    viewer_charge(ctx, amount)


@durable.activity(retry=durable.RetryPolicy(max_attempts=5, initial_interval=45.0))
def viewer_call_bank(ctx: durable.ActivityContext, account: str) -> dict:
    raise ConnectionError(f"bank for {account} is unreachable")


@durable.workflow
def viewer_settle(ctx: durable.WorkflowContext, account: str) -> dict:
    return viewer_call_bank(ctx, account)
