"""Real durable_worker subprocesses (django-q2 cluster + timer loop) on the test database."""

from __future__ import annotations

import re
import statistics
import time
from collections import defaultdict
from datetime import datetime

import pytest
from django.db import connection
from django_q.models import Schedule

import durable
from durable import db
from durable.models import HistoryStep, Status, WorkflowInstance
from tests import wakeup_workflows as ww
from tests import workflows
from tests.conftest import is_postgres, wait_for
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def statuses(handles) -> dict[str, int]:
    ids = [h.instance_id for h in handles]
    counts: dict[str, int] = defaultdict(int)
    for status in WorkflowInstance.objects.filter(id__in=ids).values_list("status", flat=True):
        counts[status] += 1
    return dict(counts)


def all_completed(handles) -> bool:
    return statuses(handles).get(Status.COMPLETED, 0) == len(handles)


def test_worker__three_activities_and_a_sleep_complete(worker):
    handle = durable.start(workflows.three_steps, 10, nap=0.5)
    assert handle.result(timeout=30)["result"] == 13
    kinds = list(HistoryStep.objects.filter(instance_id=handle.instance_id).values_list("kind", flat=True))
    assert kinds == ["activity", "activity", "sleep", "activity", "now"]
    assert Schedule.objects.filter(func="durable.worker.tasks.sweep", minutes=1).count() == 1


def test_worker__sigkill_mid_activity_every_instance_completes_once(worker_factory, tmp_path):
    marker = tmp_path / "started.txt"
    first = worker_factory(DURABLE_LEASE_SECONDS="2")
    handles = [durable.start(workflows.ledger_three, 1.0, str(marker)) for _ in range(6)]
    wait_for(
        lambda: marker.exists() and len(marker.read_text().splitlines()) >= 2, timeout=30, what="activities to start"
    )
    first.kill()
    killed_at = time.monotonic()
    assert not all_completed(handles), "the kill must land mid-run"
    worker_factory(DURABLE_LEASE_SECONDS="2")
    wait_for(lambda: all_completed(handles), timeout=90, what=f"recovery, now {statuses(handles)}")
    recovered_in = time.monotonic() - killed_at
    for handle in handles:
        steps = sorted(Ledger.objects.filter(instance_id=handle.instance_id).values_list("step", flat=True))
        assert steps == ["step0", "step1", "step2"], f"{handle.instance_id}: {steps}"
        assert handle.result() == ["step0", "step1", "step2"]
    print(
        f"\n[report] SIGKILL recovery: 6 instances x 3 one-second activities completed {recovered_in:.1f} s "
        "after the kill (lease 2 s)"
    )


def test_worker__cancel_of_a_running_instance_stops_it(worker, tmp_path):
    gate, marker = tmp_path / "gate", tmp_path / "running"
    handle = durable.start(workflows.gated, str(gate), str(marker))
    wait_for(marker.exists, timeout=30, what="the activity to start")
    assert handle.status == Status.RUNNING
    durable.cancel(handle.instance_id, "stop it")
    gate.write_text("open")
    time.sleep(1.5)
    assert handle.status == Status.CANCELLED
    # Only the mark that the attempt started (written before the outside effect); nothing after.
    recorded = list(HistoryStep.objects.filter(instance_id=handle.instance_id).values_list("status", flat=True))
    assert recorded == ["started"]
    assert not Ledger.objects.filter(instance_id=handle.instance_id).exists()


def test_worker__lost_wake_up_is_recovered_by_the_sweep(worker):
    # An instance made due without any task enqueued, as after a Redis broker lost one.
    WorkflowInstance.objects.create(
        id="orphan",
        workflow_name="three_steps",
        input={"args": [1], "kwargs": {"nap": 0.01}},
        run_after=db.now(),
    )
    assert durable.get_handle("orphan").result(timeout=30)["result"] == 4


def test_worker__timer_lateness_report(worker):
    handles = [durable.start(workflows.sleeper, 1.0 + (i % 10) / 10) for i in range(40)]
    wait_for(lambda: all_completed(handles), timeout=60, what="sleepers")
    lateness = []
    for handle in handles:
        resumed, due = (datetime.fromisoformat(v) for v in handle.result().split("|"))
        assert resumed >= due, "a timer never fires early"
        lateness.append((resumed - due).total_seconds() * 1000)
    lateness.sort()
    p99 = lateness[min(len(lateness) - 1, int(len(lateness) * 0.99))]
    print(
        f"\n[report] timer lateness ({connection.vendor}, 40 sleepers, 1 worker): "
        f"p50 {statistics.median(lateness):.0f} ms, p99 {p99:.0f} ms, max {lateness[-1]:.0f} ms"
    )


