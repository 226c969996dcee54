"""The patterns the demo runs: start example workflows, send events over HTTP, check the outcomes."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import durable
from durable import inspect
from durable.engine.types import StepKind
from durable.models import TERMINAL, Status
from project import workflows
from project.demo.sender import Sender, event
from project.models import Booking, Order

# Seconds, where a shop would use minutes or days.
PAYMENT_TIMEOUT = 2.0
ESCALATE_AFTER = 1.0
BATCH_PAUSE = 0.5
LONG_TIMEOUT = 120.0  # for waits the demo does satisfy


class Unexpected(Exception):
    """A pattern did not behave as expected."""


def expect(condition: object, message: str) -> None:
    if not condition:
        raise Unexpected(message)


@dataclass
class Run:
    """What the patterns share: the event sender, a tag that keeps this run's ids apart, and patience."""

    sender: Sender
    tag: str
    check_services: Callable[[], None]
    patience: float = 20.0

    def order_id(self, n: int | str) -> str:
        return f"o-{self.tag}-{n}"

    def wait(self, predicate: Callable[[], Any], handle: durable.WorkflowHandle, what: str) -> Any:
        """Poll `predicate` until it returns something true; give up after `patience` seconds."""
        deadline = time.monotonic() + self.patience
        while not (value := predicate()):
            self.check_services()
            if time.monotonic() > deadline:
                raise Unexpected(
                    f"{handle.instance_id} did not {what} within {self.patience:.0f} s; it is {handle.status}"
                )
            time.sleep(0.02)
        return value

    def waiting(self, *handles: durable.WorkflowHandle) -> None:
        """Wait until each instance waits for an event."""
        for handle in handles:
            self.wait(functools.partial(_is_waiting, handle), handle, "wait for its event")

    def result(self, handle: durable.WorkflowHandle) -> Any:
        """The instance's result once it has ended; an Unexpected when it failed or was cancelled."""
        self.wait(lambda: handle.status in TERMINAL, handle, "end")
        try:
            return handle.result(timeout=0)
        except (durable.WorkflowFailed, durable.WorkflowCancelled) as error:
            raise Unexpected(str(error)) from None


def _is_waiting(handle: durable.WorkflowHandle) -> bool:
    return handle.status == Status.WAITING_FOR_EVENT


def statuses(*order_ids: str) -> dict[str, str]:
    return dict(Order.objects.filter(order_id__in=order_ids).values_list("order_id", "status"))


def payment_with_timeout(run: Run, say: Callable[[str], None]) -> str:
    paid_id, late_id = run.order_id(1), run.order_id(2)
    started = time.monotonic()
    paid = durable.start(
        workflows.order_payment, paid_id, Decimal("25.00"), timeout=LONG_TIMEOUT, instance_id=f"payment-{paid_id}"
    )
    late = durable.start(
        workflows.order_payment, late_id, Decimal("40.00"), timeout=PAYMENT_TIMEOUT, instance_id=f"payment-{late_id}"
    )
    run.waiting(paid)  # not `late`: on a slow machine it may have timed out already
    say(f"{paid_id} and {late_id} wait for payment.completed")
    receipt = run.sender.structured(
        event("payment.completed", "/payments", {"order_id": paid_id, "payment_id": f"PAY-{paid_id}"})
    )
    expect(receipt["resumed"] == [paid.instance_id], f"the receiver resumed {receipt['resumed']}, not {paid}")
    result = run.result(paid)
    expect(result == {"order_id": paid_id, "status": "paid", "payment_id": f"PAY-{paid_id}"}, f"{paid_id}: {result}")
    say(f"{paid_id} paid by its event")
    result = run.result(late)
    waited = time.monotonic() - started
    expect(result.get("status") == "cancelled", f"{late_id} should have timed out, but returned {result}")
    expect(waited >= PAYMENT_TIMEOUT, f"{late_id} timed out after {waited:.1f} s, before its {PAYMENT_TIMEOUT} s")
    say(f"{late_id} got none and timed out after {waited:.1f} s")
    rows = statuses(paid_id, late_id)
    expect(rows == {paid_id: "paid", late_id: "cancelled"}, f"the orders are {rows}")
    return f"{paid_id} paid, {late_id} cancelled and its payment voided"


