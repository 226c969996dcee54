"""The demo project's example workflows, run in-process with `drain`: each pattern's outcomes and rows."""

from __future__ import annotations

from decimal import Decimal

import pytest

import durable
from durable.models import HistoryStep, Status
from project import workflows as wf
from project.models import Order

pytestmark = pytest.mark.django_db


def order(order_id: str) -> Order:
    return Order.objects.get(order_id=order_id)


def test_order_payment__event_marks_the_order_paid(drain):
    handle = durable.start(wf.order_payment, "o-1", Decimal("25.00"), timeout=60)
    drain()
    assert handle.status == Status.WAITING_FOR_EVENT
    assert order("o-1").status == Order.Status.AWAITING_PAYMENT
    delivery = durable.send_event("payment.completed", "/payments", {"order_id": "o-1", "payment_id": "PAY-9"})
    assert delivery.resumed == [handle.instance_id]
    drain(handle)
    assert handle.result() == {"order_id": "o-1", "status": "paid", "payment_id": "PAY-9"}
    row = order("o-1")
    assert (row.status, row.payment_id, row.amount, row.instance_id) == ("paid", "PAY-9", 25, handle.instance_id)
    assert Order.objects.count() == 1


def test_order_payment__timeout_voids_the_payment_and_cancels_the_order(drain):
    handle = durable.start(wf.order_payment, "o-2", Decimal("40.00"), timeout=0.05)
    drain(handle)
    assert handle.result() == {"order_id": "o-2", "status": "cancelled", "voided": "PAY-o-2"}
    row = order("o-2")
    assert (row.status, row.note) == ("cancelled", "payment timed out")
    names = list(
        HistoryStep.objects.filter(instance_id=handle.instance_id, kind="activity")
        .order_by("position")
        .values_list("name", flat=True)
    )
    assert names == ["create_order", "initiate_payment", "void_payment", "cancel_order"]


def test_expense_approval__manager_decides_in_time(drain):
    handle = durable.start(wf.expense_approval, "exp-1", Decimal("80.00"), escalate_after=60)
    drain()
    durable.send_event("approval.decided", "/approvals", {"request_id": "exp-1", "role": "manager", "approved": True})
    drain(handle)
    assert handle.result() == {"request_id": "exp-1", "approved": True, "approver": "manager", "escalated": False}
    assert handle.get_event("escalated_to") is None


def test_expense_approval__escalates_and_ignores_the_managers_late_decision(drain):
    handle = durable.start(wf.expense_approval, "exp-2", Decimal("1200.00"), escalate_after=0.05)
    drain(lambda: handle.get_event("escalated_to") == "director")
    for role, approved in (("manager", False), ("director", True)):
        durable.send_event(
            "approval.decided", "/approvals", {"request_id": "exp-2", "role": role, "approved": approved}
        )
    drain(handle)
    assert handle.result() == {"request_id": "exp-2", "approved": True, "approver": "director", "escalated": True}


def test_batch_import__imports_in_chunks_and_publishes_progress(drain):
    orders = [{"order_id": f"b-{n}", "amount": "9.90"} for n in range(5)]
    handle = durable.start(wf.batch_import, "batch-1", orders, chunk_size=2, pause=0.01)
    drain(handle)
    assert handle.result() == {"batch_id": "batch-1", "imported": 5, "chunks": 3}
    assert handle.get_event("progress") == {"done": 5, "total": 5}
    assert Order.objects.filter(order_id__startswith="b-").count() == 5
    sleeps = HistoryStep.objects.filter(instance_id=handle.instance_id, kind="sleep").count()
    assert sleeps == 2


def test_service_orchestration__answers_in_any_order_are_taken_in_the_awaited_order(drain):
    handle = durable.start(wf.service_orchestration, "req-1")
    # All three answers arrive, last one first, before the instance has even run.
    for event_type, ref in (("shipping.booked", "S"), ("payment.captured", "P"), ("inventory.reserved", "I")):
        durable.send_event(event_type, "/services", {"request_id": "req-1", "ref": ref})
    drain(handle)
    assert handle.result() == {
        "request_id": "req-1",
        "answers": [["inventory", "I"], ["payment", "P"], ["shipping", "S"]],
    }


