"""POST /instances/bulk/{operation}/ and GET /instances/bulk/{id}/: the list's filters, per-operation permissions."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from durable.models import BulkOperation, Status, WorkflowInstance
from tests import bulk_workflows as bw

pytestmark = pytest.mark.django_db

BULK = "/durable/instances/bulk"


@pytest.fixture
def parked(drain):
    ids = bw.start_parked(6)
    drain(lambda: not WorkflowInstance.objects.exclude(status=Status.WAITING_FOR_EVENT).exists())
    return ids


def statuses(ids) -> set[str]:
    return set(WorkflowInstance.objects.filter(pk__in=ids).values_list("status", flat=True))


def test_bulk_cancel__inline_answers_200_with_the_counts_and_logs_each(operator, parked):
    WorkflowInstance.objects.filter(pk=parked[0]).update(status=Status.CANCELLED)
    response = operator.post(f"{BULK}/cancel/", {"workflow": "bulk.parked", "reason": "tidy"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["total"], body["done"], body["skipped"], body["failed"]) == (6, 5, 1, 0)
    assert (body["status"], body["background"], body["operation"]) == ("done", False, "cancel")
    assert statuses(parked) == {Status.CANCELLED}
    assert LogEntry.objects.filter(object_id__in=parked).count() == 5
    assert WorkflowInstance.objects.get(pk=parked[1]).status_reason == "tidy"


def test_bulk__filters_in_the_query_string_too(operator, parked):
    response = operator.post(f"{BULK}/pause?status=waiting_for_event&workflow=bulk.parked")
    assert response.status_code == 200, response.content
    assert response.json()["done"] == 6
    assert statuses(parked) == {Status.PAUSED}
    resumed = operator.post(f"{BULK}/resume/", {"status": "paused"}, format="json")
    assert resumed.json()["done"] == 6


def test_bulk__above_the_inline_limit_answers_202_and_the_progress_is_readable(operator, parked, settings):
    settings.DURABLE_BULK_INLINE_LIMIT = 5
    response = operator.post(f"{BULK}/cancel/", {"status": "waiting_for_event"}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert (job["background"], job["status"], job["total"], job["done"]) == (True, "queued", 6, 0)
    assert response["Location"].endswith(f"{BULK}/{job['id']}/")
    progress = operator.get(f"{BULK}/{job['id']}/")
    assert progress.status_code == 200 and progress.json()["total"] == 6
    assert statuses(parked) == {Status.WAITING_FOR_EVENT}  # the worker runs it (tests/e2e/test_bulk.py)


def test_bulk__without_the_operations_permission_is_403_and_changes_nothing(make_client, parked):
    may_pause = make_client("durable.view_workflowinstance", "durable.pause_workflowinstance")
    response = may_pause.post(f"{BULK}/cancel/", {"workflow": "bulk.parked"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "You need the durable.cancel_workflowinstance permission."
    assert statuses(parked) == {Status.WAITING_FOR_EVENT}
    assert may_pause.post(f"{BULK}/pause/", {"workflow": "bulk.parked"}, format="json").status_code == 200
    assert not BulkOperation.objects.filter(operation="cancel").exists()


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        ("cancel", {}, "needs a filter"),
        ("cancel", {"reason": "no filter"}, "needs a filter"),
        ("cancel", {"colour": "red"}, "Unknown filter 'colour'"),
        ("cancel", {"limit": 5}, "Unknown filter 'limit'"),
        ("cancel", {"status": "asleep"}, "status must be one"),
        ("cancel", {"all": "maybe"}, "all must be true or false"),
        # A null filter beside a real one is refused, as the schema says, not read as absent.
        ("cancel", {"status": None, "workflow": "bulk.parked"}, "status is null"),
        ("explode", {"status": "paused"}, "no bulk operation 'explode'"),
    ],
)
def test_bulk__bad_requests_are_400_and_nothing_changes(operator, parked, path, body, said):
    response = operator.post(f"{BULK}/{path}/", body, format="json")
    assert response.status_code == 400, response.content
    assert said in response.json()["error"]
    assert set(response.json()) == {"error", "error_type", "retryable"}
    assert statuses(parked) == {Status.WAITING_FOR_EVENT}
    assert not BulkOperation.objects.exists()


def test_bulk__all_true_selects_every_instance(operator, parked):
    response = operator.post(f"{BULK}/pause/", {"all": True}, format="json")
    assert response.status_code == 200 and response.json()["done"] == 6


def test_bulk__unknown_job_is_404(operator):
    assert operator.get(f"{BULK}/999/").status_code == 404
    assert operator.get(f"{BULK}/99999999999999999999999/").status_code == 404


def test_bulk__anonymous_is_refused(parked):
    from rest_framework.test import APIClient

    assert APIClient().post(f"{BULK}/cancel/", {"all": True}, format="json").status_code in (401, 403)
    assert statuses(parked) == {Status.WAITING_FOR_EVENT}