def approval_with_escalation(run: Run, say: Callable[[str], None]) -> str:
    request_id = f"exp-{run.tag}"
    started = time.monotonic()
    handle = durable.start(
        workflows.expense_approval,
        request_id,
        Decimal("1200.00"),
        escalate_after=ESCALATE_AFTER,
        instance_id=f"approval-{request_id}",
    )
    say(f"{request_id} waits for the manager")
    escalated_to = durable.get_event(handle.instance_id, "escalated_to", timeout=run.patience)
    expect(escalated_to == "director", f"{handle.instance_id} published no escalation (it is {handle.status})")
    say(f"no decision, escalated to the director after {time.monotonic() - started:.1f} s")
    for role, approved in (("manager", False), ("director", True)):
        run.sender.structured(
            event("approval.decided", "/approvals", {"request_id": request_id, "role": role, "approved": approved})
        )
    say("the manager rejects it late, the director approves")
    result = run.result(handle)
    expected = {"request_id": request_id, "approved": True, "approver": "director", "escalated": True}
    expect(result == expected, f"{handle.instance_id} returned {result}")
    return "approved by the director; the late rejection was not taken"


def batch_processing(run: Run, say: Callable[[str], None]) -> str:
    batch_id = f"batch-{run.tag}"
    orders = [{"order_id": run.order_id(f"b{n:02}"), "amount": "9.90"} for n in range(1, 11)]
    started = time.monotonic()
    handle = durable.start(
        workflows.batch_import, batch_id, orders, chunk_size=4, pause=BATCH_PAUSE, instance_id=batch_id
    )
    done = 0
    while done < len(orders):
        progress = run.wait(functools.partial(_progress_past, handle, done), handle, f"publish progress past {done}")
        done = progress["done"]
        say(f"{done}/{progress['total']}")
    result = run.result(handle)
    elapsed = time.monotonic() - started
    expect(result == {"batch_id": batch_id, "imported": 10, "chunks": 3}, f"{batch_id} returned {result}")
    expect(elapsed >= 2 * BATCH_PAUSE, f"{batch_id} took {elapsed:.1f} s, less than its two {BATCH_PAUSE} s pauses")
    count = Order.objects.filter(order_id__in=[o["order_id"] for o in orders]).count()
    expect(count == len(orders), f"{count} of the batch's {len(orders)} orders are in the database")
    return f"{count} orders imported in 3 chunks, {BATCH_PAUSE} s apart, in {elapsed:.1f} s"


def _progress_past(handle: durable.WorkflowHandle, seen: int) -> dict | None:
    progress = durable.get_event(handle.instance_id, "progress")
    return progress if progress and progress["done"] > seen else None


def orchestration(run: Run, say: Callable[[str], None]) -> str:
    request_id = f"req-{run.tag}"
    handle = durable.start(
        workflows.service_orchestration, request_id, timeout=LONG_TIMEOUT, instance_id=f"orchestration-{request_id}"
    )
    run.waiting(handle)
    say("asked inventory, payment and shipping; waiting for inventory")
    refs = {"inventory": f"INV-{run.tag}", "payment": f"CAP-{run.tag}", "shipping": f"SHP-{run.tag}"}
    run.sender.structured(event("shipping.booked", "/shipping", {"request_id": request_id, "ref": refs["shipping"]}))
    run.sender.structured(event("payment.captured", "/payments", {"request_id": request_id, "ref": refs["payment"]}))
    run.sender.binary(event("inventory.reserved", "/inventory", {"request_id": request_id, "ref": refs["inventory"]}))
    say("answers arrive as shipping, payment, inventory (binary mode)")
    result = run.result(handle)
    expected = [[service, refs[service]] for service in ("inventory", "payment", "shipping")]
    expect(result["answers"] == expected, f"{handle.instance_id} collected {result['answers']}, not {expected}")
    return "all three taken in the awaited order: inventory, payment, shipping"


