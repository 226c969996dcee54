"""The API says where an instance's code version came from, what it is doing now and what its waits are called."""

from __future__ import annotations

import pytest

import durable
from durable.models import Status, WorkflowInstance
from tests import version_workflows as vw

pytestmark = pytest.mark.django_db


def test_start__records_the_code_version_and_the_list_filters_by_it(operator, settings):
    settings.DURABLE_CODE_VERSION = "v1"
    first = operator.post("/durable/workflows/versiontest.quick/start/", {"instance_id": "one"}, format="json")
    assert first.status_code == 201, first.json()
    assert first.json()["code_version"] == "v1"
    settings.DURABLE_CODE_VERSION = "v2"
    operator.post("/durable/workflows/versiontest.quick/start/", {"instance_id": "two"}, format="json")
    assert [r["instance_id"] for r in operator.get("/durable/instances/?code_version=v1").json()["results"]] == ["one"]
    assert [r["instance_id"] for r in operator.get("/durable/instances/?code_version=v2").json()["results"]] == ["two"]
    assert operator.get("/durable/instances/?code_version=v9").json()["results"] == []
    # Empty is no filter, as for the other filters.
    assert len(operator.get("/durable/instances/?code_version=").json()["results"]) == 2


def test_list__a_code_version_filter_too_long_is_a_400(operator):
    response = operator.get("/durable/instances/", {"code_version": "v" * 201})
    assert response.status_code == 400
    assert "code_version must be at most 200 characters" in response.json()["error"]


def test_bulk__code_version_is_one_of_the_list_filters(make_client, settings, drain):
    vw.start_progress(drain, settings, ("old", "o-1", "v1"), ("new", "o-2", "v2"))
    api = make_client("durable.view_workflowinstance", "durable.cancel_workflowinstance")
    response = api.post("/durable/instances/bulk/cancel/", {"code_version": "v1", "reason": "old code"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["filters"] == {"code_version": "v1"}
    statuses = dict(WorkflowInstance.objects.values_list("id", "status"))
    assert statuses == {"old": Status.CANCELLED, "new": Status.WAITING_FOR_EVENT}


def test_detail__shows_details_and_the_labels_of_the_wait_and_its_timer(operator, drain, settings):
    vw.start_progress(drain, settings, ("p-1", "o-1", "2026.12.1"))
    body = operator.get("/durable/instances/p-1/").json()
    assert body["details"] == "order o-1: waiting for the manager"
    assert body["code_version"] == "2026.12.1"
    assert body["waiting_for"]["label"] == "manager approval"
    assert [w["label"] for w in body["waits"]] == ["manager approval"]
    assert [(t["purpose"], t["label"]) for t in body["timers"]] == [("timeout", "manager approval")]
    row = operator.get("/durable/instances/").json()["results"][0]
    assert (row["details"], row["waiting_for"]["label"]) == ("order o-1: waiting for the manager", "manager approval")
    durable.send_event("versiontest.approved", "/tests", {"order": "o-1"})
    drain(lambda: WorkflowInstance.objects.get(id="p-1").status == Status.WAITING_FOR_TIMER)
    body = operator.get("/durable/instances/p-1/").json()
    assert body["details"] == "shipping soon"
    assert body["waiting_for"]["label"] == "cooling-off period"
    assert [(t["purpose"], t["label"]) for t in body["timers"]] == [("sleep", "cooling-off period")]


def test_schema__publishes_the_new_fields_and_the_filter(operator):
    schema = operator.get("/durable/schema/", HTTP_ACCEPT="application/json").json()
    instance = schema["components"]["schemas"]["Instance"]["properties"]
    assert {"code_version", "details"} <= set(instance)
    parameters = schema["paths"]["/durable/instances/"]["get"]["parameters"]
    assert "code_version" in [p["name"] for p in parameters]
