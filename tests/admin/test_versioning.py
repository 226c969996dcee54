"""The viewer shows DURABLE_CODE_VERSION (and filters by it), ctx.set_details and wait labels."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry

import durable
from durable.models import BulkOperation, Status, WorkflowInstance
from tests import version_workflows as vw
from tests.admin.test_instances import LIST, page, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def approving(drain, settings) -> str:
    """An instance started by code version 2026.12.1, waiting for its manager's approval."""
    vw.start_progress(drain, settings, ("approve-1", "o-1", "2026.12.1"))
    return "approve-1"


def test_list__row_shows_the_details_the_label_and_the_code_version(viewer_client, approving):
    shown = text(viewer_client.get(LIST))
    assert re.search(
        r"approve-1 versiontest\.progress 2026\.12\.1 — Waiting for event manager approval: versiontest\.approved "
        r"where order=o-1, times out in 59m \d+s order o-1: waiting for the manager",
        shown,
    ), shown


def test_page__shows_details_code_version_and_labels_of_the_wait_and_its_timer(viewer_client, approving):
    response = viewer_client.get(page(approving))
    body = response.content.decode()
    assert '<dd class="durable-details"' in body
    shown = text(response)
    assert "details order o-1: waiting for the manager" in shown
    assert "code version 2026.12.1 (DURABLE_CODE_VERSION where it started)" in shown
    assert "waiting for manager approval: versiontest.approved where order=o-1" in shown
    assert re.search(r"versiontest\.approved manager approval order=o-1 — .* \(in 59m \d+s\)", shown)
    assert "Wait timeout versiontest.approved manager approval" in shown


def test_page__a_sleep_label_names_the_timer(viewer_client, approving, drain):
    durable.send_event("versiontest.approved", "/tests", {"order": "o-1"})
    drain(lambda: WorkflowInstance.objects.get(id=approving).status == Status.WAITING_FOR_TIMER)
    shown = text(viewer_client.get(page(approving)))
    assert re.search(r"waiting for cooling-off period: timer due in 59m", shown)
    assert "details shipping soon" in shown
    assert "Sleep sleep cooling-off period" in shown


def test_page__without_a_version_or_details_says_neither(viewer_client, drain):
    drain(durable.start(vw.quick, instance_id="plain"))
    body = viewer_client.get(page("plain")).content.decode()
    assert "durable-code-version" not in body and "durable-details" not in body and "code version" not in body


def test_list__the_code_version_filter_offers_known_versions_and_selects_by_one(viewer_client, settings):
    settings.DURABLE_CODE_VERSION = "v1"
    durable.start(vw.quick, instance_id="from-v1")
    settings.DURABLE_CODE_VERSION = "v2"
    durable.start(vw.quick, instance_id="from-v2")
    settings.DURABLE_CODE_VERSION = "v3"  # deployed, nothing started yet: offered all the same
    everything = viewer_client.get(LIST).content.decode()
    for version in ("v1", "v2", "v3"):
        assert f'href="?code_version={version}"' in everything
    shown = text(viewer_client.get(f"{LIST}?code_version=v1"))
    assert "from-v1" in shown and "from-v2" not in shown
    assert "from-v2" in text(viewer_client.get(f"{LIST}?code_version=v2"))


def test_list__cancel_all_matching_a_code_version_is_a_bulk_operation_over_it(admin_client, settings, drain):
    vw.start_progress(drain, settings, ("old-1", "o-1", "v1"), ("new-1", "o-2", "v2"))
    url = f"{LIST}?code_version=v1"
    form = {"action": "cancel_selected", "select_across": "1", "index": "0", "_selected_action": ["old-1"]}
    response = admin_client.post(url, {**form, "post": "yes"})
    assert response.status_code == 302
    job = BulkOperation.objects.get()
    assert job.filters == {"code_version": "v1"} and (job.total, job.done) == (1, 1)
    assert WorkflowInstance.objects.get(id="old-1").status == Status.CANCELLED
    assert WorkflowInstance.objects.get(id="new-1").status == Status.WAITING_FOR_EVENT
    assert LogEntry.objects.filter(object_id="old-1").exists()
