"""Record the golden histories in tests/histories/ from real runs of the example workflows.

Re-record after an intended change to project/workflows.py (SQLite and PostgreSQL give the same files):

    .venv/bin/python -m pytest tests/histories/record.py              # every history
    .venv/bin/python -m pytest tests/histories/record.py -k checkout  # some of them

Each test runs one pattern in this process on the test database (`drain` claims due instances
and fires timers; events take the path of `durable.send_event`) and writes one JSON file per
instance it started. pytest collects this module only when it is named, so a test run never
rewrites one.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import durable
from durable import client, events
from durable.models import HistoryStep, Status, WorkflowInstance
from project import workflows as wf
from project.models import Order
from tests.histories.replayer import FORMAT

pytestmark = pytest.mark.django_db

HERE = Path(__file__).resolve().parent
SHORT = 0.05  # seconds: a timeout the recording lets pass
LONG = 600.0  # seconds: a timeout the recording satisfies first
# Every event carries this CloudEvents time: without one it gets the arrival time, a diff on each recording.
EVENT_TIME = "2026-01-01T12:00:00+00:00"


def save(file_name: str, instance_id: str, about: str) -> dict[str, Any]:
    """Write one instance's history as `<file_name>.json`: what replay needs, no timestamps or tracebacks."""
    instance = WorkflowInstance.objects.get(pk=instance_id)
    rows = HistoryStep.objects.filter(instance_id=instance_id).order_by("position")
    history = {
        "format": FORMAT,
        "about": about,
        "workflow": instance.workflow_name,
        "instance_id": instance.pk,
        "input": ordered(instance.input),
        "status": instance.status,
        "result": ordered(instance.result),
        "error": error_of(instance.error),
        "steps": [
            {
                "position": row.position,
                "kind": row.kind,
                "name": row.name,
                "status": row.status,
                "result": ordered(row.result),
                "error": error_of(row.error),
                "attempt": row.attempt,
                "retry_at": row.retry_at.isoformat() if row.retry_at else None,
            }
            for row in rows
        ],
    }
    if instance.scheduled_at is not None:
        history["scheduled_at"] = instance.scheduled_at.isoformat()
    (HERE / f"{file_name}.json").write_text(json.dumps(history, indent=2, ensure_ascii=False) + "\n")
    return history


def send(event_type: str, source: str, data: dict, event_id: str) -> client.Delivery:
    """`durable.send_event`, with the fixed time and the stable id a producer would set."""
    attributes = {"specversion": "1.0", "id": event_id, "source": source, "type": event_type, "time": EVENT_TIME}
    return client.deliver(events.validate({**attributes, "datacontenttype": "application/json"}, data))


def ordered(tree: Any) -> Any:
    """Keys sorted at every level: PostgreSQL's jsonb reorders them, SQLite keeps them."""
    if isinstance(tree, dict):
        return {key: ordered(tree[key]) for key in sorted(tree)}
    if isinstance(tree, list):
        return [ordered(item) for item in tree]
    return tree


def error_of(error: dict | None) -> dict | None:
    return None if error is None else {"type": error.get("type"), "message": error.get("message")}


def step_status(instance_id: str, name: str) -> str | None:
    return HistoryStep.objects.filter(instance_id=instance_id, name=name).values_list("status", flat=True).first()


# Payment with a timeout ------------------------------------------------------------------------


def test_order_payment__paid(drain):
    handle = durable.start(
        wf.order_payment, "o-paid", Decimal("25.00"), timeout=LONG, instance_id="golden-payment-paid"
    )
    drain()
    send("payment.completed", "/payments", {"order_id": "o-paid", "payment_id": "PAY-9"}, "pay-1")
    drain(handle)
    assert handle.result()["status"] == "paid"
    save("order_payment__paid", handle.instance_id, "payment.completed arrives in time: the order is paid.")


def test_order_payment__timed_out(drain):
    handle = durable.start(
        wf.order_payment, "o-late", Decimal("40.00"), timeout=SHORT, instance_id="golden-payment-late"
    )
    drain(handle)
    assert handle.result()["status"] == "cancelled"
    save(
        "order_payment__timed_out",
        handle.instance_id,
        "No payment within the timeout: the payment is voided and the order cancelled.",
    )


