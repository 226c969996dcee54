"""Delayed starts and debounce (SPEC 13) in the test process: pending until their time, one instance
per debounce window, bad input refused with nothing stored."""

from __future__ import annotations

import datetime as dt
import time

import pytest

import durable
from durable import db, timers
from durable.exceptions import InvalidArgument
from durable.models import Status, Timer, WorkflowInstance
from durable.run import executor
from tests import delay_workflows as dw
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def run_when_due(handle, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and handle.status != Status.COMPLETED:
        timers.fire_due()
        executor.run_due(max_seconds=1)
        time.sleep(0.02)


def test_start_in__pending_until_its_time_then_runs_once_not_before():
    asked = db.now()
    handle = durable.start(dw.delayed, "later", start_in=1.0)
    instance = WorkflowInstance.objects.get(pk=handle.instance_id)
    assert instance.status == Status.PENDING and instance.waiting_for["kind"] == "start"
    assert Timer.objects.get(instance_id=handle.instance_id).purpose == "start"
    assert executor.run_due(max_seconds=1) == 0, "not claimable before its time"
    assert timers.fire_due() == 0
    run_when_due(handle)
    result = handle.result()
    assert result["now"] >= (asked + dt.timedelta(seconds=1.0)).timestamp()
    assert Ledger.objects.filter(step="begin:later").count() == 1
    # A worker may claim it at its time before its start timer fires (here, or after a recovery
    # sweep in production); the timer then fires once more, harmlessly, and is gone.
    timers.fire_due()
    assert not Timer.objects.filter(instance_id=handle.instance_id).exists()
    assert Ledger.objects.filter(step="begin:later").count() == 1


def test_start_at__an_aware_time_or_a_past_one_which_starts_now():
    handle = durable.start(dw.delayed, "at", start_at=db.now() + dt.timedelta(hours=1))
    due = WorkflowInstance.objects.get(pk=handle.instance_id).run_after
    assert abs((due - db.now()).total_seconds() - 3600) < 5
    now = durable.start(dw.delayed, "past", start_at=db.now() - dt.timedelta(minutes=1))
    assert WorkflowInstance.objects.get(pk=now.instance_id).waiting_for is None
    assert executor.run_due(max_seconds=2, only=now.instance_id) == 1


def test_cancel_before_it_starts__never_runs_and_its_timer_is_withdrawn():
    handle = durable.start(dw.delayed, "cancelled", start_in=0.3)
    durable.cancel(handle.instance_id, "not needed")
    time.sleep(0.4)
    timers.fire_due()
    executor.run_due(max_seconds=1)
    assert handle.status == Status.CANCELLED
    assert not Ledger.objects.filter(step="begin:cancelled").exists()
    assert not Timer.objects.filter(instance_id=handle.instance_id).exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"start_at": dt.datetime(2030, 1, 1)}, "timezone-aware"),
        ({"start_at": "2030-01-01T00:00:00Z"}, "aware datetime, not str"),
        ({"start_in": -1}, "must not be negative"),
        ({"start_in": "5"}, r"seconds \(a number\) or a timedelta"),
        ({"start_in": 1, "start_at": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)}, "not both"),
        ({"debounce": 5}, "needs a business_key"),
        ({"debounce": 0, "business_key": "k"}, "more than 0 seconds"),
        ({"debounce": 5, "debounce_max": 2, "business_key": "k"}, "at least debounce"),
        ({"debounce_max": 5, "business_key": "k"}, "give debounce as well"),
        ({"debounce": 5, "business_key": "k", "start_in": 3}, "neither start_at/start_in nor instance_id"),
        ({"debounce": 5, "business_key": "k", "start_in": 0}, "neither start_at/start_in nor instance_id"),
        ({"debounce": 5, "business_key": "k", "instance_id": "x-1"}, "neither start_at/start_in nor instance_id"),
    ],
)
def test_bad_start_options__refused_and_nothing_stored(options, message):
    with pytest.raises(InvalidArgument, match=message):
        durable.start(dw.delayed, "bad", **options)
    assert not WorkflowInstance.objects.exists() and not Timer.objects.exists()


def test_debounce__five_calls_in_the_window_give_one_run_with_the_last_arguments():
    handles = []
    for i in range(5):
        handles.append(durable.start(dw.delayed, f"call-{i}", business_key="cart:9", debounce=0.4))
        time.sleep(0.05)
    assert len({h.instance_id for h in handles}) == 1
    assert [h.created for h in handles] == [True, False, False, False, False]
    handle = handles[-1]
    assert WorkflowInstance.objects.get(pk=handle.instance_id).waiting_for["debounced"] is True
    run_when_due(handle)
    assert handle.result()["label"] == "call-4"
    assert WorkflowInstance.objects.count() == 1 and Ledger.objects.count() == 1
    # The window closed when it started: the next call opens another.
    later = durable.start(dw.delayed, "next", business_key="cart:9", debounce=0.2)
    assert later.instance_id != handle.instance_id and later.created


def test_debounce_max__caps_how_far_the_start_moves_back():
    first = db.now()
    handle = durable.start(dw.delayed, "a", business_key="k-max", debounce=0.3, debounce_max=0.5)
    for label in "bcdefgh":
        time.sleep(0.1)
        durable.start(dw.delayed, label, business_key="k-max", debounce=0.3, debounce_max=0.5)
    due = WorkflowInstance.objects.get(pk=handle.instance_id).run_after
    assert due <= first + dt.timedelta(seconds=0.5) + dt.timedelta(milliseconds=50)
    run_when_due(handle)
    assert handle.result()["now"] <= (first + dt.timedelta(seconds=1.5)).timestamp()


def test_debounce__each_key_and_workflow_has_its_own_window():
    a = durable.start(dw.delayed, "x", business_key="k-a", debounce=30)
    b = durable.start(dw.delayed, "y", business_key="k-b", debounce=30)
    assert a.instance_id != b.instance_id
    assert durable.start(dw.delayed, "z", business_key="k-a", debounce=30).instance_id == a.instance_id


def test_pause_and_resume_before_its_time__it_still_waits_for_its_start():
    handle = durable.start(dw.delayed, "held", start_in=0.6)
    durable.pause(handle.instance_id, "hold on")
    durable.resume(handle.instance_id)
    instance = WorkflowInstance.objects.get(pk=handle.instance_id)
    assert instance.status == Status.PENDING and instance.waiting_for["kind"] == "start"
    assert executor.run_due(max_seconds=1) == 0, "resumed, yet not before its time"
    run_when_due(handle)
    assert handle.status == Status.COMPLETED and Ledger.objects.filter(step="begin:held").count() == 1


def test_pause_of_a_debounced_instance__closes_its_window():
    first = durable.start(dw.delayed, "a", business_key="k-p", debounce=30)
    durable.pause(first.instance_id)
    second = durable.start(dw.delayed, "b", business_key="k-p", debounce=30)
    assert second.instance_id != first.instance_id
    durable.resume(first.instance_id)  # no second open window for the key: it is no longer debounced
    assert WorkflowInstance.objects.filter(debounced=True).count() == 1
