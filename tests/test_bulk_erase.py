"""Erase as a bulk operation: over HTTP, from durable_erase's selectors and from the admin's "all N matching"."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from rest_framework.test import APIClient

from durable import erasure
from durable.models import BulkOperation, Status, WorkflowInstance
from tests import bulk_workflows as bw

pytestmark = pytest.mark.django_db

BULK = "/durable/instances/bulk"


@pytest.fixture
def ended(drain):
    """Five parked instances, four of them cancelled (ended) and one still waiting."""
    ids = bw.start_parked(5, prefix="e")
    drain(lambda: not WorkflowInstance.objects.exclude(status=Status.WAITING_FOR_EVENT).exists())
    for pk in ids[1:]:
        call_command("durable_cancel", pk, stdout=StringIO())
    return ids


def user_with(*codenames: str) -> User:
    user = User.objects.create_user(f"u{User.objects.count()}", password="pw", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="durable", codename=codename))
    return user


def erased(ids) -> list[str]:
    return sorted(WorkflowInstance.objects.filter(pk__in=ids, erased_at__isnull=False).values_list("pk", flat=True))


def test_bulk_erase__over_http_erases_the_ended_skips_the_active_and_needs_the_erase_permission(ended):
    api = APIClient()
    api.force_authenticate(user_with("view_workflowinstance", "cancel_workflowinstance"))
    refused = api.post(f"{BULK}/erase/", {"workflow": "bulk.parked", "reason": "GDPR"}, format="json")
    assert refused.status_code == 403 and erased(ended) == []

    api.force_authenticate(user_with("view_workflowinstance", "erase_workflowinstance"))
    response = api.post(f"{BULK}/erase/", {"workflow": "bulk.parked", "reason": "GDPR"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["total"], body["done"], body["skipped"], body["failed"]) == (5, 4, 1, 0)
    assert erased(ended) == sorted(ended[1:])
    assert WorkflowInstance.objects.get(pk=ended[1]).input == erasure.MARKER
    again = api.post(f"{BULK}/erase/", {"workflow": "bulk.parked"}, format="json").json()
    assert (again["done"], again["skipped"]) == (0, 5)  # erased already, or active


def test_bulk_erase__durable_erase_selectors_show_progress_and_a_count(ended):
    out = StringIO()
    call_command("durable_erase", "--status", "cancelled", "--reason", "retention policy", stdout=out)
    assert erased(ended) == sorted(ended[1:])
    assert "4" in out.getvalue()
    assert BulkOperation.objects.get().operation == "erase"
    with pytest.raises(Exception, match="no ID and no --cancel"):
        call_command("durable_erase", ended[0], "--status", "cancelled", stdout=StringIO())


def test_bulk_erase__admin_all_matching_confirms_with_n_then_erases_and_logs_each(ended, client):
    client.force_login(user_with("view_workflowinstance", "erase_workflowinstance"))
    url = "/admin/durable/workflowinstance/?status__exact=cancelled"
    ticked = ended[1:3]
    form = {"action": "erase_selected", "select_across": "1", "index": "0", "_selected_action": ticked}
    asked = client.post(url, form)
    assert asked.status_code == 200 and "all 4 matching instances?" in asked.content.decode()
    assert erased(ended) == []
    done = client.post(url, {**form, "post": "yes", "reason": "GDPR"})
    assert done.status_code == 302
    assert erased(ended) == sorted(ended[1:])
    assert LogEntry.objects.filter(object_id__in=ended[1:], change_message__icontains="erase").count() >= 4
