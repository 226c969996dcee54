"""Workflows the command tests drive from the shell (listed in DURABLE_WORKFLOW_MODULES)."""

from __future__ import annotations

import logging

import durable

logger = logging.getLogger(__name__)

PAYMENT = "cmdtest.payment.completed"
SIGNUP = "cmdtest.user.signed_up"


@durable.activity
def cmd_echo(ctx: durable.ActivityContext, value: object) -> object:
    return value


@durable.workflow
def cmd_echoes(ctx: durable.WorkflowContext, value: object = None, *, times: int = 1) -> list:
    return [cmd_echo(ctx, value) for _ in range(times)]


@durable.workflow
def cmd_awaits_payment(ctx: durable.WorkflowContext, order_id: str, timeout: float = 600) -> dict:
    ctx.set_event("payment_url", f"https://pay.example/{order_id}")
    try:
        event = ctx.wait_event(PAYMENT, match={"order_id": order_id}, timeout=timeout)
    except durable.WaitTimeout:
        return {"status": "timeout"}
    return {"status": "paid", "payment_id": event.data["payment_id"]}


@durable.workflow(on_event=SIGNUP)
def cmd_welcomes(ctx: durable.WorkflowContext, event: durable.ReceivedEvent) -> str:
    return f"welcome {event.data['user']}"
