"""Claims and leases: claim, fence, renew, release, wake, and the lock orders."""

from __future__ import annotations

import datetime as dt

import pytest

import durable
from durable import db, leases
from durable.exceptions import LeaseLost, Rewind
from durable.models import HistoryStep, Status, WorkflowInstance
from durable.run import executor
from tests import workflows
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db


def test_lease__a_worker_that_lost_its_lease_records_nothing():
    handle = durable.start(workflows.three_steps, 1)
    [row] = leases.claim("worker-a", 1, 30)
    # An operator or another worker took over meanwhile.
    WorkflowInstance.objects.filter(id=handle.instance_id).update(lease_owner="worker-b")
    executor.run_claimed(row, "worker-a")
    assert not HistoryStep.objects.filter(instance_id=handle.instance_id).exists()
    assert not Ledger.objects.filter(instance_id=handle.instance_id).exists(), "the activity's writes rolled back"


def test_lease__claim_skips_instances_held_by_a_live_lease():
    durable.start(workflows.three_steps, 1)
    assert len(leases.claim("worker-a", 5, 30)) == 1
    assert leases.claim("worker-b", 5, 30) == []
    WorkflowInstance.objects.update(lease_expires_at=db.now() - dt.timedelta(seconds=1))
    assert len(leases.claim("worker-b", 5, 30)) == 1


def test_fence__proves_the_lease_and_applies_changes():
    handle = durable.start(workflows.three_steps, 1)
    [row] = leases.claim("worker-a", 1, 30)
    with db.atomic():
        leases.fence(handle.instance_id, "worker-a", 30, error_streak=2)
    assert WorkflowInstance.objects.get(id=row["id"]).error_streak == 2
    with pytest.raises(LeaseLost), db.atomic():
        leases.fence(handle.instance_id, "worker-b", 30)


def test_fence__a_wake_up_during_the_run_is_a_rewind_not_a_lost_lease():
    handle = durable.start(workflows.three_steps, 1)
    [row] = leases.claim("worker-a", 1, 30)
    leases.wake([handle.instance_id], db.now())
    with pytest.raises(Rewind), db.atomic():
        leases.fence(handle.instance_id, "worker-a", 30, wake_seq=row["wake_seq"])
    assert leases.wake_seq(handle.instance_id) == row["wake_seq"] + 1


def test_renew_and_release__only_touch_the_owners_leases():
    handle = durable.start(workflows.three_steps, 1)
    leases.claim("worker-a", 1, 1)
    assert leases.renew([handle.instance_id], "worker-b", 60) == 0
    assert leases.renew([handle.instance_id], "worker-a", 60) == 1
    assert WorkflowInstance.objects.get(id=handle.instance_id).lease_expires_at > db.now() + dt.timedelta(seconds=50)
    assert leases.release(handle.instance_id, "worker-b") == 0
    assert leases.release(handle.instance_id, "worker-a", run_after=db.now()) == 1
    assert WorkflowInstance.objects.get(id=handle.instance_id).lease_owner is None


def test_wake__never_revives_an_ended_instance(drain):
    handle = durable.start(workflows.three_steps, 1, nap=0.0)
    drain(handle)
    assert leases.wake([handle.instance_id], db.now()) == 0
    assert handle.status == Status.COMPLETED


def test_has_stale_work__sees_only_unheld_due_instances():
    handle = durable.start(workflows.three_steps, 1)
    WorkflowInstance.objects.filter(id=handle.instance_id).update(run_after=db.now() - dt.timedelta(seconds=5))
    assert leases.has_stale_work(db.now() - dt.timedelta(seconds=1))
    leases.claim("worker-a", 1, 30)
    assert not leases.has_stale_work(db.now() - dt.timedelta(seconds=1))
