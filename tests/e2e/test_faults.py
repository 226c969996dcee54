"""Faults around real durable_worker subprocesses: a worker killed by its own activity, and
every database connection dropped in the middle of 200 workflows."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.db import connection

import durable
from durable.models import Status, WorkflowInstance
from tests import fault_workflows as fw
from tests import workflows
from tests.conftest import is_postgres, wait_for
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def test_crash_loop__an_activity_that_kills_its_worker_is_paused_after_the_limit(worker_factory):
    worker_factory(DURABLE_LEASE_SECONDS="1", DURABLE_PAUSE_AFTER_FAILED_RUNS="3")
    handle = durable.start(fw.crash_loop)
    wait_for(lambda: handle.status == Status.PAUSED, timeout=60, what="the crash loop to be paused")
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert "Paused after 3 runs in a row that recorded nothing" in row.status_reason
    assert "the worker running it stopped" in row.status_reason
    attempts = Ledger.objects.filter(instance_id=handle.instance_id).count()
    assert attempts == 3, f"the activity ran {attempts} times"
    print(f"\n[report] crash loop: paused after {attempts} runs that killed their worker (lease 1 s)")


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
