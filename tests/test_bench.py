"""durable_bench: a tiny real run reports every figure; its fixtures are the rows a suspension writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

import durable
from durable.models import HistoryStep, Status, Timer, Wait, WaitShape, WorkflowInstance
from project.bench import fixtures, harness, runner
from project.bench import workflows as bench_workflows
from project.bench.stats import percentile
from tests import conftest

TINY = [
    "--workflows=8",
    "--sagas=6",
    "--children=5",
    "--fanout=10",
    "--events=4",
    "--values=3",
    "--timers=4",
    "--scale=200",
    "--scale-events=3",
    "--scale-timers=3",
    "--queue-pending=200",
    "--replay-steps=50",
    "--replay-repeats=2",
    "--replay-check-instances=30",
    "--memory-workflows=20",
    "--idle-seconds=1",
]


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True)
def test_bench__a_tiny_run_reports_every_figure_of_every_scenario(tmp_path):
    out = tmp_path / "results.json"
    env = dict(os.environ)
    # The project's settings read DURABLE_WORKFLOW_MODULES from the environment, as the bench's
    # workers need; the test settings pin it to the test workflows.
    env.update(DATABASE_URL=conftest.test_database_url(), DJANGO_SETTINGS_MODULE="project.settings")
    bench = subprocess.Popen(
        [sys.executable, "manage.py", "durable_bench", "--quick", *TINY, f"--json={out}"],
        cwd=conftest.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = bench.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        bench.terminate()  # the bench stops its workers and server on SIGTERM
        stdout, stderr = bench.communicate(timeout=60)
        pytest.fail(f"durable_bench did not finish within 240 s:\n{stdout[-3000:]}{stderr[-3000:]}")
    assert bench.returncode == 0, stdout[-3000:] + stderr[-3000:]
    results = json.loads(out.read_text())
    assert list(results["scenarios"]) == list(runner.SCENARIOS)
    for name in runner.SCENARIOS:
        expected = set(runner.module(name).FIGURES)
        outcome = results["scenarios"][name]
        assert set(outcome["median"]) == expected, name
        for run in [outcome["median"], *outcome["runs"]]:
            for figure, value in run.items():
                assert isinstance(value, int | float) and not isinstance(value, bool), f"{name}.{figure} = {value!r}"
    machine = results["machine"]
    assert machine["cpu_count"] >= 1 and len(machine["load_average"]) == 3
    assert machine["database"]["vendor"] in ("sqlite", "postgresql") and machine["database"]["version"]
    assert machine["worker"]["q2_poll"] is not None and machine["worker"]["durable_worker_processes"] == 1
    assert "throughput" in stdout and "workflows_per_s" in stdout
    assert not WorkflowInstance.objects.exists(), "the bench deletes what it made"


@pytest.mark.django_db
def test_bench__refuses_a_database_with_other_active_instances():
    WorkflowInstance.objects.create(id="someone-else", workflow_name="x", status=Status.WAITING_FOR_EVENT)
    WorkflowInstance.objects.create(id="finished", workflow_name="x", status=Status.COMPLETED)
    WorkflowInstance.objects.create(id=f"{harness.PREFIX}left-over", workflow_name="x", status=Status.RUNNING)
    assert harness.other_active_instances() == 1
    with pytest.raises(harness.BenchError, match="1 active workflow instance"):
        runner.run(harness.Options(scenarios=["replay"]), sys.stdout)


@pytest.mark.django_db
def test_bench__fixtures_are_the_rows_a_real_suspension_writes(drain):
    real_waiter = durable.start(bench_workflows.parked, "parked-0")
    far = fixtures.FAR.total_seconds() + 1
    real_sleeper = durable.start(bench_workflows.far_sleep, far)
    drain(lambda: real_waiter.status == Status.WAITING_FOR_EVENT and real_sleeper.status == Status.WAITING_FOR_TIMER)
    fixtures.create_waiting(f"{harness.PREFIX}fx-", 2)
    fake_waiter, fake_sleeper = f"{harness.PREFIX}fx-0000000", f"{harness.PREFIX}fx-0000001"

    same = ("workflow_name", "status", "input", "result", "error", "status_reason", "incidents", "run_after")
    same += ("lease_owner", "lease_expires_at", "error_streak", "wake_seq", "finished_at")
    for real, fake in ((real_waiter.instance_id, fake_waiter), (real_sleeper.instance_id, fake_sleeper)):
        real_row = WorkflowInstance.objects.values(*same, "waiting_for").get(id=real)
        fake_row = WorkflowInstance.objects.values(*same, "waiting_for").get(id=fake)
        assert {k: real_row[k] for k in same} == {k: fake_row[k] for k in same}
        assert not HistoryStep.objects.filter(instance_id__in=[real, fake]).exists()
    assert WorkflowInstance.objects.get(id=fake_waiter).waiting_for == real_waiter_summary(real_waiter.instance_id)

    wait_fields = ("position", "name", "event_type", "match", "subject", "shape", "match_key", "timeout_at")
    assert Wait.objects.filter(instance_id=real_waiter.instance_id).values(*wait_fields).get() == (
        Wait.objects.filter(instance_id=fake_waiter).values(*wait_fields).get()
    )
    assert WaitShape.objects.filter(event_type=bench_workflows.EVENT_TYPE).count() == 1

    timer_fields = ("position", "purpose", "name")
    real_timer = Timer.objects.filter(instance_id=real_sleeper.instance_id).values(*timer_fields, "due_at").get()
    fake_timer = Timer.objects.filter(instance_id=fake_sleeper).values(*timer_fields, "due_at").get()
    assert {k: real_timer[k] for k in timer_fields} == {k: fake_timer[k] for k in timer_fields}
    assert abs(real_timer["due_at"] - fake_timer["due_at"]) < timedelta(seconds=30)
    real_summary = WorkflowInstance.objects.get(id=real_sleeper.instance_id).waiting_for
    fake_summary = WorkflowInstance.objects.get(id=fake_sleeper).waiting_for
    assert set(real_summary) == set(fake_summary) and real_summary["kind"] == fake_summary["kind"] == "timer"

    # A delivery to a fixture resumes it like any waiting instance.
    delivery = durable.send_event(bench_workflows.EVENT_TYPE, "/test", {bench_workflows.MATCH_FIELD: "parked-0"})
    assert sorted(delivery.resumed) == sorted([real_waiter.instance_id, fake_waiter])
    assert harness.cleanup() == 2
    assert WorkflowInstance.objects.count() == 2


def real_waiter_summary(instance_id: str) -> dict:
    return WorkflowInstance.objects.get(id=instance_id).waiting_for


def test_bench__percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([5.0], 99) == 5.0
    assert percentile([3, 1, 2], 50) == 2
