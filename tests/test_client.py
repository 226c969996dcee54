"""The service API against the real database: start, handles, cancel, pause, resume, get_event."""

from __future__ import annotations

import pytest
from django.db import transaction

import durable
from durable.models import HistoryStep, Status, Timer, WorkflowInstance
from tests import workflows
from tests.conftest import background

pytestmark = pytest.mark.django_db


def test_start__is_idempotent_on_instance_id():
    first = durable.start(workflows.three_steps, 1, instance_id="order-1")
    second = durable.start("three_steps", 99, instance_id="order-1")
    assert first == second
    assert WorkflowInstance.objects.filter(id="order-1").count() == 1
    assert WorkflowInstance.objects.get(id="order-1").input == {"args": [1], "kwargs": {}}


def test_start__handle_says_whether_this_call_created_the_instance():
    assert durable.start(workflows.three_steps, 1, instance_id="order-3").created is True
    assert durable.start(workflows.three_steps, 1, instance_id="order-3").created is False
    assert durable.get_handle("order-3").created is False


def test_start__same_id_for_another_workflow_is_refused():
    durable.start(workflows.three_steps, 1, instance_id="order-2")
    with pytest.raises(durable.InvalidTransition, match="already exists for workflow 'three_steps'"):
        durable.start(workflows.sleeper, 1, instance_id="order-2")


def test_start__inside_atomic_rolls_back_with_the_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        durable.start(workflows.three_steps, 1, instance_id="rolled-back")
        assert WorkflowInstance.objects.filter(id="rolled-back").exists()
        raise RuntimeError("abort the surrounding transaction")
    assert not WorkflowInstance.objects.filter(id="rolled-back").exists()


def test_start__runs_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    requested = []
    monkeypatch.setattr("durable.db._waker", lambda force=False: requested.append(force))
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        durable.start(workflows.three_steps, 1)
        assert requested == []
    assert callbacks, "the wake-up must wait for the commit"
    for callback in callbacks:
        callback()
    assert requested == [False]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: durable.start("no_such_workflow"), durable.WorkflowNotFound),
        (lambda: durable.start(workflows.three_steps, 1, instance_id="has space"), durable.InvalidArgument),
        # /instances/bulk/ is the bulk operations' route: an instance of that id could not be reached.
        (lambda: durable.start(workflows.three_steps, 1, instance_id="bulk"), durable.InvalidArgument),
        (lambda: durable.start(workflows.three_steps, object()), durable.EncodingError),
        (lambda: durable.get_handle("missing"), durable.InstanceNotFound),
        (lambda: durable.cancel("missing"), durable.InstanceNotFound),
        (lambda: durable.get_event("missing", "k"), durable.InstanceNotFound),
    ],
)
def test_client__bad_input_is_a_clear_error_and_stores_nothing(call, error):
    with pytest.raises(error):
        call()
    assert WorkflowInstance.objects.count() == 0


def test_run__three_activities_and_a_sleep_complete(drain):
    handle = durable.start(workflows.three_steps, 1, nap=0.1)
    drain(handle)
    assert handle.result()["result"] == 4
    kinds = list(HistoryStep.objects.filter(instance_id=handle.instance_id).values_list("kind", flat=True))
    assert kinds == ["activity", "activity", "sleep", "activity", "now"]
    assert not Timer.objects.exists()


def test_cancel__sleeping_instance_withdraws_timer_and_stays_cancelled(drain):
    handle = durable.start(workflows.sleeper, 60)
    drain()
    assert handle.status == Status.WAITING_FOR_TIMER
    assert Timer.objects.filter(instance_id=handle.instance_id).count() == 1
    handle.cancel("customer changed their mind")
    assert handle.status == Status.CANCELLED
    assert not Timer.objects.filter(instance_id=handle.instance_id).exists()
    with pytest.raises(durable.WorkflowCancelled, match="customer changed their mind"):
        handle.result(timeout=0)
    with pytest.raises(durable.InvalidTransition, match="it is cancelled"):
        durable.cancel(handle.instance_id)


def test_pause_resume__paused_instance_is_not_run_until_resumed(drain):
    handle = durable.start(workflows.three_steps, 5, nap=0.05)
    durable.pause(handle.instance_id, "maintenance")
    drain()
    assert handle.status == Status.PAUSED
    assert not HistoryStep.objects.filter(instance_id=handle.instance_id).exists()
    with pytest.raises(durable.InvalidTransition):
        durable.pause(handle.instance_id)
    durable.resume(handle.instance_id)
    drain(handle)
    assert handle.result()["result"] == 8
    kinds = [entry["kind"] for entry in WorkflowInstance.objects.get(id=handle.instance_id).incidents]
    assert kinds == ["paused", "resumed"]
    with pytest.raises(durable.InvalidTransition, match="it is completed"):
        durable.resume(handle.instance_id)


def test_pause__timer_firing_while_paused_is_kept(drain):
    handle = durable.start(workflows.sleeper, 0.05)
    drain(lambda: handle.status == Status.WAITING_FOR_TIMER)
    durable.pause(handle.instance_id)
    drain(lambda: not Timer.objects.exists())
    assert handle.status == Status.PAUSED
    assert HistoryStep.objects.filter(instance_id=handle.instance_id, kind="sleep").exists()
    durable.resume(handle.instance_id)
    drain(handle)
    assert handle.status == Status.COMPLETED


def test_result__raises_workflow_failed_with_the_error(drain):
    handle = durable.start(workflows.explodes)
    drain(handle)
    with pytest.raises(durable.WorkflowFailed) as caught:
        handle.result()
    assert caught.value.error["type"] == "RuntimeError"
    assert "boom in workflow code" in str(caught.value)
    assert "Traceback" in caught.value.error["traceback"]


def test_result__timeout_raises_builtin_timeout_error(drain):
    handle = durable.start(workflows.sleeper, 60)
    drain()
    with pytest.raises(TimeoutError, match="still waiting_for_timer"):
        handle.result(timeout=0.1)


def test_get_event__reads_published_values(drain):
    handle = durable.start(workflows.publisher, nap=0.05)
    assert handle.get_event("payment_url") is None
    assert handle.get_event("payment_url", default="unset") == "unset"
    drain()
    assert durable.get_event(handle.instance_id, "payment_url") == {"url": f"https://pay.example/{handle.instance_id}"}
    drain(handle)
    assert handle.get_event("status") == "done"


@pytest.mark.django_db(transaction=True)
def test_get_event__waits_for_a_value_set_meanwhile(drain):
    handle = durable.start(workflows.publisher, nap=0.3)
    drain(lambda: handle.status == Status.WAITING_FOR_TIMER)
    assert handle.get_event("status") is None

    with background(lambda: drain(handle)):
        assert handle.get_event("status", timeout=10) == "done"


def test_get_event__returns_at_once_for_an_ended_instance(drain):
    handle = durable.start(workflows.explodes)
    drain(handle)
    assert handle.get_event("never", timeout=30, default="gone") == "gone"
