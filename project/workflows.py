"""Example workflows of the demo project, one per pattern the seeds describe.

`python manage.py durable_demo` runs each of them on a real worker and sends their events over
HTTP. Timeouts are arguments so that the demo can use seconds where a shop would use hours.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

import durable
from project.models import Booking, Order

logger = logging.getLogger(__name__)


# Activities that write the shop's orders. They are transactional (the default): the row is
# written in the transaction that records the step, so it is written exactly once, even when a
# worker dies and another replays the workflow.


@durable.activity
def create_order(ctx: durable.ActivityContext, order_id: str, amount: Decimal) -> str:
    Order.objects.create(order_id=order_id, amount=amount, instance_id=ctx.instance_id)
    return order_id


@durable.activity
def mark_paid(ctx: durable.ActivityContext, order_id: str, payment_id: str) -> str:
    _update(order_id, status=Order.Status.PAID, payment_id=payment_id)
    return str(Order.Status.PAID)


@durable.activity
def cancel_order(ctx: durable.ActivityContext, order_id: str, reason: str) -> str:
    _update(order_id, status=Order.Status.CANCELLED, note=reason)
    return str(Order.Status.CANCELLED)


@durable.activity
def mark_shipped(ctx: durable.ActivityContext, order_id: str, tracking: str) -> str:
    _update(order_id, status=Order.Status.SHIPPED, tracking=tracking)
    return str(Order.Status.SHIPPED)


@durable.activity
def mark_delivered(ctx: durable.ActivityContext, order_id: str, signed_by: str) -> str:
    _update(order_id, status=Order.Status.DELIVERED, note=f"signed by {signed_by}")
    return str(Order.Status.DELIVERED)


@durable.activity
def import_orders(ctx: durable.ActivityContext, orders: list[dict]) -> int:
    Order.objects.bulk_create(
        Order(order_id=o["order_id"], amount=Decimal(str(o["amount"])), instance_id=ctx.instance_id) for o in orders
    )
    return len(orders)


def _update(order_id: str, **fields: object) -> None:
    if not Order.objects.filter(order_id=order_id).update(updated_at=timezone.now(), **fields):
        raise Order.DoesNotExist(f"There is no order {order_id}.")


# Activities that call other services. `transactional=False`: they run at least once, so they
# pass `ctx.idempotency_key` (the same on every retry of one step) to the service they call.


@durable.activity(transactional=False, retry=durable.RetryPolicy(max_attempts=5, initial_interval=0.5))
def initiate_payment(ctx: durable.ActivityContext, order_id: str, amount: Decimal) -> dict:
    return {"payment_id": f"PAY-{order_id}", "amount": amount, "idempotency_key": ctx.idempotency_key}


@durable.activity(transactional=False)
def void_payment(ctx: durable.ActivityContext, payment_id: str) -> str:
    return f"voided {payment_id}"


@durable.activity(transactional=False)
def create_payment_session(ctx: durable.ActivityContext, order_id: str, amount: Decimal) -> str:
    return f"https://pay.example.com/checkout/{order_id}?amount={amount}"


@durable.activity(transactional=False)
def notify_approver(ctx: durable.ActivityContext, request_id: str, amount: Decimal, role: str) -> str:
    return f"asked the {role} to decide on {request_id} ({amount})"


@durable.activity(transactional=False)
def call_service(ctx: durable.ActivityContext, service: str, request_id: str) -> str:
    # The service only takes the request here; it answers later with a CloudEvent.
    return f"{service} accepted {request_id}"


@durable.activity(transactional=False)
def book_carrier(ctx: durable.ActivityContext, order_id: str) -> str:
    return f"TRK-{order_id}"


# Workflows.


@durable.workflow
def order_payment(ctx: durable.WorkflowContext, order_id: str, amount: Decimal, timeout: float = 300.0) -> dict:
    """Romancy's payment with a timeout: the order is paid, or cancelled and its payment voided."""
    create_order(ctx, order_id, amount)
    payment = initiate_payment(ctx, order_id, amount)
    try:
        event = ctx.wait_event("payment.completed", match={"order_id": order_id}, timeout=timeout)
    except durable.WaitTimeout:
        # Compensate what was done, latest first.
        void_payment(ctx, payment["payment_id"])
        cancel_order(ctx, order_id, "payment timed out")
        return {"order_id": order_id, "status": "cancelled", "voided": payment["payment_id"]}
    mark_paid(ctx, order_id, event.data["payment_id"])
    return {"order_id": order_id, "status": "paid", "payment_id": event.data["payment_id"]}


