"""durable_list: the newest instances as a table, filters, the limit, and invalid statuses."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

import durable
from durable.models import WorkflowInstance
from durable.run import executor
from tests import workflows
from tests.command_workflows import cmd_awaits_payment

pytestmark = pytest.mark.django_db


def make(workflow, *args, instance_id: str, minutes_ago: int) -> None:
    durable.start(workflow, *args, instance_id=instance_id)
    created = timezone.now() - dt.timedelta(minutes=minutes_ago)
    WorkflowInstance.objects.filter(id=instance_id).update(created_at=created)


@pytest.fixture
def three():
    make(workflows.sleeper, 30, instance_id="old", minutes_ago=30)
    make(cmd_awaits_payment, "o-1", instance_id="mid", minutes_ago=20)
    make(workflows.three_steps, 1, instance_id="new", minutes_ago=10)
    executor.run_due(only="mid")


def ids(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()[2:] if line and not line.startswith("Showing")]


def test_list__a_table_newest_first(run, three):
    out, _ = run("durable_list")
    header, rule, *rows = out.splitlines()
    assert header.split() == ["ID", "WORKFLOW", "STATUS", "WAITING", "FOR", "CREATED", "UPDATED"]
    assert set(rule) == {"-", " "}
    assert ids(out) == ["new", "mid", "old"]
    mid = rows[1]
    waits = r"cmdtest\.payment\.completed where \S+\.\.\., times out in 9m 5\ds"
    assert re.match(rf"mid  cmd_awaits_payment  waiting_for_event  {waits}  ", mid), mid
    created = WorkflowInstance.objects.get(id="mid").created_at.strftime("%Y-%m-%d %H:%M:%S")
    assert created in mid


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--status", "pending"], ["new", "old"]),
        (["--status", "waiting_for_event,pending", "--workflow", "sleeper"], ["old"]),
        (["--status", "completed", "--status", "waiting_for_event"], ["mid"]),
        (["--status", "active"], ["new", "mid", "old"]),
        (["--workflow", "three_steps"], ["new"]),
        (["--limit", "2"], ["new", "mid"]),
    ],
)
def test_list__filters_and_limit(run, three, args, expected):
    assert ids(run("durable_list", *args)[0]) == expected


def test_list__says_when_the_limit_hides_more(run, three):
    assert run("durable_list", "--limit", "2")[0].splitlines()[-1] == (
        "Showing the newest 2; there are more. Raise --limit or filter."
    )
    assert "Showing" not in run("durable_list", "--limit", "3")[0]


def test_list__nothing_found_says_so_and_flags_an_unknown_workflow(run, three):
    assert run("durable_list", "--status", "failed")[0] == "No instances match.\n"
    assert (
        run("durable_list", "--workflow", "nope")[0] == "No instances match. No workflow named 'nope' is registered.\n"
    )


def test_list__invalid_status_lists_the_valid_ones(run):
    with pytest.raises(CommandError) as caught:
        run("durable_list", "--status", "pending,done")
    assert str(caught.value) == (
        "Unknown status 'done'. Use one of: pending, running, waiting_for_event, waiting_for_timer, waiting_for_child, "
        "compensating, paused, completed, failed, cancelled, or active."
    )


def test_list__limit_below_one_is_an_error(run):
    with pytest.raises(CommandError, match="--limit must be at least 1, not 0."):
        run("durable_list", "--limit", "0")


@pytest.mark.django_db(transaction=True)
def test_list__shell_prints_the_table_or_exits_1_for_a_bad_status(manage, three):
    done = manage("durable_list", "--status", "pending")
    assert done.returncode == 0, done.stderr
    assert ids(done.stdout) == ["new", "old"]
    bad = manage("durable_list", "--status", "sleeping")
    assert (bad.returncode, bad.stdout) == (1, "")
    assert "CommandError: Unknown status 'sleeping'. Use one of: pending, running," in bad.stderr


@pytest.mark.django_db(transaction=True)
def test_list__piped_to_head_stops_quietly():
    import subprocess
    import sys

    from tests.conftest import ROOT, test_database_url

    # More than a pipe's buffer (64 KiB), so the writer meets the closed pipe.
    for n in range(1200):
        durable.start(workflows.sleeper, 60, instance_id=f"pipe-{n:04}")
    env = {**__import__("os").environ, "DATABASE_URL": test_database_url(), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    command = f"{sys.executable} manage.py durable_list --limit 1200 | head -2"
    done = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert len(done.stdout.splitlines()) == 2
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