def test_order_payment__retried_then_paid(drain):
    # Staff delete the order while it waits for payment, so mark_paid fails; they restore it
    # before the retry timer fires, and the second attempt succeeds.
    handle = durable.start(
        wf.order_payment, "o-retry", Decimal("30.00"), timeout=LONG, instance_id="golden-payment-retry"
    )
    drain()
    Order.objects.filter(order_id="o-retry").delete()
    send("payment.completed", "/payments", {"order_id": "o-retry", "payment_id": "PAY-7"}, "pay-2")
    drain(lambda: step_status(handle.instance_id, "mark_paid") == "retrying")
    Order.objects.create(order_id="o-retry", amount=Decimal("30.00"), instance_id=handle.instance_id)
    drain(handle)
    assert handle.result()["status"] == "paid"
    save(
        "order_payment__retried_then_paid",
        handle.instance_id,
        "mark_paid fails once (the order row is gone), is retried after its backoff timer and succeeds.",
    )


def test_order_payment__retries_exhausted(drain):
    handle = durable.start(
        wf.order_payment, "o-gone", Decimal("35.00"), timeout=LONG, instance_id="golden-payment-gone"
    )
    drain()
    Order.objects.filter(order_id="o-gone").delete()
    send("payment.completed", "/payments", {"order_id": "o-gone", "payment_id": "PAY-8"}, "pay-3")
    drain(handle)
    assert handle.status == Status.FAILED
    save(
        "order_payment__retries_exhausted",
        handle.instance_id,
        "mark_paid fails on all three attempts: ActivityError is not caught and the instance fails.",
    )


# Approval with escalation ----------------------------------------------------------------------


def test_expense_approval__manager_decides(drain):
    handle = durable.start(
        wf.expense_approval, "exp-1", Decimal("80.00"), escalate_after=LONG, instance_id="golden-approval-manager"
    )
    drain()
    data = {"request_id": "exp-1", "role": "manager", "approved": True}
    send("approval.decided", "/approvals", data, "decision-1")
    drain(handle)
    assert handle.result()["approver"] == "manager"
    save("expense_approval__manager_decides", handle.instance_id, "The manager approves in time.")


def test_expense_approval__escalated(drain):
    handle = durable.start(
        wf.expense_approval, "exp-2", Decimal("1200.00"), escalate_after=SHORT, instance_id="golden-approval-escalated"
    )
    drain(lambda: handle.get_event("escalated_to") == "director")
    for n, (role, approved) in enumerate((("manager", False), ("director", True)), start=2):
        data = {"request_id": "exp-2", "role": role, "approved": approved}
        send("approval.decided", "/approvals", data, f"decision-{n}")
    drain(handle)
    assert handle.result()["approver"] == "director"
    save(
        "expense_approval__escalated",
        handle.instance_id,
        "The manager misses the deadline: the workflow sends approval.escalated, publishes escalated_to, "
        "and takes the director's decision, not the manager's late one.",
    )


# Batch with delays -----------------------------------------------------------------------------


def test_batch_import__three_chunks(drain):
    orders = [{"order_id": f"b-{n}", "amount": "9.90"} for n in range(5)]
    handle = durable.start(wf.batch_import, "batch-1", orders, chunk_size=2, pause=0.01, instance_id="golden-batch")
    drain(handle)
    assert handle.result()["chunks"] == 3
    save(
        "batch_import__three_chunks",
        handle.instance_id,
        "Five orders in chunks of two, with a durable sleep between chunks and progress published after each.",
    )


def test_batch_import__sleeping(drain):
    orders = [{"order_id": f"s-{n}", "amount": "4.50"} for n in range(3)]
    handle = durable.start(
        wf.batch_import, "batch-2", orders, chunk_size=2, pause=LONG, instance_id="golden-batch-sleep"
    )
    drain()
    assert handle.status == Status.WAITING_FOR_TIMER
    save(
        "batch_import__sleeping",
        handle.instance_id,
        "Not ended: the first chunk is imported and the instance sleeps before the second.",
    )