def test_order_delivery__two_orders_each_take_their_own_event(drain):
    first = durable.start(wf.order_delivery, "o-3", Decimal("15.00"))
    second = durable.start(wf.order_delivery, "o-4", Decimal("15.00"))
    drain()
    assert {order("o-3").status, order("o-4").status} == {"shipped"}
    assert durable.send_event("shipment.delivered", "/carrier", {"order_id": "o-4", "signed_by": "Bo"}).resumed == [
        second.instance_id
    ]
    assert durable.send_event("shipment.delivered", "/carrier", {"order_id": "o-3", "signed_by": "Ann"}).resumed == [
        first.instance_id
    ]
    drain(first)
    drain(second)
    assert first.result()["signed_by"] == "Ann" and second.result()["signed_by"] == "Bo"
    assert (order("o-3").note, order("o-4").note) == ("signed by Ann", "signed by Bo")
    assert (order("o-3").tracking, order("o-4").status) == ("TRK-o-3", "delivered")


def test_checkout__publishes_the_payment_url_then_waits_for_payment(drain):
    handle = durable.start(wf.checkout, "o-5", Decimal("59.00"))
    drain()
    url = durable.get_event(handle.instance_id, "payment_url", timeout=1)
    assert url == "https://pay.example.com/checkout/o-5?amount=59.00"
    durable.send_event("checkout.paid", "/payments", {"order_id": "o-5", "payment_id": "PAY-5"})
    drain(handle)
    assert handle.result() == {"order_id": "o-5", "status": "paid", "payment_url": url}
    assert order("o-5").status == "paid"


def test_checkout__abandoned_checkout_cancels_the_order(drain):
    handle = durable.start(wf.checkout, "o-6", Decimal("59.00"), timeout=0.05)
    drain(handle)
    assert handle.result() == {"order_id": "o-6", "status": "cancelled"}
    assert (order("o-6").status, order("o-6").note) == ("cancelled", "checkout abandoned")


def test_fulfil_placed_order__each_order_placed_event_starts_one_instance(drain):
    delivery = durable.send_event("order.placed", "/storefront", {"order_id": "o-7", "amount": "12.50"}, id="e-7")
    assert len(delivery.started) == 1
    assert durable.send_event("order.placed", "/storefront", {"order_id": "o-7"}, id="e-7").started == []
    handle = durable.get_handle(delivery.started[0])
    drain(handle)
    assert handle.result() == {
        "order_id": "o-7",
        "status": "shipped",
        "tracking": "TRK-o-7",
        "placed_by": "/storefront",
    }
    row = order("o-7")
    assert (row.status, row.amount, row.instance_id) == ("shipped", Decimal("12.50"), handle.instance_id)


def test_order_fulfilment__still_runs_to_its_receipt(drain):
    handle = durable.start(wf.order_fulfilment, "o-8", items=2)
    drain(handle)
    result = handle.result()
    assert result["receipt"] == "receipt for o-8 (PAY-o-8)" and result["reservation"] == {
        "order_id": "o-8",
        "reserved": 2,
    }
    assert handle.get_event("status") == "done"


def test_trip_booking__no_car_cancels_the_hotel_then_the_flight(drain):
    from project.models import Booking

    handle = durable.start(wf.trip_booking, "t-1", car_available=False)
    drain(handle)
    assert handle.status == Status.FAILED
    steps = HistoryStep.objects.filter(instance_id=handle.instance_id).order_by("position")
    assert [(s.kind, s.name, s.status) for s in steps] == [
        ("activity", "book_flight", "completed"),
        ("arm", "cancel_flight", "completed"),
        ("activity", "book_hotel", "completed"),
        ("arm", "cancel_hotel", "completed"),
        ("activity", "book_car", "failed"),
        ("compensation", "cancel_hotel", "completed"),
        ("compensation", "cancel_flight", "completed"),
    ]
    bookings = Booking.objects.filter(trip_id="t-1")
    assert [(b.kind, b.status, b.note) for b in bookings] == [
        ("flight", "cancelled", "undone: book_flight (step 0)"),
        ("hotel", "cancelled", "undone: book_hotel (step 2)"),
    ]


