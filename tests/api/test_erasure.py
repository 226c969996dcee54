"""POST /instances/{id}/erase/: permission-checked, 404 unknown, 409 active without cancel, 400 bad body."""

from __future__ import annotations

import json

import pytest

from durable import erasure
from durable.models import Status, WorkflowInstance
from tests.api.test_schema import body, operation
from tests.test_erasure import EMAIL, MARKER, completed_subject, holding, waiting

pytestmark = pytest.mark.django_db

ERASER = ("durable.view_workflowinstance", "durable.erase_workflowinstance")


def url(instance_id: str, slash: str = "/") -> str:
    return f"/durable/instances/{instance_id}/erase{slash}"


def test_erase__200_with_the_instance_then_idempotent(make_client, drain):
    api = make_client(*ERASER)
    instance_id = completed_subject(drain)
    response = api.post(url(instance_id), {"reason": "GDPR request 17"}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["instance_id"] == instance_id and data["status"] == Status.COMPLETED
    assert data["input"] == data["result"] == erasure.MARKER
    assert data["erase_reason"] == "GDPR request 17" and data["erased_at"]
    assert holding(MARKER) == []
    again = api.post(url(instance_id, ""), {"reason": "again"}, format="json")
    assert again.status_code == 200 and again.json() == data
    detail = api.get(f"/durable/instances/{instance_id}/").json()
    assert detail["erased_at"] == data["erased_at"] and len(detail["history"]) == 5
    assert all(step["result"] == erasure.MARKER for step in detail["history"])
    assert detail["values"] == {"profile": erasure.MARKER}


def test_erase__needs_the_erase_permission(make_client, operator, drain):
    instance_id = completed_subject(drain)
    for api in (make_client("durable.view_workflowinstance"), operator):
        response = api.post(url(instance_id), {}, format="json")
        assert response.status_code == 403
        assert "erase_workflowinstance" in response.json()["error"]
    assert WorkflowInstance.objects.get(pk=instance_id).erase_reason is None


def test_erase__404_unknown_and_409_active_unless_cancel(make_client, drain):
    api = make_client(*ERASER)
    missing = api.post(url("no-such-instance"), {}, format="json")
    assert missing.status_code == 404 and missing.json()["error_type"] == "instance_not_found"
    instance_id = waiting(drain, MARKER)
    refused = api.post(url(instance_id), {"reason": "now"}, format="json")
    assert refused.status_code == 409 and refused.json()["error_type"] == "invalid_transition"
    assert WorkflowInstance.objects.get(pk=instance_id).input == {"args": [MARKER], "kwargs": {}}
    done = api.post(url(instance_id), {"cancel": True}, format="json")
    assert done.status_code == 200 and done.json()["status"] == Status.CANCELLED
    assert holding(MARKER) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"reason": 7},
        {"cancel": "yes"},
        {"reason": "bad\u0000reason"},
        {"reason": "x" * 2001},
        {"unknown": 1},
        ["reason"],
        "text",
    ],
)
def test_erase__a_bad_body_is_400_and_nothing_changes(make_client, drain, payload):
    api = make_client(*ERASER)
    instance_id = completed_subject(drain, email=EMAIL)
    response = api.post(url(instance_id), json.dumps(payload), content_type="application/json")
    assert response.status_code == 400, response.content
    assert set(response.json()) == {"error", "error_type", "retryable"}
    assert WorkflowInstance.objects.get(pk=instance_id).erase_reason is None


def test_erase__a_body_that_is_not_json_is_400(make_client, drain):
    api = make_client(*ERASER)
    instance_id = completed_subject(drain)
    response = api.post(url(instance_id), "{nope", content_type="application/json")
    assert response.status_code == 400 and WorkflowInstance.objects.get(pk=instance_id).erase_reason is None


def test_schema__erase_takes_a_reason_and_cancel_and_answers_the_instance(operator):
    schema = json.loads(operator.get("/durable/schema/").content)
    path = "/instances/{instance_id}/erase/"
    post = operation(schema, "post", path)
    assert post["operationId"] == "erase_instance"
    assert set(post["responses"]) == {"200", "400", "401", "403", "404", "409", "415", "503"}
    request = body(schema, "post", path)
    assert request["properties"]["cancel"] == {
        "type": "boolean",
        "default": False,
        "description": request["properties"]["cancel"]["description"],
    }
    assert request["properties"]["reason"]["maxLength"] == 2000 and request["additionalProperties"] is False
    instance = schema["components"]["schemas"]["Instance"]
    assert {"erased_at", "erase_reason"} <= set(instance["required"])
    assert instance["properties"]["erase_reason"]["type"] == ["string", "null"]
