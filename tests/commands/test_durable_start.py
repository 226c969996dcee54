"""durable_start: inputs, ids, --wait, and its errors, in-process and as a real subprocess."""

from __future__ import annotations

import json

import pytest
from django.core.management.base import CommandError

import durable
from durable.models import Status, WorkflowInstance
from tests import command_workflows, workflows

pytestmark = pytest.mark.django_db


def only_instance() -> WorkflowInstance:
    (row,) = WorkflowInstance.objects.all()
    return row


def test_start__list_input_is_positional_arguments_and_the_id_is_printed(run):
    out, _ = run("durable_start", "three_steps", "--input", "[10, 0.5]")
    row = only_instance()
    assert out == f"Started three_steps: instance {row.id}\n"
    assert (row.workflow_name, row.status) == ("three_steps", Status.PENDING)
    assert row.input == {"args": [10, 0.5], "kwargs": {}}


def test_start__object_input_is_keyword_arguments(run):
    run("durable_start", "cmd_echoes", "--input", '{"value": {"a": [1, 2]}, "times": 2}')
    assert only_instance().input == {"args": [], "kwargs": {"value": {"a": [1, 2]}, "times": 2}}


def test_start__any_other_json_value_is_the_one_positional_argument(run):
    run("durable_start", "sleeper", "--input", "30")
    assert only_instance().input == {"args": [30], "kwargs": {}}


def test_start__without_input_passes_no_arguments(run):
    run("durable_start", "cmd_echoes")
    assert only_instance().input == {"args": [], "kwargs": {}}


def test_start__verbosity_0_prints_only_the_instance_id(run):
    out, err = run("durable_start", "three_steps", "--input", "[1]", "--id", "order-7", "-v", "0")
    assert (out, err) == ("order-7\n", "")


def test_start__an_existing_id_is_reported_not_started_again(run):
    run("durable_start", "three_steps", "--input", "[1]", "--id", "order-1")
    out, _ = run("durable_start", "three_steps", "--input", "[2]", "--id", "order-1")
    assert "Instance order-1 of three_steps exists already (pending); it was not started again." in out
    assert only_instance().input == {"args": [1], "kwargs": {}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no_such_flow"], "No workflow named 'no_such_flow' is registered (known: "),
        (
            ["three_steps", "--input", "{'n': 1}"],
            "--input is not valid JSON (Expecting property name enclosed in double quotes at character 2): "
            "\"{'n': 1}\".",
        ),
        (["three_steps", "--input", "ten"], "--input is not valid JSON (Expecting value at character 1): 'ten'"),
        (
            ["three_steps", "--input", '{"m": 1}'],
            "--input does not fit three_steps(ctx, n, nap=0.3): missing a required argument: 'n'.",
        ),
        (["three_steps", "--input", "[1, 2, 3]"], "--input does not fit three_steps(ctx, n, nap=0.3): too many"),
        (["three_steps", "--input", "[1]", "--id", "has space"], "Instance id 'has space' is invalid"),
        (["three_steps", "--input", "[1]", "--id", "bulk"], "Instance id 'bulk' is reserved: /instances/bulk/ is"),
        (["three_steps", "--input", "[1]", "--timeout", "5"], "--timeout takes a number of seconds >= 0, and only"),
    ],
)
def test_start__errors_are_command_errors_and_start_nothing(run, args, message):
    with pytest.raises(CommandError) as caught:
        run("durable_start", *args)
    assert message in str(caught.value)
    assert not WorkflowInstance.objects.exists()


def test_start__an_id_of_another_workflow_is_refused(run):
    durable.start(workflows.sleeper, 5, instance_id="taken")
    with pytest.raises(CommandError, match="Instance taken already exists for workflow 'sleeper', not 'three_steps'"):
        run("durable_start", "three_steps", "--input", "[1]", "--id", "taken")


def test_start__wait_prints_the_result_as_json(run, drain):
    handle = durable.start(workflows.three_steps, 10, nap=0.01, instance_id="done-1")
    drain(handle)
    out, err = run("durable_start", "three_steps", "--input", "[10]", "--id", "done-1", "--wait")
    lines = out.splitlines()
    assert lines[0] == "Instance done-1 of three_steps exists already (completed); it was not started again."
    result = json.loads(lines[1])
    assert result == {"result": 13, "finished": handle.result()["finished"].isoformat()}
    assert "Waiting for it to end" in err


