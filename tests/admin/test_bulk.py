"""'All N matching' from the instance list: a confirmation that says N, then inline or in the background; the
BulkOperation page."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.messages import get_messages

from durable import bulk
from durable.models import BulkOperation, BulkStatus, Status, WorkflowInstance
from tests import bulk_workflows as bw
from tests.admin.conftest import VIEWS, staff

pytestmark = pytest.mark.django_db

LIST = "/admin/durable/workflowinstance/"
MATCHING = f"{LIST}?status__exact=waiting_for_event&workflow=bulk.parked"


@pytest.fixture
def parked(drain):
    ids = bw.start_parked(7)
    drain(lambda: not WorkflowInstance.objects.exclude(status=Status.WAITING_FOR_EVENT).exists())
    return ids


def across(client, action: str, url: str = MATCHING, **more):
    # As the list's "Select all N" sends it: the rows of the page ticked, and select_across.
    ticked = list(WorkflowInstance.objects.values_list("pk", flat=True)[:2])
    return client.post(url, {"action": action, "select_across": "1", "index": "0", "_selected_action": ticked, **more})


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def statuses(ids) -> set[str]:
    return set(WorkflowInstance.objects.filter(pk__in=ids).values_list("status", flat=True))


def test_all_matching__asks_first_and_says_how_many(operator_client, parked):
    WorkflowInstance.objects.filter(pk=parked[0]).update(status=Status.PAUSED)  # no longer matches the filter
    response = across(operator_client, "cancel_selected")
    assert response.status_code == 200, messages_of(response)
    page = response.content.decode()
    assert "Cancel all 6 matching instances?" in page
    assert "Yes, cancel all 6" in page
    assert statuses(parked[1:]) == {Status.WAITING_FOR_EVENT}
    assert not BulkOperation.objects.exists()
    assert page.count('name="_selected_action"') == 2


def test_all_matching__confirmed_applies_inline_and_logs_each(operator_client, parked):
    response = across(operator_client, "cancel_selected", post="yes", reason="campaign over")
    assert response.status_code == 302
    job = BulkOperation.objects.get()
    assert (job.operation, job.status, job.total, job.done, job.background) == ("cancel", "done", 7, 7, False)
    assert job.filters == {"status": ["waiting_for_event"], "workflow": "bulk.parked"}
    assert messages_of(response) == [f"Cancelled 7 of 7 matching instances; 0 skipped (bulk operation #{job.pk})."]
    assert statuses(parked) == {Status.CANCELLED}
    entries = LogEntry.objects.filter(action_flag=CHANGE, object_id__in=parked)
    assert entries.count() == 7
    assert set(entries.values_list("change_message", flat=True)) == {
        f"Cancelled by bulk operation #{job.pk}: campaign over"
    }


def test_all_matching__above_the_limit_goes_to_the_background_with_a_link(operator_client, parked, settings):
    settings.DURABLE_BULK_INLINE_LIMIT = 5
    asked = across(operator_client, "pause_selected")
    assert "Pause all 7 matching instances?" in asked.content.decode()
    assert "runs in the background" in asked.content.decode()
    response = across(operator_client, "pause_selected", post="yes")
    job = BulkOperation.objects.get()
    assert (job.background, job.status, job.total) == (True, BulkStatus.QUEUED, 7)
    said = messages_of(response)[0]
    assert "Pause all 7 matching instances in the background" in said
    assert f"/admin/durable/bulkoperation/{job.pk}/change/" in said
    assert statuses(parked) == {Status.WAITING_FOR_EVENT}  # the worker does it: tests/e2e/test_bulk.py
    bulk.run(job.pk)  # as the worker's task would
    page = operator_client.get(f"/admin/durable/bulkoperation/{job.pk}/change/")
    assert page.status_code == 200
    assert "7/7 (100%): 7 done, 0 skipped, 0 failed" in page.content.decode()
    listing = operator_client.get("/admin/durable/bulkoperation/")
    assert "7/7 (100%)" in listing.content.decode()


def test_all_matching__with_a_search_uses_the_same_search(operator_client, parked):
    across(operator_client, "pause_selected", url=f"{LIST}?q={parked[3]}", post="yes")
    assert WorkflowInstance.objects.get(pk=parked[3]).status == Status.PAUSED
    assert statuses(set(parked) - {parked[3]}) == {Status.WAITING_FOR_EVENT}


def test_all_matching__without_the_cancel_permission_is_refused(client, parked):
    client.force_login(staff("pauser", (*VIEWS, "pause_workflowinstance")))
    response = across(client, "cancel_selected", post="yes")
    assert response.status_code == 302
    assert messages_of(response) == ["No action selected."]  # the action is not offered to this user
    assert statuses(parked) == {Status.WAITING_FOR_EVENT}
    assert not BulkOperation.objects.exists()
    assert across(client, "pause_selected", post="yes").status_code == 302
    assert statuses(parked) == {Status.PAUSED}


def test_the_page_of_a_bulk_operation_shows_to_who_may_view_instances(viewer_client, client, parked):
    job = bulk.request("pause", {"workflow": "bulk.parked"})
    page = f"/admin/durable/bulkoperation/{job.pk}/change/"
    shown = viewer_client.get(page).content.decode()
    assert "0/7 (0%): 0 done" in shown
    assert "refreshes every 3 s until the operation is done" in shown
    bulk.run(job.pk)
    assert "refreshes every" not in viewer_client.get(page).content.decode()
    client.force_login(staff("outsider", ("view_event",)))
    assert client.get(page).status_code == 403
