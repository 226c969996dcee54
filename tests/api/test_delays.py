"""Delayed and debounced starts over HTTP (SPEC 13): the start body's fields, 400s that store nothing."""

from __future__ import annotations

import pytest

from durable.models import Status, Timer, WorkflowInstance

pytestmark = pytest.mark.django_db

START = "/durable/workflows/delayed/start/"


def test_start__start_in_leaves_it_pending_and_says_when(operator):
    response = operator.post(START, {"args": ["http"], "start_in": 240}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == Status.PENDING
    assert body["waiting_for"]["kind"] == "start"
    assert Timer.objects.get(instance_id=body["instance_id"]).purpose == "start"


def test_start__start_at_with_an_offset(operator):
    response = operator.post(START, {"args": ["at"], "start_at": "2099-01-01T03:00:00+01:00"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["waiting_for"]["due_at"].startswith("2099-01-01T02:00:00")


def test_start__debounced_calls_share_one_instance_201_then_200(operator):
    body = {"args": ["first"], "business_key": "cart-1", "debounce": 60}
    first = operator.post(START, body, format="json")
    second = operator.post(START, {**body, "args": ["second"]}, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["instance_id"] == second.json()["instance_id"]
    assert WorkflowInstance.objects.get().input["args"] == ["second"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"start_at": "2099-01-01T03:00:00"}, "UTC offset"),
        ({"start_at": "tomorrow"}, "ISO 8601"),
        ({"start_at": 1893456000}, "ISO 8601 string"),
        ({"start_in": "60"}, "number of seconds"),
        ({"start_in": True}, "number of seconds"),
        ({"start_in": -5}, "must not be negative"),
        ({"start_in": 1e300}, "too large"),
        ({"start_in": 5, "start_at": "2099-01-01T03:00:00Z"}, "not both"),
        ({"debounce": 30}, "needs a business_key"),
        ({"debounce": 30, "debounce_max": 10, "business_key": "k"}, "at least debounce"),
        ({"start_at": "9999-12-31T23:59:59-14:00"}, "out of range"),
    ],
)
def test_start__bad_start_options_are_400_and_store_nothing(operator, body, says):
    response = operator.post(START, {"args": ["bad"], **body}, format="json")
    assert response.status_code == 400, response.content
    assert says in response.json()["error"]
    assert not WorkflowInstance.objects.exists() and not Timer.objects.exists()
