"""durable_schedules and durable_schedule: listing, pause, resume, trigger, delete, and unknown names."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from durable import schedules
from durable.models import Schedule, WorkflowInstance

pytestmark = pytest.mark.django_db


def test_durable_schedules__lists_each_schedule_with_its_state(run):
    assert run("durable_schedules")[0].strip() == "No schedules."
    schedules.create("nightly", "scheduled_report", cron="0 3 * * *", timezone="Europe/Berlin")
    schedules.create("hourly", "scheduled_report", cron="0 * * * *")
    schedules.pause("hourly")
    out, _ = run("durable_schedules")
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "WORKFLOW",
        "CRON",
        "TIMEZONE",
        "NEXT",
        "SLOT",
        "LAST",
        "SLOT",
        "LAST",
        "RUN",
        "STATE",
    ]
    hourly = next(line for line in lines if line.startswith("hourly"))
    nightly = next(line for line in lines if line.startswith("nightly"))
    assert hourly.split()[-1] == "paused" and "0 * * * *" in hourly
    assert nightly.split()[-1] == "active" and "Europe/Berlin" in nightly
    assert lines[-1] == "2 schedule(s), 1 paused."


def test_durable_schedule__pause_resume_trigger_delete(run):
    schedules.create("nightly", "scheduled_report", cron="0 3 * * *")
    assert "is now paused" in run("durable_schedule", "pause", "nightly")[0]
    assert Schedule.objects.get(name="nightly").paused
    assert "is now active" in run("durable_schedule", "resume", "nightly")[0]
    assert not Schedule.objects.get(name="nightly").paused
    out, _ = run("durable_schedule", "trigger", "nightly")
    instance_id = out.split("instance ")[1].rstrip(".\n")
    assert WorkflowInstance.objects.get(id=instance_id).schedule_name == "nightly"
    assert "deleted" in run("durable_schedule", "delete", "nightly")[0]
    assert not Schedule.objects.exists() and WorkflowInstance.objects.filter(id=instance_id).exists()


@pytest.mark.parametrize("action", ["pause", "resume", "trigger", "delete"])
def test_durable_schedule__unknown_name_is_a_command_error(run, action):
    with pytest.raises(CommandError, match="No schedule is named 'nope'"):
        run("durable_schedule", action, "nope")


def test_durable_schedule__unknown_action_is_refused(manage):
    done = manage("durable_schedule", "explode", "nightly")
    assert done.returncode != 0 and "invalid choice: 'explode'" in done.stderr
