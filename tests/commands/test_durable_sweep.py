"""durable_sweep: fires due timers and reports; --run runs the due instances in this process."""

from __future__ import annotations

import time

import pytest

import durable
from durable.models import Status, Timer
from durable.run import executor
from tests import workflows

pytestmark = pytest.mark.django_db


def asleep(seconds: float, instance_id: str) -> durable.WorkflowHandle:
    handle = durable.start(workflows.sleeper, seconds, instance_id=instance_id)
    executor.run_due(only=instance_id)
    assert handle.status == Status.WAITING_FOR_TIMER
    return handle


def test_sweep__with_nothing_due_reports_nothing_done(run):
    assert run("durable_sweep") == ("Fired 0 timer(s); redelivered 0 stored event(s); purged 0 expired event(s).\n", "")


def test_sweep__fires_a_due_timer_and_leaves_the_run_to_the_workers(run):
    handle = asleep(0.05, "nap")
    asleep(600, "long-nap")
    time.sleep(0.1)
    out, _ = run("durable_sweep")
    assert out.splitlines()[0] == "Fired 1 timer(s); redelivered 0 stored event(s); purged 0 expired event(s)."
    assert list(Timer.objects.values_list("instance_id", flat=True)) == ["long-nap"]
    assert handle.status == Status.WAITING_FOR_TIMER  # woken and due, but not run here


def test_sweep__run_runs_the_due_instances_here(run):
    handle = asleep(0.05, "nap")
    time.sleep(0.1)
    out, _ = run("durable_sweep", "--run")
    assert out.splitlines()[0].startswith("Fired 1 timer(s);")
    assert out.splitlines()[-1] == "Ran 1 instance(s) in this process."
    assert handle.status == Status.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_sweep__shell_fires_runs_and_exits_0(manage):
    handle = asleep(0.05, "nap")
    time.sleep(0.1)
    done = manage("durable_sweep", "--run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Fired 1 timer(s); redelivered 0 stored event(s); purged 0 expired event(s).\n")
    assert done.stdout.endswith("Ran 1 instance(s) in this process.\n")
    assert handle.status == Status.COMPLETED