def test_trip_booking__with_a_car_books_all_three(drain):
    from project.models import Booking

    handle = durable.start(wf.trip_booking, "t-2")
    drain(handle)
    assert handle.result() == {"trip_id": "t-2", "flight": "FLIGHT-t-2", "hotel": "HOTEL-t-2", "car": "CAR-t-2"}
    assert set(Booking.objects.filter(trip_id="t-2").values_list("kind", "status")) == {
        ("flight", "booked"),
        ("hotel", "booked"),
        ("car", "booked"),
    }


def test_order_in_parcels__a_child_per_parcel_and_the_order_delivered_when_all_are(drain):
    handle = durable.start(wf.order_in_parcels, "o-p", Decimal("80.00"), ["a", "b"], timeout=60, instance_id="o-p")
    drain(lambda: handle.status == Status.WAITING_FOR_CHILD)
    children = durable.instances_for("o-p").values_list("id", "parent_id")
    assert sorted(children) == [("o-p/1", "o-p"), ("o-p/2", "o-p")]
    assert order("o-p").status == Order.Status.SHIPPED
    for parcel, signer in (("b", "Ann"), ("a", "Bo")):
        durable.send_event("parcel.delivered", "/carrier", {"order_id": "o-p", "parcel": parcel, "signed_by": signer})
    drain(handle)
    result = handle.result()
    assert result["status"] == "delivered" and [p["parcel"] for p in result["parcels"]] == ["a", "b"]
    assert (order("o-p").status, order("o-p").note) == (Order.Status.DELIVERED, "signed by Bo, Ann")


def test_order_in_parcels__a_lost_parcel_cancels_the_order(drain):
    handle = durable.start(wf.order_in_parcels, "o-q", Decimal("80.00"), ["a"], timeout=0.05, instance_id="o-q")
    drain(handle)
    assert handle.result() == {"order_id": "o-q", "status": "cancelled", "lost": "o-q/1"}
    assert (order("o-q").status, order("o-q").note) == (Order.Status.CANCELLED, "parcel lost: WaitTimeout")


def test_priced_batch__twenty_lines_priced_as_parallel_steps_then_summed(drain):
    lines = [{"sku": f"SKU-{n:02}", "quantity": n} for n in range(1, 21)]
    handle = durable.start(wf.priced_batch, "pb-1", lines)
    drain(handle, timeout=60)
    expected = sum(Decimal(sum(ord(c) for c in line["sku"]) % 50 + 1) / 4 * line["quantity"] for line in lines)
    assert handle.result() == {"batch_id": "pb-1", "priced": 20, "total": str(expected)}
    kinds = HistoryStep.objects.filter(instance_id=handle.instance_id).values_list("kind", "status")
    assert list(kinds) == [("parallel", "completed")] * 20


def test_approval_or_reminder__decided_at_once_or_after_reminders(drain):
    quick = durable.start(wf.approval_or_reminder, "req-1", 60)
    drain(lambda: quick.status == Status.WAITING_FOR_EVENT)
    durable.send_event("approval.decision", "/approvals", {"request_id": "req-1", "approved": True})
    drain(quick)
    assert quick.result() == {"request_id": "req-1", "approved": True, "reminders": 0}
    slow = durable.start(wf.approval_or_reminder, "req-2", 0.05, reminders=2)
    drain(slow)
    assert slow.result() == {"request_id": "req-2", "approved": None, "reminders": 2}
    names = HistoryStep.objects.filter(instance_id=slow.instance_id).values_list("kind", flat=True)
    assert list(names) == ["first", "activity", "first", "activity", "first"]
