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


def test_start__debounce_is_not_in_the_http_body(operator):
    response = operator.post(START, {"args": ["x"], "business_key": "cart-1", "debounce": 60}, format="json")
    assert response.status_code == 400 and "Unknown field(s): debounce" in response.json()["error"]
    assert not WorkflowInstance.objects.exists()


def test_start__the_last_day_of_the_calendar_is_as_good_as_never(operator):
    response = operator.post(START, {"args": ["late"], "start_at": "9999-12-31T23:59:59-14:00"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["waiting_for"]["due_at"].startswith("9999-12-31T23:59:59.999999")


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
        ({"start_in": None, "start_at": "2099-01-01T03:00:00Z"}, "not both"),
    ],
)
def test_start__bad_start_options_are_400_and_store_nothing(operator, body, says):
    response = operator.post(START, {"args": ["bad"], **body}, format="json")
    assert response.status_code == 400, response.content
    assert says in response.json()["error"]
    assert not WorkflowInstance.objects.exists() and not Timer.objects.exists()