def test_start__wait_on_a_failed_instance_is_an_error_naming_durable_show(run, drain):
    drain(durable.start(workflows.explodes, instance_id="boom-1"))
    with pytest.raises(CommandError) as caught:
        run("durable_start", "explodes", "--id", "boom-1", "--wait")
    assert str(caught.value) == (
        "Instance boom-1 (explodes) failed: RuntimeError: boom in workflow code "
        "(details: manage.py durable_show boom-1)"
    )


def test_start__wait_on_a_cancelled_instance_is_an_error(run):
    durable.start(command_workflows.cmd_awaits_payment, "o-1", instance_id="gone")
    durable.cancel("gone", "customer left")
    with pytest.raises(CommandError, match="Instance gone \\(cmd_awaits_payment\\) was cancelled: customer left"):
        run("durable_start", "cmd_awaits_payment", "--input", '["o-1"]', "--id", "gone", "--wait")


def test_start__wait_timeout_says_the_instance_keeps_running(run):
    with pytest.raises(CommandError) as caught:
        run("durable_start", "sleeper", "--input", "30", "--id", "slow", "--wait", "--timeout", "0.2")
    assert str(caught.value) == (
        "Instance slow is still pending after 0.2 s; it keeps running (check it with manage.py durable_show slow)."
    )


def test_start__wait_on_a_paused_instance_says_how_to_resume_it(run):
    durable.start(workflows.sleeper, 30, instance_id="held")
    durable.pause("held", "checking the order")
    with pytest.raises(CommandError) as caught:
        run("durable_start", "sleeper", "--input", "30", "--id", "held", "--wait")
    assert str(caught.value) == (
        "Instance held is paused: checking the order. Resume it with manage.py durable_resume held."
    )


@pytest.mark.django_db(transaction=True)
def test_start__shell_prints_the_id_and_exits_0(manage):
    done = manage("durable_start", "three_steps", "--input", '{"n": 4}', "-v", "0")
    assert done.returncode == 0, done.stderr
    instance_id = done.stdout.strip()
    assert WorkflowInstance.objects.get(id=instance_id).input == {"args": [], "kwargs": {"n": 4}}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "CommandError: No workflow named 'nope' is registered"),
        (["three_steps", "--input", "[1,"], "CommandError: --input is not valid JSON (Expecting value at character 4)"),
    ],
)
def test_start__shell_errors_exit_1_with_the_message_on_stderr(manage, args, message):
    done = manage("durable_start", *args)
    assert (done.returncode, done.stdout) == (1, "")
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True)
def test_start__shell_wait_with_a_real_worker_prints_the_result_or_exits_1(worker, manage):
    done = manage("durable_start", "three_steps", "--input", "[10]", "--id", "cli-1", "--wait", "--timeout", "60")
    assert done.returncode == 0, done.stderr
    started, result = done.stdout.splitlines()
    assert started == "Started three_steps: instance cli-1"
    assert json.loads(result)["result"] == 13
    assert WorkflowInstance.objects.get(id="cli-1").status == Status.COMPLETED

    failed = manage("durable_start", "explodes", "--id", "cli-2", "--wait", "--timeout", "60")
    assert failed.returncode == 1
    assert "CommandError: Instance cli-2 (explodes) failed: RuntimeError: boom in workflow code" in failed.stderr


def test_start__the_wake_up_task_is_enqueued_without_django_q2s_info_line(caplog):
    """django-q2 logs "Enqueued [...]" for every task; durable's own drain task stays quiet, the
    project's own tasks do not, and neither do django-q2's warnings."""
    import logging

    from django_q.tasks import async_task

    from durable.worker import wakeup

    with caplog.at_level(logging.INFO, logger="django-q"):
        wakeup.enqueue()
        ours = [record.getMessage() for record in caplog.records if record.name == "django-q"]
        async_task("math.floor", 1.5)
        theirs = [record.getMessage() for record in caplog.records if record.name == "django-q"]
    assert ours == []
    assert any(message.startswith("Enqueued") for message in theirs), theirs
