"""Workflows of the event tests: the seed patterns (payment timeout, approval, orchestration...)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import durable


@dataclasses.dataclass
class PaymentCompleted:
    payment_id: str
    amount: float


@durable.activity
def start_payment(ctx: durable.ActivityContext, order_id: str) -> dict:
    return {"payment_id": f"PAY-{order_id}"}


@durable.activity
def cancel_payment(ctx: durable.ActivityContext, payment_id: str) -> str:
    return f"cancelled {payment_id}"


@durable.workflow
def payment_with_timeout(ctx: durable.WorkflowContext, order_id: str, timeout: float = 5.0) -> dict:
    payment = start_payment(ctx, order_id)
    try:
        event = ctx.wait_event("payment.completed", match={"order_id": order_id}, timeout=timeout)
    except durable.WaitTimeout:
        return {"status": "timeout", "undo": cancel_payment(ctx, payment["payment_id"])}
    ctx.set_event("status", "paid")
    paid = event.data_as(PaymentCompleted)
    return {"status": "completed", "payment_id": paid.payment_id, "amount": paid.amount, "source": event.source}


@durable.workflow
def approval_with_escalation(ctx: durable.WorkflowContext, request_id: str, timeout: float = 0.3) -> dict:
    try:
        decision = ctx.wait_event("approval.decided", match={"request_id": request_id}, timeout=timeout)
        return {"approved": decision.data["approved"], "by": "manager"}
    except durable.WaitTimeout:
        ctx.send_event("approval.escalated", "/approvals", {"request_id": request_id})
        decision = ctx.wait_event("approval.decided", match={"request_id": request_id, "level": "director"})
        return {"approved": decision.data["approved"], "by": "director"}


@durable.workflow
def orchestrate_three(ctx: durable.WorkflowContext, order_id: str) -> list:
    seen = []
    for service in ("inventory.reserved", "payment.captured", "shipping.booked"):
        event = ctx.wait_event(service, match={"order_id": order_id}, timeout=timedelta(minutes=5))
        seen.append([event.type, event.data["ref"]])
    return seen


@durable.workflow
def first_of_two(ctx: durable.WorkflowContext) -> str:
    event = ctx.wait_event(["order.shipped", "order.cancelled"], subject="order-9")
    return event.type


@durable.workflow
def waits_once(ctx: durable.WorkflowContext, key: str, timeout: float | None = None) -> dict:
    try:
        event = ctx.wait_event("thing.happened", match={"key": key}, timeout=timeout)
    except durable.WaitTimeout:
        return {"outcome": "timeout"}
    return {"outcome": "event", "id": event.id}


@durable.workflow
def waits_twice(ctx: durable.WorkflowContext, key: str) -> list:
    return [ctx.wait_event("tick", match={"key": key}).data["n"] for _ in range(2)]


@durable.workflow
def announces(ctx: durable.WorkflowContext, key: str) -> str:
    return ctx.send_event("thing.happened", "/announcer", {"key": key})


@durable.activity
def notify(ctx: durable.ActivityContext, key: str) -> str:
    return ctx.send_event("thing.happened", "/notifier", {"key": key}, subject="from-activity")


@durable.workflow
def notifies_from_activity(ctx: durable.WorkflowContext, key: str) -> str:
    return notify(ctx, key)


@durable.workflow(on_event="order.created")
def on_order_created(ctx: durable.WorkflowContext, event: durable.ReceivedEvent) -> dict:
    return {"order": event.data["order_id"], "source": event.source, "type": event.type}
