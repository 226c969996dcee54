"""A bulk cancel of 5,000 waiting instances over HTTP, run in the background by a real durable_worker."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from durable import bulk
from durable.models import BulkOperation, BulkStatus, Status, WorkflowInstance
from durable.worker import tasks
from tests import bulk_workflows as bw
from tests.conftest import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

COUNT = 5000


def client_with(*codenames: str) -> APIClient:
    user = User.objects.create_user(f"bulk-{User.objects.count()}")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="durable", codename__in=codenames))
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_bulk_cancel__5000_waiting_by_filter_in_the_background_each_once(worker_factory):
    # Short task slices: the job hands over from task to task several times on the way.
    worker_factory(DURABLE_DRAIN_SECONDS="5")
    ids = bw.start_parked(COUNT)
    parked = WorkflowInstance.objects.filter(workflow_name="bulk.parked", status=Status.WAITING_FOR_EVENT)
    wait_for(lambda: parked.count() == COUNT, timeout=600, what="5,000 instances parked by the worker")

    refused = client_with("view_workflowinstance", "pause_workflowinstance").post(
        "/durable/instances/bulk/cancel/", {"workflow": "bulk.parked"}, format="json"
    )
    assert refused.status_code == 403
    assert parked.count() == COUNT

    api = client_with("view_workflowinstance", "cancel_workflowinstance")
    response = api.post(
        "/durable/instances/bulk/cancel/", {"workflow": "bulk.parked", "status": "waiting_for_event"}, format="json"
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    started = time.monotonic()
    seen: list[int] = []

    def finished() -> bool:
        progress = api.get(f"/durable/instances/bulk/{job_id}/").json()
        seen.append(progress["done"])
        return progress["status"] == BulkStatus.DONE

    wait_for(finished, timeout=600, interval=0.5, what="the bulk cancel to finish")
    took = time.monotonic() - started
    job = BulkOperation.objects.get(pk=job_id)
    assert (job.total, job.done, job.skipped, job.failed) == (COUNT, COUNT, 0, 0)
    # Progress was visible on the way, not only at the end.
    assert any(0 < done < COUNT for done in seen), seen[:20]
    assert seen == sorted(seen)
    assert set(WorkflowInstance.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.CANCELLED}
    # Each instance cancelled once: one "cancelled" incident, one admin log entry.
    incidents = Counter(
        sum(1 for entry in row if entry["kind"] == "cancelled")
        for row in WorkflowInstance.objects.filter(pk__in=ids).values_list("incidents", flat=True)
    )
    assert incidents == {1: COUNT}
    assert Counter(Counter(LogEntry.objects.values_list("object_id", flat=True)).values()) == {1: COUNT}
    print(f"bulk cancel of {COUNT} in the background took {took:.1f} s")


def test_bulk__a_job_whose_worker_died_is_enqueued_again_by_the_sweep_and_finished_once(worker, settings):
    settings.DURABLE_BULK_INLINE_LIMIT = 100
    ids = bw.start_parked(300, "dead")
    parked = WorkflowInstance.objects.filter(pk__in=ids, status=Status.WAITING_FOR_EVENT)
    wait_for(lambda: parked.count() == 300, timeout=300, what="300 instances parked by the worker")
    job = bulk.request("pause", {"workflow": "bulk.parked"})
    assert job.background
    # A worker that ran two batches and died: its lease runs out, nobody holds the job.
    half = bulk.run(job.pk, max_batches=2)
    assert (half.status, half.done) == (BulkStatus.RUNNING, 100)
    BulkOperation.objects.filter(pk=job.pk).update(lease_expires_at=half.updated_at - dt.timedelta(seconds=1))
    assert tasks.sweep()["bulk_requeued"] == 1

    def finished() -> BulkOperation | None:
        row = BulkOperation.objects.get(pk=job.pk)
        return row if row.status == BulkStatus.DONE else None

    done = wait_for(finished, timeout=300, interval=0.5, what="the real worker to finish the job")
    assert (done.total, done.done, done.skipped, done.failed) == (300, 300, 0, 0)
    counts = Counter(
        sum(1 for entry in row if entry["kind"] == "paused")
        for row in WorkflowInstance.objects.filter(pk__in=ids).values_list("incidents", flat=True)
    )
    assert counts == {1: 300}
