"""durable.bulk: the list's filters select, each instance changes once in short batches, refusals are skipped."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User

import durable
from durable import bulk
from durable.exceptions import InvalidArgument
from durable.models import BulkOperation, BulkStatus, Status, WorkflowInstance
from tests import bulk_workflows as bw

pytestmark = pytest.mark.django_db


def parked(drain, count: int, prefix: str = "p") -> list[str]:
    ids = bw.start_parked(count, prefix)
    waiting = WorkflowInstance.objects.filter(pk__startswith=f"{prefix}-").exclude(status=Status.WAITING_FOR_EVENT)
    drain(lambda: not waiting.exists(), timeout=300)
    return ids


def incidents(instance_id: str, kind: str) -> int:
    row = WorkflowInstance.objects.get(pk=instance_id)
    return sum(1 for entry in row.incidents if entry["kind"] == kind)


@pytest.mark.slow  # parking 5,000 instances in-process takes 30 s on SQLite, nearly 3 minutes on PostgreSQL
def test_bulk_cancel__5000_waiting_by_filter_each_cancelled_once_with_progress(drain, settings):
    started = time.monotonic()
    ids = parked(drain, 5000)
    bystander = durable.start(bw.fails, instance_id="other-workflow")
    drain(bystander)
    parked_in = time.monotonic() - started
    user = User.objects.create_user("bulk-operator")

    job = bulk.request(
        "cancel", {"workflow": "bulk.parked", "status": "waiting_for_event"}, reason="end of campaign", user_id=user.pk
    )
    assert (job.total, job.background) == (5000, True)
    seen: list[int] = []
    done = bulk.run(job.pk, progress=lambda now: seen.append(now.handled))

    assert (done.status, done.done, done.skipped, done.failed) == (BulkStatus.DONE, 5000, 0, 0)
    assert seen == list(range(50, 5001, 50))  # one step per batch of DURABLE_BULK_BATCH_SIZE
    assert set(WorkflowInstance.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.CANCELLED}
    assert WorkflowInstance.objects.get(pk="other-workflow").status == Status.FAILED
    # Each one cancelled once: one incident each, one admin log entry each.
    assert {incidents(pk, "cancelled") for pk in ids[::97]} == {1}
    logged = LogEntry.objects.filter(user=user)
    assert logged.count() == 5000
    assert set(logged.values_list("object_id", flat=True)) == set(ids)
    assert set(logged.values_list("change_message", flat=True)) == {
        f"Cancelled by bulk operation #{job.pk}: end of campaign"
    }
    assert WorkflowInstance.objects.get(pk=ids[0]).status_reason == "end of campaign"
    print(f"parked 5000 in {parked_in:.1f}s")  # shown with -s


def test_bulk__a_second_run_changes_nothing_again(drain):
    ids = parked(drain, 30)
    job = bulk.request("pause", {"workflow": "bulk.parked"})
    assert bulk.run(job.pk).done == 30
    again = bulk.run(job.pk)
    assert (again.done, again.skipped) == (30, 0)
    assert {incidents(pk, "paused") for pk in ids} == {1}


def test_bulk__a_worker_that_died_mid_run_is_taken_over_without_changing_any_instance_twice(drain, settings):
    settings.DURABLE_BULK_BATCH_SIZE = 10
    settings.DURABLE_BULK_INLINE_LIMIT = 20
    ids = parked(drain, 45)
    job = bulk.request("cancel", {"workflow": "bulk.parked"})
    assert job.background
    half = bulk.run(job.pk, max_batches=2)
    assert (half.status, half.done) == (BulkStatus.RUNNING, 20)
    # Still held by the "dead" worker: nobody else takes it until its lease lapses.
    assert bulk.run(job.pk).done == 20
    assert bulk.stale() == []
    BulkOperation.objects.filter(pk=job.pk).update(lease_expires_at=half.updated_at - dt.timedelta(seconds=1))
    assert bulk.stale() == [job.pk]
    finished = bulk.run(job.pk)
    assert (finished.status, finished.done, finished.skipped, finished.failed) == (BulkStatus.DONE, 45, 0, 0)
    assert {incidents(pk, "cancelled") for pk in ids} == {1}


def test_bulk__instances_whose_status_refuses_are_skipped_and_the_run_goes_on(drain):
    ids = parked(drain, 5)
    failing = [durable.start(bw.fails, instance_id=f"f-{n}") for n in range(3)]
    drain(lambda: all(h.status == Status.FAILED for h in failing))
    durable.cancel(ids[2])
    job = bulk.run(bulk.request("cancel", {"status": ["waiting_for_event", "failed", "cancelled"]}).pk)
    assert (job.total, job.done, job.skipped, job.failed) == (8, 4, 4, 0)
    assert WorkflowInstance.objects.filter(pk__startswith="f-", status=Status.FAILED).count() == 3
    retried = bulk.run(bulk.request("retry", {"workflow": "bulk.fails"}).pk)
    assert (retried.done, retried.skipped) == (3, 0)
    assert incidents("f-0", "retried") == 1


def test_bulk__the_selection_is_frozen_when_requested(drain):
    parked(drain, 4, "early")
    job = bulk.request("pause", {"workflow": "bulk.parked"})
    late = parked(drain, 3, "late")
    done = bulk.run(job.pk)
    assert (done.total, done.done) == (4, 4)
    assert set(WorkflowInstance.objects.filter(pk__in=late).values_list("status", flat=True)) == {
        Status.WAITING_FOR_EVENT
    }


def test_bulk__an_instance_that_left_the_filter_before_its_turn_counts_as_skipped(drain):
    ids = parked(drain, 4)
    job = bulk.request("pause", {"status": "waiting_for_event"})
    durable.cancel(ids[0])
    done = bulk.run(job.pk)
    assert (done.total, done.done, done.skipped) == (4, 3, 1)


@pytest.mark.parametrize(
    ("filters", "everything", "said"),
    [
        ({}, False, "needs a filter"),
        ({"status": ""}, False, "needs a filter"),
        ({"colour": "red"}, False, "Unknown filter 'colour'"),
        ({"status": "asleep"}, False, "status must be one"),
        ({"created_after": "yesterday"}, False, "created_after must be an ISO 8601"),
        ({"workflow": "a\x00b"}, False, "workflow must be"),
        ({"ids": "p-1"}, False, "ids must be a list"),
        ({"colour": "red"}, True, "Unknown filter 'colour'"),
    ],
)
def test_bulk__bad_requests_are_refused_and_nothing_is_recorded(filters, everything, said):
    with pytest.raises(InvalidArgument, match=said):
        bulk.request("cancel", filters, everything=everything)
    assert not BulkOperation.objects.exists()


def test_bulk__an_unknown_operation_is_refused():
    with pytest.raises(InvalidArgument, match="no bulk operation 'explode'; use one of cancel, pause, resume, retry"):
        bulk.request("explode", {"status": "paused"})


def test_bulk__all_selects_every_instance(drain):
    parked(drain, 3)
    job = bulk.run(bulk.request("pause", {}, everything=True).pk)
    assert (job.total, job.done, job.filters) == (3, 3, {"all": True})


def test_bulk__business_key_and_created_range_filter_like_the_list(drain):
    bw.start_parked(2, "k", business_key="customer:7")
    parked(drain, 2, "other")
    drain(lambda: not WorkflowInstance.objects.exclude(status=Status.WAITING_FOR_EVENT).exists())
    job = bulk.run(bulk.request("cancel", {"business_key": "customer:7"}).pk)
    assert (job.total, job.done) == (2, 2)
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert bulk.request("cancel", {"created_after": future}).total == 0


def test_bulk__a_run_out_of_time_lets_go_of_its_claim_for_the_next_task(drain):
    parked(drain, 12)
    job = bulk.request("pause", {"workflow": "bulk.parked"})
    stopped = bulk.run(job.pk, max_seconds=0)
    assert (stopped.status, stopped.done, stopped.lease_expires_at) == (BulkStatus.RUNNING, 0, None)
    assert bulk.run(job.pk).done == 12