@durable.workflow
def expense_approval(
    ctx: durable.WorkflowContext, request_id: str, amount: Decimal, escalate_after: float = 86400.0
) -> dict:
    """Romancy's approval with escalation: the manager has `escalate_after` seconds, then the director decides."""
    notify_approver(ctx, request_id, amount, "manager")
    try:
        decision = ctx.wait_event(
            "approval.decided", match={"request_id": request_id, "role": "manager"}, timeout=escalate_after
        )
    except durable.WaitTimeout:
        ctx.send_event("approval.escalated", "/shop/approvals", {"request_id": request_id, "to": "director"})
        ctx.set_event("escalated_to", "director")
        notify_approver(ctx, request_id, amount, "director")
        # Only the director's decision counts now; a late one from the manager stays unconsumed.
        decision = ctx.wait_event(
            "approval.decided", match={"request_id": request_id, "role": "director"}, timeout=timedelta(days=7)
        )
    return {
        "request_id": request_id,
        "approved": decision.data["approved"],
        "approver": decision.data["role"],
        "escalated": decision.data["role"] != "manager",
    }


@durable.workflow
def batch_import(
    ctx: durable.WorkflowContext, batch_id: str, orders: list[dict], chunk_size: int = 100, pause: float = 5.0
) -> dict:
    """Romancy's batch processing with delays, publishing its progress for outside readers (DBOS)."""
    chunks = [orders[i : i + chunk_size] for i in range(0, len(orders), chunk_size)]
    done = 0
    for number, chunk in enumerate(chunks, start=1):
        done += import_orders(ctx, chunk)
        ctx.set_event("progress", {"done": done, "total": len(orders)})
        if number < len(chunks):
            ctx.sleep(pause)  # a durable timer: no worker is held while it runs
    return {"batch_id": batch_id, "imported": done, "chunks": len(chunks)}


SERVICES = {"inventory": "inventory.reserved", "payment": "payment.captured", "shipping": "shipping.booked"}


@durable.workflow
def service_orchestration(ctx: durable.WorkflowContext, request_id: str, timeout: float = 600.0) -> dict:
    """Romancy's orchestration of three services: ask all three, then collect their answers in turn."""
    for service in SERVICES:
        call_service(ctx, service, request_id)
    answers = []
    for service, event_type in SERVICES.items():
        # An answer that arrives before its turn is kept for this instance until it waits for it.
        event = ctx.wait_event(event_type, match={"request_id": request_id}, timeout=timeout)
        answers.append([service, event.data["ref"]])
    return {"request_id": request_id, "answers": answers}


@durable.workflow
def order_delivery(ctx: durable.WorkflowContext, order_id: str, amount: Decimal, timeout: float = 600.0) -> dict:
    """Correlation by data: every delivery waits for shipment.delivered; `match` picks its own order's."""
    create_order(ctx, order_id, amount)
    mark_shipped(ctx, order_id, book_carrier(ctx, order_id))
    event = ctx.wait_event("shipment.delivered", match={"order_id": order_id}, timeout=timeout)
    mark_delivered(ctx, order_id, event.data["signed_by"])
    return {"order_id": order_id, "status": "delivered", "signed_by": event.data["signed_by"]}