# Orchestration of three services ---------------------------------------------------------------


def test_service_orchestration__answers_out_of_order(drain):
    handle = durable.start(wf.service_orchestration, "req-1", timeout=LONG, instance_id="golden-orchestration")
    # The answers arrive last one first, before the instance has even run.
    for event_type, ref in (("shipping.booked", "S"), ("payment.captured", "P"), ("inventory.reserved", "I")):
        send(event_type, "/services", {"request_id": "req-1", "ref": ref}, f"answer-{ref}")
    drain(handle)
    assert handle.result()["answers"] == [["inventory", "I"], ["payment", "P"], ["shipping", "S"]]
    save(
        "service_orchestration__answers_out_of_order",
        handle.instance_id,
        "All three services answer, in the reverse order, before the waits: each wait takes its own answer.",
    )


def test_service_orchestration__shipping_never_answers(drain):
    handle = durable.start(wf.service_orchestration, "req-2", timeout=SHORT, instance_id="golden-orchestration-fail")
    for event_type, ref in (("payment.captured", "P2"), ("inventory.reserved", "I2")):
        send(event_type, "/services", {"request_id": "req-2", "ref": ref}, f"answer-{ref}")
    drain(handle)
    assert handle.status == Status.FAILED
    save(
        "service_orchestration__shipping_never_answers",
        handle.instance_id,
        "Shipping never answers: the uncaught WaitTimeout fails the instance.",
    )


# Order correlation -----------------------------------------------------------------------------


def test_order_delivery__two_orders_correlated(drain):
    first = durable.start(wf.order_delivery, "o-ann", Decimal("15.00"), timeout=LONG, instance_id="golden-delivery-ann")
    second = durable.start(wf.order_delivery, "o-bo", Decimal("15.00"), timeout=LONG, instance_id="golden-delivery-bo")
    drain()
    for order_id, signer in (("o-bo", "Bo"), ("o-ann", "Ann")):
        data = {"order_id": order_id, "signed_by": signer}
        send("shipment.delivered", "/carrier", data, f"delivered-{order_id}")
    drain(first)
    drain(second)
    assert (first.result()["signed_by"], second.result()["signed_by"]) == ("Ann", "Bo")
    about = "Two deliveries wait for shipment.delivered; match on order_id gives each its own event (sent in reverse)."
    save("order_delivery__ann", first.instance_id, about)
    save("order_delivery__bo", second.instance_id, about)


# A child per parcel -----------------------------------------------------------------------------


def test_order_in_parcels__delivered(drain):
    handle = durable.start(
        wf.order_in_parcels, "o-two", Decimal("80.00"), ["a", "b"], timeout=LONG, instance_id="golden-parcels"
    )
    drain(lambda: handle.status == Status.WAITING_FOR_CHILD)
    for parcel, signer in (("b", "Ann"), ("a", "Bo")):
        data = {"order_id": "o-two", "parcel": parcel, "signed_by": signer}
        send("parcel.delivered", "/carrier", data, f"parcel-{parcel}")
    drain(handle)
    assert handle.result()["status"] == "delivered"
    about = "An order in two parcels: a parcel_shipment child per parcel; the order waits for each in turn."
    save("order_in_parcels__delivered", handle.instance_id, about)
    save("parcel_shipment__delivered", "golden-parcels/1", "The child of the first parcel: carrier booked, delivered.")


# Checkout publishing a value -------------------------------------------------------------------


def test_checkout__paid(drain):
    handle = durable.start(wf.checkout, "o-shop", Decimal("59.00"), timeout=LONG, instance_id="golden-checkout-paid")
    drain()
    assert handle.get_event("payment_url")
    send("checkout.paid", "/payments", {"order_id": "o-shop", "payment_id": "PAY-5"}, "paid-1")
    drain(handle)
    assert handle.result()["status"] == "paid"
    save("checkout__paid", handle.instance_id, "The payment URL is published at once; the customer pays.")


def test_checkout__abandoned(drain):
    handle = durable.start(wf.checkout, "o-left", Decimal("59.00"), timeout=SHORT, instance_id="golden-checkout-left")
    drain(handle)
    assert handle.result()["status"] == "cancelled"
    save("checkout__abandoned", handle.instance_id, "The customer never pays: the order is cancelled at the timeout.")


