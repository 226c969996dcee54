"""Events end to end in-process: delivery, matching, keeping, dedupe, timeouts, addressing, starts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

import durable
from durable import db
from durable.models import Delivery, Event, HistoryStep, Status, Timer, Wait, WorkflowInstance
from tests import event_workflows as ew

pytestmark = pytest.mark.django_db


def paid(order_id: str, **extra) -> durable.Delivery:
    return durable.send_event(
        "payment.completed",
        "/payments",
        {"order_id": order_id, "payment_id": f"P-{order_id}", "amount": 9.5},
        **extra,
    )


def test_payment__event_before_timeout_completes(drain):
    handle = durable.start(ew.payment_with_timeout, "o-1", timeout=30)
    drain()
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.status == Status.WAITING_FOR_EVENT
    assert row.waiting_for["types"] == ["payment.completed"] and row.waiting_for["match"] == {"order_id": "o-1"}
    delivery = paid("o-1")
    assert delivery.resumed == [handle.instance_id] and delivery.started == []
    drain(handle)
    assert handle.result() == {"status": "completed", "payment_id": "P-o-1", "amount": 9.5, "source": "/payments"}
    assert handle.get_event("status") == "paid"
    assert not Timer.objects.exists() and not Wait.objects.exists()


def test_payment__timeout_runs_the_compensation(drain):
    handle = durable.start(ew.payment_with_timeout, "o-2", timeout=0.2)
    drain(handle)
    assert handle.result() == {"status": "timeout", "undo": "cancelled PAY-o-2"}
    step = HistoryStep.objects.get(instance_id=handle.instance_id, kind="wait_event")
    assert step.status == "timed_out"
    # A late event finds nobody waiting; it is kept (for retention) but changes nothing.
    assert paid("o-2").resumed == []
    assert handle.status == Status.COMPLETED


def test_correlation__two_concurrent_orders_get_their_own_events(drain):
    first = durable.start(ew.payment_with_timeout, "o-a", timeout=30)
    second = durable.start(ew.payment_with_timeout, "o-b", timeout=30)
    drain()
    assert paid("o-b").resumed == [second.instance_id]
    assert paid("o-a").resumed == [first.instance_id]
    drain(first)
    drain(second)
    assert first.result()["payment_id"] == "P-o-a"
    assert second.result()["payment_id"] == "P-o-b"


def test_approval__escalates_after_timeout_then_completes(drain):
    handle = durable.start(ew.approval_with_escalation, "r-1", timeout=0.2)
    drain(lambda: Event.objects.filter(type="approval.escalated").exists())
    escalation = Event.objects.get(type="approval.escalated")
    assert escalation.data == {"request_id": "r-1"}
    # The manager's answer is too late and lacks the director level: it does not match.
    assert durable.send_event("approval.decided", "/ui", {"request_id": "r-1", "approved": False}).resumed == []
    assert handle.status == Status.WAITING_FOR_EVENT
    durable.send_event("approval.decided", "/ui", {"request_id": "r-1", "approved": True, "level": "director"})
    drain(handle)
    assert handle.result() == {"approved": True, "by": "director"}


def test_orchestration__events_arriving_out_of_order_are_kept(drain):
    handle = durable.start(ew.orchestrate_three, "o-7")
    drain()
    # Shipping answers first, then payment, then inventory: the opposite of the order waited for.
    for event_type, ref in (("shipping.booked", "S1"), ("payment.captured", "P1"), ("inventory.reserved", "I1")):
        durable.send_event(event_type, f"/{event_type}", {"order_id": "o-7", "ref": ref})
    drain(handle)
    assert handle.result() == [["inventory.reserved", "I1"], ["payment.captured", "P1"], ["shipping.booked", "S1"]]
    kinds = dict(Delivery.objects.filter(instance_id=handle.instance_id).values_list("event__type", "kind"))
    assert kinds == {"inventory.reserved": "resumed", "payment.captured": "consumed", "shipping.booked": "consumed"}


def test_keeping__event_sent_before_the_wait_is_consumed(drain):
    handle = durable.start(ew.waits_once, "k1")
    durable.send_event("thing.happened", "/t", {"key": "k1"}, id="early")
    drain(handle)
    assert handle.result() == {"outcome": "event", "id": "early"}


def test_keeping__events_are_consumed_one_per_wait_in_arrival_order(drain):
    handle = durable.start(ew.waits_twice, "k")
    for n in (1, 2, 3):
        durable.send_event("tick", "/clock", {"key": "k", "n": n})
    drain(handle)
    assert handle.result() == [1, 2]


def test_keeping__events_before_the_instance_existed_are_not_seen(drain):
    durable.send_event("thing.happened", "/t", {"key": "k2"}, id="before")
    handle = durable.start(ew.waits_once, "k2", timeout=0.2)
    drain(handle)
    assert handle.result() == {"outcome": "timeout"}


def test_keeping__events_past_retention_are_not_consumed(drain, settings):
    handle = durable.start(ew.waits_once, "k3", timeout=0.3)
    durable.send_event("thing.happened", "/t", {"key": "k3"}, id="old")
    Event.objects.filter(event_id="old").update(received_at=db.now() - dt.timedelta(hours=2))
    WorkflowInstance.objects.filter(id=handle.instance_id).update(created_at=db.now() - dt.timedelta(hours=3))
    settings.DURABLE_EVENT_RETENTION = dt.timedelta(hours=1)
    drain(handle)
    assert handle.result() == {"outcome": "timeout"}


def test_dedupe__repeated_source_and_id_is_delivered_once(drain):
    first = durable.start(ew.waits_twice, "d")
    drain()
    one = durable.send_event("tick", "/clock", {"key": "d", "n": 1}, id="same")
    two = durable.send_event("tick", "/clock", {"key": "d", "n": 1}, id="same")
    assert not one.duplicate and one.resumed == [first.instance_id]
    assert two.duplicate and two.resumed == []
    assert Event.objects.get(event_id="same").duplicates == 1
    drain()
    assert first.status == Status.WAITING_FOR_EVENT, "the repeat must not satisfy the second wait"
    durable.send_event("tick", "/other-source", {"key": "d", "n": 2}, id="same")
    drain(first)
    assert first.result() == [1, 2]


def test_types__a_list_waits_for_the_first_and_subject_must_match(drain):
    handle = durable.start(ew.first_of_two)
    drain()
    assert durable.send_event("order.cancelled", "/o", {}, subject="order-1").resumed == []
    assert durable.send_event("order.cancelled", "/o", {}, subject="order-9").resumed == [handle.instance_id]
    assert durable.send_event("order.shipped", "/o", {}, subject="order-9").resumed == []
    drain(handle)
    assert handle.result() == "order.cancelled"
    assert not Wait.objects.exists()


def test_addressing__instance_id_delivers_to_that_instance_alone(drain):
    target = durable.start(ew.waits_once, "same-key")
    other = durable.start(ew.waits_once, "same-key")
    drain()
    delivery = durable.send_event("thing.happened", "/t", {"key": "same-key"}, instance_id=target.instance_id)
    assert delivery.resumed == [target.instance_id]
    drain(target)
    assert other.status == Status.WAITING_FOR_EVENT


def test_addressing__extension_attribute_routes_like_instance_id(drain):
    from durable import client, events

    target = durable.start(ew.waits_once, "x")
    drain()
    record = events.validate(
        {
            "specversion": "1.0",
            "id": "e-ext",
            "source": "/s",
            "type": "thing.happened",
            "durableinstanceid": target.instance_id,
        },
        {"key": "x"},
    )
    assert client.deliver(record).resumed == [target.instance_id]


def test_addressing__ended_or_unknown_instance_is_refused_and_nothing_stored(drain):
    handle = durable.start(ew.waits_once, "c")
    drain()
    durable.cancel(handle.instance_id)
    with pytest.raises(durable.InvalidTransition, match="takes no more events"):
        durable.send_event("thing.happened", "/t", {"key": "c"}, instance_id=handle.instance_id)
    with pytest.raises(durable.InstanceNotFound):
        durable.send_event("thing.happened", "/t", {"key": "c"}, instance_id="nobody")
    assert not Event.objects.exists()


def test_cancel__a_cancelled_instance_is_never_revived(drain):
    handle = durable.start(ew.waits_once, "r")
    drain()
    durable.cancel(handle.instance_id)
    assert durable.send_event("thing.happened", "/t", {"key": "r"}).resumed == []
    drain()
    assert handle.status == Status.CANCELLED
    assert not HistoryStep.objects.filter(instance_id=handle.instance_id).exists()


def test_on_event__each_event_starts_one_instance(drain):
    first = durable.send_event("order.created", "/shop", {"order_id": "o-9"}, id="c-1")
    again = durable.send_event("order.created", "/shop", {"order_id": "o-9"}, id="c-1")
    assert len(first.started) == 1 and again.duplicate and again.started == []
    handle = durable.get_handle(first.started[0])
    drain(handle)
    assert handle.result() == {"order": "o-9", "source": "/shop", "type": "order.created"}
    assert Delivery.objects.get(instance_id=handle.instance_id).kind == "started"


def test_send_event__from_a_workflow_is_delivered_after_its_step_commits(drain):
    waiter = durable.start(ew.waits_once, "w")
    drain()
    sender = durable.start(ew.announces, "w")
    drain(sender)
    drain(waiter)
    event_id = sender.result()
    assert waiter.result() == {"outcome": "event", "id": event_id}
    assert Event.objects.get(event_id=event_id).source == "/announcer"


def test_send_event__from_an_activity_is_delivered(drain):
    waiter = durable.start(ew.waits_once, "act")
    drain()
    sender = durable.start(ew.notifies_from_activity, "act")
    drain(sender)
    drain(waiter)
    assert waiter.result()["id"] == sender.result()
    assert Event.objects.get(event_id=sender.result()).subject == "from-activity"


def test_send_event__inside_a_rolled_back_transaction_delivers_nothing(drain):
    handle = durable.start(ew.waits_once, "tx")
    drain()
    with pytest.raises(RuntimeError), transaction.atomic():
        assert durable.send_event("thing.happened", "/t", {"key": "tx"}).resumed == [handle.instance_id]
        raise RuntimeError("roll back")
    assert not Event.objects.exists()
    assert Wait.objects.filter(instance_id=handle.instance_id).exists()
    assert durable.send_event("thing.happened", "/t", {"key": "tx"}).resumed == [handle.instance_id]
    drain(handle)
    assert handle.result()["outcome"] == "event"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event_type": "", "source": "/s"},
        {"event_type": "t", "source": ""},
        {"event_type": "t", "source": "/s", "data": object()},
        {"event_type": "t", "source": "/s", "subject": 5},
    ],
)
def test_send_event__bad_input_is_refused_and_nothing_stored(kwargs):
    with pytest.raises(durable.InvalidEvent):
        durable.send_event(**kwargs)
    assert not Event.objects.exists()


def test_scale__delivery_to_one_of_many_waiting_instances_costs_the_same(drain, listening_known):
    def deliver_one(n_waiting: int) -> int:
        handles = [durable.start(ew.waits_once, f"scale-{n_waiting}-{i}") for i in range(n_waiting)]
        drain()
        with CaptureQueriesContext(connection) as queries:
            delivery = durable.send_event("thing.happened", "/t", {"key": f"scale-{n_waiting}-3"})
        assert delivery.resumed == [handles[3].instance_id]
        return len(queries)

    assert deliver_one(5) == deliver_one(60)


@pytest.mark.parametrize("wanted", [__import__("decimal").Decimal("12.50"), __import__("uuid").UUID(int=7)])
def test_match__a_value_json_cannot_hold_matches_its_json_form_sent_over_http(drain, wanted):
    handle = durable.start(ew.waits_once, wanted, timeout=30)
    drain()
    delivery = durable.send_event("thing.happened", "/http", {"key": str(wanted)})
    assert delivery.resumed == [handle.instance_id]
    drain(handle)
    assert handle.result()["outcome"] == "event"
