"""Hostile input that used to answer 500 or store what later broke: now a 4xx, and nothing stored."""

from __future__ import annotations

import json

import pytest

import durable
from durable.models import Event, WorkflowInstance
from tests import event_workflows as ew
from tests import workflows
from tests.api.test_receiver import BATCH, STRUCTURED, event, post

pytestmark = pytest.mark.django_db

CONTROL = ["\x00", "\x07", "\x1f", "\x7f", "\x85", "\x9f"]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("attribute", ["type", "source", "id", "subject", "ext"])
@pytest.mark.parametrize("char", [*CONTROL, "\ud800"])
def test_receiver__attribute_strings_with_control_characters_or_surrogates_are_refused(token_client, attribute, char):
    body = json.dumps(event(**{attribute: f"a{char}b"}), ensure_ascii=True).encode()
    response = post(token_client, body)
    assert response.status_code == 400, response.content
    assert response.json()["error_type"] == "invalid_event"
    assert not Event.objects.exists()


@pytest.mark.parametrize("text", ["\\u0000", "\\ud800", "x\\udfffy"])
def test_receiver__data_that_no_json_store_keeps_is_refused(token_client, text):
    body = f'{{"specversion": "1.0", "id": "n", "source": "/s", "type": "t", "data": {{"k": "{text}"}}}}'.encode()
    response = post(token_client, body)
    assert response.status_code == 400 and response.json()["error_type"] == "invalid_event", response.content
    assert not Event.objects.exists()


@pytest.mark.parametrize("depth", [150, 950, 100_000])
def test_deep_json__is_a_400_on_the_receiver_and_the_start_endpoint(token_client, operator, depth):
    body = f'{{"specversion": "1.0", "id": "d", "source": "/s", "type": "t", "data": {nested(depth)}}}'.encode()
    response = post(token_client, body)
    assert response.status_code == 400, response.content[:200]
    start = operator.generic(
        "POST",
        "/durable/workflows/waits_once/start/",
        f'{{"args": [{nested(depth)}]}}',
        content_type="application/json",
    )
    assert start.status_code == 400, start.content[:200]
    assert set(start.json()) == {"error", "error_type", "retryable"}
    assert not Event.objects.exists() and not WorkflowInstance.objects.exists()


@pytest.mark.parametrize("time", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_receiver__times_that_overflow_in_utc_are_refused(token_client, time):
    response = post(token_client, event(time=time))
    assert response.status_code == 400 and "outside the years" in response.json()["error"]
    assert not Event.objects.exists()


def test_receiver__a_batch_over_the_cap_is_a_413(token_client, settings):
    settings.DURABLE_MAX_BATCH_EVENTS = 5
    batch = [event(id=f"b-{i}") for i in range(6)]
    response = post(token_client, batch, content_type=BATCH)
    assert response.status_code == 413 and response.json()["error_type"] == "batch_too_large"
    assert "at most 5" in response.json()["error"]
    assert post(token_client, batch[:5], content_type=BATCH).status_code == 202
    assert Event.objects.count() == 5


def test_admin_form__deep_json_is_a_form_error(admin_client, drain):
    handle = durable.start(ew.waits_once, "adm")
    drain()
    data = {"type": "thing.happened", "source": "/durable/admin", "subject": "", "event_data": nested(100_000)}
    response = admin_client.post(f"/admin/durable/workflowinstance/{handle.instance_id}/send-event/", data)
    assert response.status_code == 200
    assert b"nested too deeply" in response.content
    assert not Event.objects.exists()


def test_structured__still_accepts_ordinary_unicode(token_client):
    response = post(token_client, event(type="zahlung.eingegangen", source="/zahlungen/müller", subject="ünïcödé ✓"))
    assert response.status_code == 202, response.content
    assert STRUCTURED


def test_plain_json__user_data_with_a_literal_tag_key_is_shown_as_it_is(operator, drain):
    data = {"$t": "timedelta", "v": None, "inner": {"$t": "dict"}}
    handle = durable.start(workflows.publishes_anything, data, instance_id="tagged")
    drain(handle)
    listed = operator.get("/durable/instances/")
    assert listed.status_code == 200, listed.content[:300]
    [row] = [r for r in listed.json()["results"] if r["instance_id"] == "tagged"]
    assert row["input"] == {"args": [data], "kwargs": {}} and row["result"] == data
    assert operator.get("/durable/instances/tagged/").json()["values"]["tagged"] == {"$t": "timedelta", "v": None}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("receipt", {"number": "R-1", "amount": "9.50"}),
        ("raw", "//4gbm90IHV0Zi04"),
        ("tagged", {"$t": "timedelta", "v": None}),
    ],
)
def test_get_event__any_stored_value_is_answered_as_plain_json(operator, drain, key, value):
    handle = durable.start(workflows.publishes_anything, {}, instance_id="values")
    drain(handle)
    response = operator.get(f"/durable/instances/values/events/{key}/")
    assert response.status_code == 200, response.content[:300]
    assert response.json() == {"key": key, "value": value}