def test_checkout__waiting(drain):
    handle = durable.start(wf.checkout, "o-wait", Decimal("19.00"), timeout=LONG, instance_id="golden-checkout-wait")
    drain()
    assert handle.status == Status.WAITING_FOR_EVENT
    save(
        "checkout__waiting",
        handle.instance_id,
        "Not ended: the payment URL is published and the instance waits for checkout.paid.",
    )


# Event-started workflow ------------------------------------------------------------------------


def test_fulfil_placed_order__started_by_event(drain):
    data = {"order_id": "o-placed", "amount": "12.50"}
    delivery = send("order.placed", "/storefront", data, "placed-1")
    handle = durable.get_handle(delivery.started[0])
    drain(handle)
    assert handle.result()["status"] == "shipped"
    save(
        "fulfil_placed_order__started_by_event",
        handle.instance_id,
        "An order.placed CloudEvent starts the instance, with the event as its one argument.",
    )


# The first example -----------------------------------------------------------------------------


def test_order_fulfilment__receipt(drain):
    handle = durable.start(wf.order_fulfilment, "o-first", items=2, instance_id="golden-fulfilment")
    drain(handle)
    assert handle.result()["receipt"] == "receipt for o-first (PAY-o-first)"
    save(
        "order_fulfilment__receipt",
        handle.instance_id,
        "Reserve, charge, publish status, sleep one second, send the receipt, publish status again.",
    )


# A trip booking saga -----------------------------------------------------------------------------


def test_trip_booking__no_car_compensated(drain):
    handle = durable.start(wf.trip_booking, "t-golden", car_available=False, instance_id="golden-trip")
    drain(handle)
    assert handle.status == Status.FAILED
    save(
        "trip_booking__no_car_compensated",
        handle.instance_id,
        "No car: book_car fails at once (non-retryable), and the armed cancel_hotel, then cancel_flight, run.",
    )


# A scheduled workflow ----------------------------------------------------------------------------


def test_nightly_report__fired_by_its_schedule(drain):
    import datetime as dt

    from durable import schedules, slots
    from durable.models import Schedule

    schedules.sync_code()
    slot = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 03:00 in Berlin
    Order.objects.create(order_id="o-nightly", amount=Decimal("9.99"))
    Schedule.objects.filter(name="nightly-report").update(next_slot_at=slot)
    slots.fire_due(slot)
    instance_id = "nightly-report@2026-12-01T02:00:00Z"
    drain(durable.get_handle(instance_id))
    assert durable.get_handle(instance_id).result()["slot"] == slot.isoformat()
    save(
        "nightly_report__fired_by_its_schedule",
        instance_id,
        "The 03:00 Berlin slot of the nightly-report schedule: one activity counting the orders by status.",
    )


# Parallel steps and first of several ------------------------------------------------------------


def test_priced_batch__twenty_lines_in_parallel(drain):
    lines = [{"sku": f"SKU-{n:02}", "quantity": n} for n in range(1, 21)]
    handle = durable.start(wf.priced_batch, "pb-1", lines, instance_id="golden-priced-batch")
    drain(handle, timeout=60)
    assert handle.result()["priced"] == 20
    save("priced_batch__twenty_lines", handle.instance_id, "Twenty lines priced as parallel steps, then gathered.")


def test_approval_or_reminder__decided_after_a_reminder(drain):
    handle = durable.start(wf.approval_or_reminder, "req-1", SHORT, instance_id="golden-approval-or-reminder")
    drain(lambda: HistoryStep.objects.filter(instance_id=handle.instance_id, kind="activity").exists())
    drain(lambda: handle.status == "waiting_for_event")
    send("approval.decision", "/approvals", {"request_id": "req-1", "approved": True}, "decision-first-1")
    drain(handle)
    assert handle.result()["reminders"] >= 1
    save(
        "approval_or_reminder__reminded_then_decided",
        handle.instance_id,
        "The timer wins the first first() (a reminder is sent); the decision wins the second.",
    )