def correlation(run: Run, say: Callable[[str], None]) -> str:
    signers = {run.order_id(3): "Ann", run.order_id(4): "Bo"}
    handles = {
        order_id: durable.start(
            workflows.order_delivery, order_id, Decimal("15.00"), timeout=LONG_TIMEOUT, instance_id=f"ship-{order_id}"
        )
        for order_id in signers
    }
    run.waiting(*handles.values())
    say(f"{' and '.join(signers)} both wait for shipment.delivered")
    deliveries = [
        event("shipment.delivered", "/carrier", {"order_id": order_id, "signed_by": signer})
        for order_id, signer in reversed(signers.items())
    ]
    receipt = run.sender.batch(deliveries)
    resumed = sorted(receipt["resumed"])
    expect(resumed == sorted(h.instance_id for h in handles.values()), f"the batch resumed {resumed}")
    say("both deliveries in one batch, in the other order")
    for order_id, handle in handles.items():
        result = run.result(handle)
        expect(result.get("signed_by") == signers[order_id], f"{order_id} took the delivery signed by {result}")
    rows = statuses(*signers)
    expect(rows == dict.fromkeys(signers, "delivered"), f"the orders are {rows}")
    return ", ".join(f"{order_id} signed by {signer}" for order_id, signer in signers.items())


def checkout(run: Run, say: Callable[[str], None]) -> str:
    order_id = run.order_id(5)
    started = time.monotonic()
    handle = durable.start(
        workflows.checkout, order_id, Decimal("59.00"), timeout=LONG_TIMEOUT, instance_id=f"checkout-{order_id}"
    )
    url = durable.get_event(handle.instance_id, "payment_url", timeout=run.patience)
    expect(url, f"{handle.instance_id} published no payment_url (it is {handle.status})")
    say(f"get_event gave {url} after {(time.monotonic() - started) * 1000:.0f} ms")
    run.sender.structured(event("checkout.paid", "/payments", {"order_id": order_id, "payment_id": f"PAY-{order_id}"}))
    say("the customer pays")
    result = run.result(handle)
    expect(result == {"order_id": order_id, "status": "paid", "payment_url": url}, f"{order_id}: {result}")
    rows = statuses(order_id)
    expect(rows == {order_id: "paid"}, f"the order is {rows}")
    return f"{order_id} paid"


def event_started(run: Run, say: Callable[[str], None]) -> str:
    order_id = run.order_id(6)
    placed = event("order.placed", "/storefront", {"order_id": order_id, "amount": "12.50"})
    receipt = run.sender.structured(placed)
    expect(len(receipt["started"]) == 1, f"order.placed started {receipt['started']}, not one instance")
    handle = durable.get_handle(receipt["started"][0])
    say(f"order.placed started instance {handle.instance_id[:8]}")
    again = run.sender.structured(placed)
    expect(again["duplicates"] == 1 and not again["started"], f"the same event again was not a duplicate: {again}")
    say("the same event again starts nothing")
    result = run.result(handle)
    tracking = f"TRK-{order_id}"
    expected = {"order_id": order_id, "status": "shipped", "tracking": tracking, "placed_by": "/storefront"}
    expect(result == expected, f"{handle.instance_id} returned {result}")
    rows = statuses(order_id)
    expect(rows == {order_id: "shipped"}, f"the order is {rows}")
    return f"{order_id} created and shipped ({tracking})"


def trip_saga(run: Run, say: Callable[[str], None]) -> str:
    trip_id = f"trip-{run.tag}"
    handle = durable.start(workflows.trip_booking, trip_id, car_available=False, instance_id=f"saga-{trip_id}")
    say("flight and hotel booked, no car available")
    run.wait(lambda: handle.status == Status.FAILED, handle, "fail and compensate")
    summary = inspect.summary(handle.instance_id)
    expect(summary.compensated, f"{handle.instance_id} failed without compensating: {summary.compensation}")
    steps = inspect.instance(handle.instance_id).history
    undone = [step.name for step in steps if step.kind == StepKind.COMPENSATION]
    expect(undone == ["cancel_hotel", "cancel_flight"], f"the compensations ran as {undone}")
    rows = dict(Booking.objects.filter(trip_id=trip_id).values_list("kind", "status"))
    expect(rows == {"flight": "cancelled", "hotel": "cancelled"}, f"the bookings are {rows}")
    return f"{trip_id} failed; the hotel, then the flight cancelled by their compensations"


