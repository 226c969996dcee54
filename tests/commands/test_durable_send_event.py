"""durable_send_event: resuming, starting, duplicates, addressing, and its errors."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

import durable
from durable.models import Event, Status, WorkflowInstance
from durable.run import executor
from tests.command_workflows import PAYMENT, SIGNUP, cmd_awaits_payment

# Delivery happens before send_event returns only outside a transaction, as in the shell.
pytestmark = pytest.mark.django_db(transaction=True)


def waiting_for_payment(order_id: str, instance_id: str) -> durable.WorkflowHandle:
    handle = durable.start(cmd_awaits_payment, order_id, instance_id=instance_id)
    executor.run_due(only=instance_id)
    assert handle.status == Status.WAITING_FOR_EVENT
    return handle


def test_send_event__resumes_the_waiting_instance_and_prints_it(run, drain):
    handle = waiting_for_payment("o-1", "pay-1")
    data = '{"order_id": "o-1", "payment_id": "PAY-1"}'
    out, _ = run("durable_send_event", PAYMENT, "--source", "/payments", "--data", data, "--id", "ev-1")
    assert out.splitlines() == [
        f"Sent {PAYMENT} event ev-1 from /payments.",
        "Resumed: pay-1",
        "Started: none",
    ]
    drain(handle)
    assert handle.result() == {"status": "paid", "payment_id": "PAY-1"}


def test_send_event__starts_on_event_workflows(run):
    out, _ = run("durable_send_event", SIGNUP, "--source", "/accounts", "--data", '{"user": "ann"}', "--subject", "u-1")
    (started,) = WorkflowInstance.objects.filter(workflow_name="cmd_welcomes").values_list("id", flat=True)
    assert out.splitlines()[1:] == ["Resumed: none", f"Started: {started}"]
    assert Event.objects.get(type=SIGNUP).subject == "u-1"


def test_send_event__a_repeat_of_source_and_id_is_reported_as_duplicate(run):
    waiting_for_payment("o-2", "pay-2")
    args = ("durable_send_event", PAYMENT, "--source", "/payments", "--id", "ev-2", "--data", '{"order_id": "o-9"}')
    run(*args)
    out, _ = run(*args)
    assert out == "Event ev-2 from /payments is a duplicate: it was received before and is not delivered again.\n"
    assert Event.objects.get(event_id="ev-2").duplicates == 1


def test_send_event__with_nobody_waiting_says_it_is_kept(run):
    out, _ = run("durable_send_event", PAYMENT, "--source", "/payments", "--data", '{"order_id": "nobody"}')
    assert out.splitlines()[-1] == "No instance waits for it now; it is kept for their next matching wait."


def test_send_event__instance_delivers_to_that_instance_alone(run):
    waiting_for_payment("o-3", "pay-3a")
    waiting_for_payment("o-3", "pay-3b")
    data = '{"order_id": "o-3", "payment_id": "P"}'
    out, _ = run("durable_send_event", PAYMENT, "--source", "/payments", "--data", data, "--instance", "pay-3b")
    assert "Resumed: pay-3b\n" in out
    assert WorkflowInstance.objects.get(id="pay-3a").status == Status.WAITING_FOR_EVENT


def test_send_event__verbosity_0_prints_only_the_event_id(run):
    assert run("durable_send_event", "x.y", "--source", "/s", "--id", "ev-q", "-v", "0") == ("ev-q\n", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", '{"order_id": o-1}'], "--data is not valid JSON (Expecting value at character 14): "),
        (["--instance", "missing"], "No workflow instance has id 'missing'; the event was not stored."),
        (["--source", ""], "The event's 'source' must be a non-empty string"),
    ],
)
def test_send_event__errors_are_command_errors_and_store_nothing(run, args, message):
    with pytest.raises(CommandError) as caught:
        run("durable_send_event", PAYMENT, "--source", "/payments", *args)
    assert message in str(caught.value)
    assert not Event.objects.exists()


def test_send_event__to_an_ended_instance_is_refused(run):
    waiting_for_payment("o-4", "pay-4")
    durable.cancel("pay-4")
    with pytest.raises(CommandError, match="Instance pay-4 is cancelled; it takes no more events"):
        run("durable_send_event", PAYMENT, "--source", "/payments", "--instance", "pay-4")


def test_send_event__shell_resumes_and_exits_0_or_exits_1_for_an_unknown_instance(manage):
    waiting_for_payment("o-5", "pay-5")
    data = '{"order_id": "o-5", "payment_id": "P5"}'
    done = manage("durable_send_event", PAYMENT, "--source", "/payments", "--data", data)
    assert done.returncode == 0, done.stderr
    assert "Resumed: pay-5\nStarted: none\n" in done.stdout

    missing = manage("durable_send_event", PAYMENT, "--source", "/payments", "--instance", "nope")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert "CommandError: No workflow instance has id 'nope'; the event was not stored." in missing.stderr
