"""durable_cancel, durable_pause, durable_resume and durable_retry, and the transitions they refuse."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

import durable
from durable.models import Status, Timer, Wait, WorkflowInstance
from durable.run import executor
from tests import workflows
from tests.command_workflows import cmd_awaits_payment

pytestmark = pytest.mark.django_db


def waiting(instance_id: str = "pay-1") -> durable.WorkflowHandle:
    handle = durable.start(cmd_awaits_payment, "o-1", instance_id=instance_id)
    executor.run_due(only=instance_id)
    assert handle.status == Status.WAITING_FOR_EVENT
    return handle


def test_cancel__ends_the_instance_and_withdraws_its_waits_then_refuses_twice(run):
    waiting()
    out, _ = run("durable_cancel", "pay-1", "--reason", "customer left")
    assert out == "Instance pay-1 (cmd_awaits_payment) is now cancelled.\n"
    row = WorkflowInstance.objects.get(id="pay-1")
    assert (row.status, row.status_reason) == (Status.CANCELLED, "customer left")
    assert not Wait.objects.filter(instance_id="pay-1").exists()
    assert not Timer.objects.filter(instance_id="pay-1").exists()
    with pytest.raises(CommandError, match="^Cannot cancel instance pay-1: it is cancelled.$"):
        run("durable_cancel", "pay-1")


def test_pause_and_resume__round_trip_and_refuse_the_wrong_status(run, drain):
    handle = waiting()
    assert (
        run("durable_pause", "pay-1", "--reason", "checking")[0]
        == "Instance pay-1 (cmd_awaits_payment) is now paused.\n"
    )
    assert WorkflowInstance.objects.get(id="pay-1").status_reason == "checking"
    with pytest.raises(CommandError, match="^Cannot pause instance pay-1: it is paused.$"):
        run("durable_pause", "pay-1")
    assert run("durable_resume", "pay-1")[0] == "Instance pay-1 (cmd_awaits_payment) is now pending.\n"
    with pytest.raises(CommandError, match="^Cannot resume instance pay-1: it is pending.$"):
        run("durable_resume", "pay-1")
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    kinds = [entry["kind"] for entry in WorkflowInstance.objects.get(id="pay-1").incidents]
    assert kinds == ["paused", "resumed"]


def test_retry__runs_a_failed_instance_again_and_refuses_others(run, drain):
    handle = durable.start(workflows.lets_activity_error_fail, instance_id="failed-1")
    drain(handle)
    assert handle.status == Status.FAILED
    out, _ = run("durable_retry", "failed-1")
    assert out == "Instance failed-1 (lets_activity_error_fail) is now pending.\n"
    assert WorkflowInstance.objects.get(id="failed-1").error is None
    with pytest.raises(CommandError, match="^Cannot retry instance failed-1: it is pending.$"):
        run("durable_retry", "failed-1")


@pytest.mark.parametrize("command", ["durable_cancel", "durable_pause", "durable_resume", "durable_retry"])
def test_transitions__unknown_instance_is_a_command_error(run, command):
    with pytest.raises(CommandError, match="^No workflow instance has id 'missing'; check the id.$"):
        run(command, "missing")


@pytest.mark.django_db(transaction=True)
def test_transitions__shell_exit_0_then_1_for_a_transition_the_status_refuses(manage):
    waiting()
    for command, expected in [
        ("durable_pause", "paused"),
        ("durable_resume", "pending"),
        ("durable_cancel", "cancelled"),
    ]:
        done = manage(command, "pay-1")
        assert (done.returncode, done.stdout) == (0, f"Instance pay-1 (cmd_awaits_payment) is now {expected}.\n")
    again = manage("durable_cancel", "pay-1")
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == "CommandError: Cannot cancel instance pay-1: it is cancelled.\n"


@pytest.mark.django_db(transaction=True)
def test_retry__shell_retries_a_failed_instance(manage, drain):
    drain(durable.start(workflows.explodes, instance_id="boom"))
    done = manage("durable_retry", "boom")
    assert (done.returncode, done.stdout) == (0, "Instance boom (explodes) is now pending.\n")
    missing = manage("durable_retry", "nope")
    assert missing.returncode == 1
    assert "No workflow instance has id 'nope'" in missing.stderr