def nightly_schedule(run: Run, say: Callable[[str], None]) -> str:
    from durable import schedules

    schedules.sync_code()  # what durable_worker did as it started; idempotent
    row = schedules.get("nightly-report")
    say(f"next slot {row.next_slot_at:%Y-%m-%d %H:%M} UTC; triggered now")
    handle = durable.get_handle(schedules.trigger("nightly-report"))
    run.wait(lambda: handle.status == Status.COMPLETED, handle, "complete")
    report = handle.result(timeout=5)
    expect(report["slot"] is not None and sum(report["orders"].values()) > 0, f"the report is {report}")
    return f"{handle.instance_id}: {sum(report['orders'].values())} orders by status"


def fan_out_batch(run: Run, say: Callable[[str], None]) -> str:
    batch_id = f"priced-{run.tag}"
    lines = [{"sku": f"SKU-{n:02}", "quantity": n} for n in range(1, 21)]
    started = time.monotonic()
    handle = durable.start(workflows.priced_batch, batch_id, lines, instance_id=batch_id)
    say(f"{batch_id}: 20 lines priced in parallel")
    result = run.result(handle)
    elapsed = time.monotonic() - started
    expect(result["priced"] == 20, f"{batch_id} returned {result}")
    steps = inspect.instance(handle.instance_id).history
    parallel = [s for s in steps if s.kind == StepKind.PARALLEL and s.started_at is not None]
    expect(len(parallel) == 20, f"{batch_id} recorded {len(parallel)} parallel steps, not 20")
    spans = [(s.started_at, s.recorded_at) for s in parallel if s.started_at is not None]
    at_once = max(sum(1 for begin, end in spans if begin <= start < end) for start, _ in spans)
    return f"20 lines priced, total {result['total']}, up to {at_once} at once, in {elapsed:.1f} s"


def approval_or_reminder(run: Run, say: Callable[[str], None]) -> str:
    quick_id, slow_id = f"req-{run.tag}-1", f"req-{run.tag}-2"
    quick = durable.start(workflows.approval_or_reminder, quick_id, LONG_TIMEOUT, instance_id=f"remind-{quick_id}")
    slow = durable.start(workflows.approval_or_reminder, slow_id, ESCALATE_AFTER, instance_id=f"remind-{slow_id}")
    run.waiting(quick)
    say(f"{quick_id} and {slow_id} wait for approval.decision, or a reminder timer, whichever first")
    run.sender.structured(event("approval.decision", "/approvals", {"request_id": quick_id, "approved": True}))
    result = run.result(quick)
    expect(result == {"request_id": quick_id, "approved": True, "reminders": 0}, f"{quick_id} returned {result}")
    say(f"{quick_id} decided by its event; its timer withdrawn")
    run.wait(lambda: _reminded(slow), slow, "send a reminder")
    run.sender.structured(event("approval.decision", "/approvals", {"request_id": slow_id, "approved": False}))
    result = run.result(slow)
    expect(result["approved"] is False and result["reminders"] >= 1, f"{slow_id} returned {result}")
    return f"{quick_id} decided at once; {slow_id} decided after {result['reminders']} reminder(s)"


def _reminded(handle: durable.WorkflowHandle) -> bool:
    steps = inspect.instance(handle.instance_id).history
    return any(s.kind == StepKind.ACTIVITY and s.name == "notify_approver" for s in steps)


PATTERNS: list[tuple[str, Callable[[Run, Callable[[str], None]], str]]] = [
    ("payment with timeout", payment_with_timeout),
    ("approval with escalation", approval_with_escalation),
    ("batch processing with delays", batch_processing),
    ("orchestration of three services", orchestration),
    ("order correlation by data", correlation),
    ("checkout publishing its payment URL", checkout),
    ("event-started workflow", event_started),
    ("trip booking saga", trip_saga),
    ("nightly report on a schedule", nightly_schedule),
    ("fan-out batch of 20 parallel activities", fan_out_batch),
    ("approval or reminder, whichever first", approval_or_reminder),
]