@durable.workflow
def checkout(ctx: durable.WorkflowContext, order_id: str, amount: Decimal, timeout: float = 900.0) -> dict:
    """DBOS's checkout: publish the payment URL at once, then wait for the customer to pay.

    The view that started it reads the URL with `durable.get_event(instance_id, "payment_url",
    timeout=...)` and redirects the customer there.
    """
    create_order(ctx, order_id, amount)
    url = create_payment_session(ctx, order_id, amount)
    ctx.set_event("payment_url", url)
    try:
        event = ctx.wait_event("checkout.paid", match={"order_id": order_id}, timeout=timeout)
    except durable.WaitTimeout:
        cancel_order(ctx, order_id, "checkout abandoned")
        return {"order_id": order_id, "status": "cancelled"}
    mark_paid(ctx, order_id, event.data["payment_id"])
    return {"order_id": order_id, "status": "paid", "payment_url": url}


# Child workflows (SPEC 15): an order ships in parcels, each followed by a shipment workflow of its
# own (its own history, waits and page in the viewer); the order waits for all of them.


@durable.workflow
def parcel_shipment(ctx: durable.WorkflowContext, order_id: str, parcel: str, timeout: float = 600.0) -> dict:
    """One parcel: book a carrier, wait for the carrier's delivery event for this parcel."""
    tracking = book_carrier(ctx, f"{order_id}-{parcel}")
    event = ctx.wait_event("parcel.delivered", match={"order_id": order_id, "parcel": parcel}, timeout=timeout)
    return {"parcel": parcel, "tracking": tracking, "signed_by": event.data["signed_by"]}


@durable.workflow
def order_in_parcels(
    ctx: durable.WorkflowContext, order_id: str, amount: Decimal, parcels: list[str], timeout: float = 600.0
) -> dict:
    """A parent that runs a child per parcel: a parcel lost (its child failed) cancels the order."""
    create_order(ctx, order_id, amount)
    # Started one after another, they run at the same time; ids default to "<this id>/<step>".
    shipments = [
        ctx.start_child(parcel_shipment, order_id, parcel, timeout, business_key=order_id) for parcel in parcels
    ]
    mark_shipped(ctx, order_id, f"{len(shipments)} parcels")
    delivered = []
    for shipment in shipments:
        try:
            delivered.append(shipment.result())
        except durable.ChildFailed as lost:
            cancel_order(ctx, order_id, f"parcel lost: {lost.error.get('type')}")
            return {"order_id": order_id, "status": "cancelled", "lost": lost.child_id}
    mark_delivered(ctx, order_id, ", ".join(d["signed_by"] for d in delivered))
    return {"order_id": order_id, "status": "delivered", "parcels": delivered}


# A saga (Romancy/Edda's pattern): each booking arms the activity that cancels it; when a later
# step fails, durable runs the armed cancellations by itself, newest first, each exactly once.


def _cancel_booking(ctx: durable.ActivityContext, trip_id: str, kind: str) -> str:
    undone = ctx.compensating  # the booking step this undoes: its name, position and result
    note = f"undone: {undone.activity_name} (step {undone.position})" if undone else "undone"
    Booking.objects.filter(trip_id=trip_id, kind=kind).update(
        status=Booking.Status.CANCELLED, note=note, updated_at=timezone.now()
    )
    return f"{kind} of {trip_id} cancelled"


def _book(ctx: durable.ActivityContext, trip_id: str, kind: str, detail: str) -> str:
    Booking.objects.create(trip_id=trip_id, kind=kind, detail=detail, instance_id=ctx.instance_id)
    return f"{kind.upper()}-{trip_id}"


@durable.activity
def cancel_flight(ctx: durable.ActivityContext, trip_id: str, route: str) -> str:
    return _cancel_booking(ctx, trip_id, "flight")


@durable.activity
def cancel_hotel(ctx: durable.ActivityContext, trip_id: str, hotel: str) -> str:
    return _cancel_booking(ctx, trip_id, "hotel")


@durable.activity(compensation=cancel_flight)
def book_flight(ctx: durable.ActivityContext, trip_id: str, route: str) -> str:
    return _book(ctx, trip_id, "flight", route)


@durable.activity(compensation=cancel_hotel)
def book_hotel(ctx: durable.ActivityContext, trip_id: str, hotel: str) -> str:
    return _book(ctx, trip_id, "hotel", hotel)


class NoCarAvailable(Exception):
    """The rental company has no car for these dates."""


