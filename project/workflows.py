"""Example workflows of the demo project, one per pattern the seeds describe."""

from __future__ import annotations

import logging
from datetime import timedelta

import durable

logger = logging.getLogger(__name__)


@durable.activity
def reserve_stock(ctx: durable.ActivityContext, order_id: str, items: int) -> dict:
    return {"order_id": order_id, "reserved": items}


@durable.activity(retry=durable.RetryPolicy(max_attempts=3, initial_interval=0.2))
def charge_card(ctx: durable.ActivityContext, order_id: str, amount: str) -> dict:
    return {"payment_id": f"PAY-{order_id}", "amount": amount, "key": ctx.idempotency_key}


@durable.activity
def send_receipt(ctx: durable.ActivityContext, order_id: str, payment_id: str) -> str:
    return f"receipt for {order_id} ({payment_id})"


@durable.workflow
def order_fulfilment(ctx: durable.WorkflowContext, order_id: str, items: int = 1) -> dict:
    """Reserve, charge, wait a moment (a durable timer), then send the receipt."""
    reservation = reserve_stock(ctx, order_id, items)
    payment = charge_card(ctx, order_id, "19.99")
    ctx.set_event("status", "charged")
    ctx.sleep(timedelta(seconds=1))
    receipt = send_receipt(ctx, order_id, payment["payment_id"])
    ctx.set_event("status", "done")
    return {"reservation": reservation, "payment": payment, "receipt": receipt}