@pytest.mark.postgres
def test_worker__two_workers_share_postgres_without_double_runs(worker_factory):
    if not is_postgres():
        pytest.skip("two clusters on one database is a PostgreSQL deployment")
    worker_factory()
    worker_factory()
    started = time.monotonic()
    handles = [durable.start(workflows.ledger_three) for _ in range(200)]
    wait_for(lambda: all_completed(handles), timeout=120, interval=0.2, what="200 workflows")
    elapsed = time.monotonic() - started
    rows = list(Ledger.objects.values_list("instance_id", "step", "pid", "started", "finished"))
    assert len(rows) == 600
    assert len({(r[0], r[1]) for r in rows}) == 600, "no activity ran twice"
    assert HistoryStep.objects.count() == 600
    by_instance = defaultdict(list)
    for instance_id, _step, pid, begun, ended in rows:
        by_instance[instance_id].append((begun, ended, pid))
    for spans in by_instance.values():
        spans.sort()
        for (_, ended, _), (begun, _, _) in zip(spans, spans[1:], strict=False):
            assert ended <= begun, "an instance ran in two workers at once"
    pids = {r[2] for r in rows}
    assert len(pids) >= 2, "both clusters took part"
    print(
        f"\n[report] two clusters on PostgreSQL: 200 workflows x 3 activities in {elapsed:.1f} s "
        f"({200 / elapsed:.0f}/s) across {len(pids)} worker processes"
    )


def test_worker__redis_broker_runs_workflows(worker_factory, redis_broker):
    worker_factory(**redis_broker.env)
    started = time.monotonic()
    handles = [durable.start(workflows.three_steps, n, nap=0.05) for n in range(20)]
    wait_for(lambda: all_completed(handles), timeout=60, what=f"workflows over Redis, now {statuses(handles)}")
    assert [h.result()["result"] for h in handles] == [n + 3 for n in range(20)]
    pushed = redis_broker.pushed
    assert pushed and redis_broker.broker.queue_size() == 0, "the wake-ups went through Redis and were consumed"
    print(f"\n[report] Redis broker: 20 workflows in {time.monotonic() - started:.2f} s, {len(pushed)} wake-up task(s)")


def test_worker__starts_without_a_connection_shared_across_the_fork(worker):
    handle = durable.start(workflows.three_steps, 1, nap=0.0)
    assert handle.result(timeout=30)["result"] == 4
    worker.stop()
    log = worker.output()
    assert "server closed the connection unexpectedly" not in log
    assert "Traceback" not in log, log[-2000:]


def test_worker__sigterm_hands_a_busy_drain_over_instead_of_running_it_out(worker_factory):
    # One drain could run this backlog for over 10 s; a stop must not wait for it (nor be killed).
    busy = worker_factory(DURABLE_DRAIN_SECONDS="120")
    handles = [durable.start(ww.naps, 0.1) for _ in range(40)]
    wait_for(lambda: Ledger.objects.count() >= 4, timeout=30, what="the drain to be under way")
    stopped_at = time.monotonic()
    busy.stop(grace=5.0)
    took = time.monotonic() - stopped_at
    assert busy.proc.returncode == 0, f"the worker had to be killed ({busy.proc.returncode}) after {took:.1f} s"
    done_then = WorkflowInstance.objects.filter(status=Status.COMPLETED).count()
    assert done_then < len(handles), "the backlog outlasted the stop, as it should for this test to mean anything"
    worker_factory()
    for handle in handles:
        assert handle.result(timeout=60) == ["nap0", "nap1", "nap2"]
    steps = Ledger.objects.values_list("instance_id", "step")
    assert len(steps) == len(set(steps)) == 3 * len(handles), "each activity ran once across the stop"
    print(f"\n[report] SIGTERM during a busy drain: stopped cleanly in {took:.1f} s with {done_then}/40 done")


def test_worker__a_run_that_outlasts_the_stop_is_killed_with_its_stacks_written(worker_factory):
    # An activity that sleeps for a minute holds up the stop; the worker must not wait it out.
    stuck = worker_factory(DURABLE_WORKER_STOP_SECONDS="2")
    handle = durable.start(ww.naps, 60.0)
    wait_for(
        lambda: WorkflowInstance.objects.filter(id=handle.instance_id, lease_owner__isnull=False).exists(),
        timeout=30,
        what="the instance to be claimed",
    )
    time.sleep(0.5)  # into its first nap
    stuck.stop(grace=30.0)
    log = stuck.output()
    assert stuck.proc.returncode is not None and stuck.proc.returncode >= 0, "the worker stopped by itself"
    assert re.search(r"did not stop within [\d.]+ s; killing", log), log[-3000:]
    # faulthandler's dump names the activity's frame, so an operator sees what held the stop up.
    assert "most recent call first" in log and ", line " in log and " in nap" in log, log[-3000:]
    assert "durable worker stopped" in log, log[-3000:]