@durable.activity(retry=durable.RetryPolicy(max_attempts=3, initial_interval=0.2, non_retryable=(NoCarAvailable,)))
def book_car(ctx: durable.ActivityContext, trip_id: str, city: str, available: bool) -> str:
    if not available:
        raise NoCarAvailable(f"No car is available in {city} for trip {trip_id}.")
    return _book(ctx, trip_id, "car", city)


@durable.workflow
def trip_booking(ctx: durable.WorkflowContext, trip_id: str, car_available: bool = True) -> dict:
    """A trip saga: flight, hotel, car. If the car cannot be booked, the hotel and then the flight
    are cancelled by their compensations, and the instance ends failed with compensated: true."""
    flight = book_flight(ctx, trip_id, "LIS-BER")
    hotel = book_hotel(ctx, trip_id, "Hotel Adlon, 3 nights")
    car = book_car(ctx, trip_id, "Berlin", car_available)
    return {"trip_id": trip_id, "flight": flight, "hotel": hotel, "car": car}


@dataclasses.dataclass
class PlacedOrder:
    order_id: str
    amount: str  # money travels as a string in JSON


@durable.workflow(on_event="order.placed")
def fulfil_placed_order(ctx: durable.WorkflowContext, event: durable.ReceivedEvent) -> dict:
    """Started by every `order.placed` CloudEvent, with the event as its one argument."""
    placed: PlacedOrder = event.data_as(PlacedOrder)
    create_order(ctx, placed.order_id, Decimal(placed.amount))
    tracking = book_carrier(ctx, placed.order_id)
    mark_shipped(ctx, placed.order_id, tracking)
    return {"order_id": placed.order_id, "status": "shipped", "tracking": tracking, "placed_by": event.source}


# The first example, kept for the tests and commands that start it by name.


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


@durable.activity
def count_orders(ctx: durable.ActivityContext) -> dict:
    """How many orders are in each status now."""
    counts: dict[str, int] = {}
    for status in Order.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


@durable.workflow(schedule=durable.Schedule(cron="0 3 * * *", timezone="Europe/Berlin", name="nightly-report"))
def nightly_report(ctx: durable.WorkflowContext) -> dict:
    """Every night at 03:00 Berlin time: the orders by status, for the slot the schedule fired."""
    slot = ctx.scheduled_at.isoformat() if ctx.scheduled_at is not None else None
    return {"slot": slot, "orders": count_orders(ctx)}


# Parallel steps and first of several (SPEC 15) -----------------------------------------------------


@durable.activity(transactional=False, retry=durable.RetryPolicy(max_attempts=3, initial_interval=0.2))
def price_item(ctx: durable.ActivityContext, sku: str, quantity: int) -> str:
    """A pricing service's quote for one line (a fixed list here; a real one answers in ~100 ms)."""
    time.sleep(0.1)
    unit = Decimal(sum(ord(c) for c in sku) % 50 + 1) / 4
    return str(unit * quantity)


@durable.workflow
def priced_batch(ctx: durable.WorkflowContext, batch_id: str, lines: list[dict]) -> dict:
    """Fan out: every line priced at the same time on the available workers, then summed."""
    handles = [price_item.start(ctx, line["sku"], line["quantity"]) for line in lines]
    prices = ctx.gather(*handles)
    return {"batch_id": batch_id, "priced": len(prices), "total": str(sum(Decimal(p) for p in prices))}


@durable.workflow
def approval_or_reminder(
    ctx: durable.WorkflowContext, request_id: str, remind_after: float, reminders: int = 2
) -> dict:
    """Wait for a decision, or remind the approver when `remind_after` seconds pass, whichever first."""
    for sent in range(reminders + 1):
        index, decision = ctx.first(
            ctx.event("approval.decision", match={"request_id": request_id}), ctx.timer(remind_after)
        )
        if index == 0:
            return {"request_id": request_id, "approved": decision.data["approved"], "reminders": sent}
        if sent < reminders:
            notify_approver(ctx, request_id, Decimal("0"), "reminded approver")
    return {"request_id": request_id, "approved": None, "reminders": reminders}
