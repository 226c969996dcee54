"""The CloudEvents receiver through DRF's test client: modes, dedupe, auth, errors."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

import durable
from durable.models import Event, Status
from tests import event_workflows as ew

pytestmark = pytest.mark.django_db

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def event(**overrides) -> dict:
    body = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/payments",
        "type": "payment.completed",
        "data": {"order_id": "o-1", "payment_id": "P-1", "amount": 3.0},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def post(api: APIClient, body, content_type: str = STRUCTURED, path: str = "/durable/", **headers):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.generic("POST", path, raw, content_type=content_type, **headers)


@pytest.fixture
def waiting(drain):
    handle = durable.start(ew.payment_with_timeout, "o-1", timeout=60)
    drain()
    return handle


def test_receiver__structured_event_resumes_the_waiting_workflow(token_client, waiting, drain):
    response = post(token_client, event())
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1, "duplicates": 0, "resumed": [waiting.instance_id], "started": []}
    drain(waiting)
    assert waiting.result()["payment_id"] == "P-1"


def test_receiver__binary_event_resumes_the_waiting_workflow(token_client, waiting, drain):
    response = token_client.generic(
        "POST",
        "/durable/",
        json.dumps({"order_id": "o-1", "payment_id": "P-2", "amount": 1}).encode(),
        content_type="application/json",
        HTTP_CE_SPECVERSION="1.0",
        HTTP_CE_ID="b-1",
        HTTP_CE_SOURCE="%2Fpay%20ments",
        HTTP_CE_TYPE="payment.completed",
        HTTP_CE_TRACEID="abc1",
    )
    assert response.status_code == 202, response.content
    assert response.json()["resumed"] == [waiting.instance_id]
    stored = Event.objects.get(event_id="b-1")
    assert stored.source == "/pay ments" and stored.extensions == {"traceid": "abc1"}
    drain(waiting)
    assert waiting.result()["payment_id"] == "P-2"


def test_receiver__batch_reports_totals(token_client, waiting):
    batch = [event(id="x1"), event(id="x1"), event(id="x2", type="other.thing")]
    response = post(token_client, batch, BATCH)
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 2, "duplicates": 1, "resumed": [waiting.instance_id], "started": []}


def test_receiver__duplicate_is_acknowledged_not_delivered(token_client, waiting):
    assert post(token_client, event()).json()["resumed"] == [waiting.instance_id]
    again = post(token_client, event())
    assert again.status_code == 202
    assert again.json() == {"accepted": 0, "duplicates": 1, "resumed": [], "started": []}


def test_receiver__on_event_workflow_is_started(token_client, drain):
    response = post(token_client, event(type="order.created", data={"order_id": "o-5"}))
    started = response.json()["started"]
    assert len(started) == 1
    handle = durable.get_handle(started[0])
    drain(handle)
    assert handle.result()["order"] == "o-5"


def test_receiver__addressed_endpoint_delivers_to_that_instance(token_client, drain):
    target = durable.start(ew.waits_once, "k")
    other = durable.start(ew.waits_once, "k")
    drain()
    body = event(type="thing.happened", data={"key": "k"})
    response = post(token_client, body, path=f"/durable/instances/{target.instance_id}/events/")
    assert response.json()["resumed"] == [target.instance_id]
    drain(target)
    assert other.status == Status.WAITING_FOR_EVENT


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error_type"),
    [
        (event(id=None), STRUCTURED, 400, "invalid_event"),
        (event(specversion="0.3"), STRUCTURED, 400, "invalid_event"),
        (event(source=""), STRUCTURED, 400, "invalid_event"),
        (event(type=7), STRUCTURED, 400, "invalid_event"),
        (event(time="yesterday"), STRUCTURED, 400, "invalid_event"),
        ({**event(), "Bad-Name": "x"}, STRUCTURED, 400, "invalid_event"),
        (b"{not json", STRUCTURED, 400, "invalid_event"),
        ([event(id="ok"), event(id=None)], BATCH, 400, "invalid_event"),
        ([], BATCH, 400, "invalid_event"),
        (event(), "application/json", 415, "unsupported_media_type"),
        (event(), "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_receiver__bad_requests_store_nothing(token_client, body, content_type, status, error_type):
    response = post(token_client, body, content_type)
    assert response.status_code == status, response.content
    assert response.json()["error_type"] == error_type
    assert response.json()["retryable"] is False
    assert not Event.objects.exists()


def test_receiver__too_large_is_413(token_client, settings):
    settings.DURABLE_MAX_EVENT_BYTES = 1000
    response = post(token_client, event(data={"blob": "x" * 2000}))
    assert response.status_code == 413
    assert response.json()["error_type"] == "payload_too_large"
    assert not Event.objects.exists()


def test_receiver__addressed_to_unknown_or_ended_instance(token_client, drain):
    missing = post(token_client, event(), path="/durable/instances/nobody/events/")
    assert missing.status_code == 404 and missing.json()["error_type"] == "instance_not_found"
    handle = durable.start(ew.waits_once, "z")
    durable.cancel(handle.instance_id)
    ended = post(token_client, event(durableinstanceid=handle.instance_id))
    assert ended.status_code == 409 and ended.json()["error_type"] == "invalid_transition"
    assert not Event.objects.exists()


def test_auth__anonymous_and_wrong_token_are_refused(settings):
    settings.DURABLE_EVENT_TOKEN = "right"
    anonymous = post(APIClient(), event())
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    wrong = post(APIClient(), event(), HTTP_AUTHORIZATION="Bearer wrong")
    assert wrong.status_code == 401 and wrong.json()["error_type"] == "authentication_failed"
    assert not Event.objects.exists()


def test_auth__token_is_refused_when_none_is_configured(settings):
    settings.DURABLE_EVENT_TOKEN = None
    response = post(APIClient(), event(), HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 401


def test_auth__user_needs_the_add_event_permission(make_client):
    response = post(make_client("durable.view_workflowinstance"), event())
    assert response.status_code == 403
    assert "durable.add_event" in response.json()["error"]
    assert post(make_client("durable.add_event"), event()).status_code == 202


def test_auth__the_event_token_grants_nothing_else(token_client):
    assert token_client.get("/durable/instances/").status_code == 403
    assert token_client.post("/durable/workflows/three_steps/start/", {}, format="json").status_code == 403
