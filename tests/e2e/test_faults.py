"""Faults around real durable_worker subprocesses: a worker killed by its own activity, and
every database connection dropped in the middle of 200 workflows."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.db import connection

import durable
from durable.models import HistoryStep, Status, WorkflowInstance
from tests import fault_workflows as fw
from tests import workflows
from tests.conftest import is_postgres, wait_for
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def test_crash_loop__an_attempt_that_kills_its_worker_counts_under_the_retry_policy(worker_factory, tmp_path):
    worker_factory(DURABLE_LEASE_SECONDS="1")
    marker = tmp_path / "deaths"
    survives = durable.start(fw.crash_loop, str(marker), survive_on=3)
    assert survives.result(timeout=60) == 3
    step = HistoryStep.objects.get(instance_id=survives.instance_id, position=0)
    assert [f["type"] for f in step.failures] == ["WorkerLost", "WorkerLost"]
    gives_up = durable.start(fw.crash_loop, str(tmp_path / "more-deaths"))
    assert gives_up.result(timeout=60) == {"gave_up": "WorkerLost", "attempts": 3}
    print("\n[report] crash loop: 2 deaths then success; 3 deaths then ActivityError(WorkerLost) (lease 1 s)")


def test_crash_loop__a_transactional_attempt_that_kills_its_worker_counts_too(worker_factory, tmp_path):
    worker_factory(DURABLE_LEASE_SECONDS="1")
    marker = tmp_path / "deaths"
    handle = durable.start(fw.crash_loop, str(marker), transactional=True)
    assert handle.result(timeout=90) == {"gave_up": "WorkerLost", "attempts": 2}
    assert not Ledger.objects.filter(instance_id=handle.instance_id).exists(), "each death rolled its writes back"
    attempts = [line.split()[0] for line in marker.read_text().splitlines()]
    # Without a record of the attempt, a death is found by the next run that records nothing either;
    # that run marks the attempt before running it, so its death counts.
    assert attempts == ["1", "1", "2", "2"], attempts


def test_crash_loop__workflow_code_that_kills_its_worker_is_paused_after_the_limit(worker_factory, tmp_path):
    worker_factory(DURABLE_LEASE_SECONDS="1", DURABLE_PAUSE_AFTER_FAILED_RUNS="3")
    marker = tmp_path / "deaths"
    handle = durable.start(fw.crashes_in_workflow_code, str(marker))
    wait_for(lambda: handle.status == Status.PAUSED, timeout=60, what="the crash loop to be paused")
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert "Paused after 3 runs in a row that recorded nothing" in row.status_reason
    assert "the worker running it stopped" in row.status_reason
    assert len(marker.read_text().splitlines()) == 3


@pytest.mark.postgres
def test_connections_dropped__200_workflows_all_complete_and_nothing_runs_twice(worker_factory):
    if not is_postgres():
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    worker_factory(DURABLE_LEASE_SECONDS="3")
    handles = [durable.start(workflows.ledger_three, 0.01) for _ in range(200)]

    def completed() -> int:
        ids = [h.instance_id for h in handles]
        return WorkflowInstance.objects.filter(id__in=ids, status=Status.COMPLETED).count()

    wait_for(lambda: completed() >= 20, timeout=60, what="the first workflows to complete")
    before, terminated = completed(), 0
    for _ in range(3):  # three outages while the rest run
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            terminated += cursor.fetchone()[0]
        time.sleep(0.3)
    started = time.monotonic()
    wait_for(lambda: completed() == len(handles), timeout=180, what=f"all to complete, now {completed()}")
    statuses = Counter(
        WorkflowInstance.objects.filter(id__in=[h.instance_id for h in handles]).values_list("status", flat=True)
    )
    assert statuses == {Status.COMPLETED: 200}, statuses
    for handle in handles:
        steps = sorted(Ledger.objects.filter(instance_id=handle.instance_id).values_list("step", flat=True))
        assert steps == ["step0", "step1", "step2"], f"{handle.instance_id}: {steps}"
    print(
        f"\n[report] {terminated} connections terminated in 3 rounds from {before}/200 completed; the rest completed "
        f"{time.monotonic() - started:.1f} s later, every activity once"
    )
