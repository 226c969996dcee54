"""Instance endpoints: list, detail, start, cancel, pause, resume, retry, get_event, schema."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import durable
from durable import models
from durable.models import Status, WorkflowInstance
from tests import event_workflows as ew
from tests import workflows
from tests.conftest import background

pytestmark = pytest.mark.django_db


def test_start__creates_an_instance_201_then_200_for_the_same_id(operator):
    body = {"args": [2], "kwargs": {"nap": 0.01}, "instance_id": "api-1"}
    first = operator.post("/durable/workflows/three_steps/start/", body, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["instance_id"] == "api-1"
    assert first.json()["status"] == "pending"
    assert first.json()["input"] == {"args": [2], "kwargs": {"nap": 0.01}}
    again = operator.post("/durable/workflows/three_steps/start", body, format="json")
    assert again.status_code == 200
    assert WorkflowInstance.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "error_type"),
    [
        ("/durable/workflows/nope/start/", {}, 404, "workflow_not_found"),
        ("/durable/workflows/three_steps/start/", {"args": "x"}, 400, "invalid_request"),
        ("/durable/workflows/three_steps/start/", {"argz": []}, 400, "invalid_request"),
        ("/durable/workflows/three_steps/start/", {"instance_id": "a/b"}, 400, "invalid_argument"),
        ("/durable/workflows/three_steps/start/", {"instance_id": "bulk"}, 400, "invalid_argument"),
        ("/durable/workflows/three_steps/start/", [1, 2], 400, "invalid_request"),
    ],
)
def test_start__bad_requests(operator, path, body, status, error_type):
    response = operator.post(path, body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["error_type"] == error_type
    assert not WorkflowInstance.objects.exists()


def test_start__malformed_json_is_400(operator):
    response = operator.generic("POST", "/durable/workflows/three_steps/start/", b"{", content_type="application/json")
    assert response.status_code == 400 and response.json()["error_type"] == "parse_error"


def test_list__filters_and_pages(operator, drain):
    for n in range(3):
        durable.start(workflows.three_steps, n, nap=0.01, instance_id=f"done-{n}")
    drain()
    durable.start(workflows.sleeper, 60, instance_id="sleepy")
    drain()
    everything = operator.get("/durable/instances/").json()
    assert {r["instance_id"] for r in everything["results"]} == {"done-0", "done-1", "done-2", "sleepy"}
    assert everything["next"] is None
    waiting = operator.get("/durable/instances?status=waiting_for_timer").json()["results"]
    assert [r["instance_id"] for r in waiting] == ["sleepy"]
    assert waiting[0]["waiting_for"]["kind"] == "timer"
    page = operator.get("/durable/instances/?workflow=three_steps&limit=2").json()
    assert len(page["results"]) == 2 and "offset=2" in page["next"]
    rest = operator.get(page["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None


@pytest.mark.parametrize("query", ["status=nope", "limit=0", "limit=x", "created_after=yesterday"])
def test_list__bad_filters_are_400(operator, query):
    response = operator.get(f"/durable/instances/?{query}")
    assert response.status_code == 400 and response.json()["error_type"] == "invalid_request"


def test_detail__has_history_waits_timers_events_and_values(operator, drain):
    handle = durable.start(ew.payment_with_timeout, "o-3", timeout=60)
    drain()
    detail = operator.get(f"/durable/instances/{handle.instance_id}/").json()
    assert detail["status"] == "waiting_for_event"
    assert [s["kind"] for s in detail["history"]] == ["activity"]
    assert detail["waits"][0]["event_type"] == "payment.completed"
    assert detail["waits"][0]["match"] == {"order_id": "o-3"}
    assert detail["timers"][0]["purpose"] == "timeout"
    durable.send_event("payment.completed", "/p", {"order_id": "o-3", "payment_id": "P", "amount": 1}, id="ev-3")
    drain(handle)
    detail = operator.get(f"/durable/instances/{handle.instance_id}").json()
    assert detail["status"] == "completed" and detail["result"]["status"] == "completed"
    assert detail["events"]["received"][0]["id"] == "ev-3" and detail["events"]["received"][0]["delivery"] == "resumed"
    assert detail["values"] == {"status": "paid"}
    assert operator.get("/durable/instances/nope/").status_code == 404


AT = dt.datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
AT_TEXT = "2030-01-02T03:04:05.678000Z"


def test_detail__every_part_in_its_json_shape(operator):
    decimal = {"$t": "decimal", "v": "1.50"}
    waiting = {"kind": "event", "types": ["paid"], "match": {"order_id": "o-1"}, "timeout_at": None}
    incident = {"kind": "paused", "at": "2030-01-02T03:04:05+00:00", "reason": "checking"}
    instance = WorkflowInstance.objects.create(
        id="shape",
        workflow_name="viewer_order",
        status=Status.WAITING_FOR_EVENT,
        input={"args": [decimal], "kwargs": {}},
        waiting_for=waiting,
        incidents=[incident],
        created_at=AT,
        updated_at=AT,
    )
    failure = {"attempt": 1, "type": "ValueError", "message": "no", "at": "2030-01-02T03:04:05+00:00"}
    models.HistoryStep.objects.create(
        instance=instance,
        position=0,
        kind="activity",
        name="viewer_reserve",
        input={"args": ["o-1"], "kwargs": {}},
        result={"$t": "set", "v": [1]},
        failures=[failure],
        started_at=AT,
        recorded_at=AT,
    )
    models.Wait.objects.create(
        instance=instance, position=1, name="paid", event_type="paid", match={"order_id": "o-1"}, shape="s",
        match_key="k", created_at=AT,
    )  # fmt: skip
    models.Timer.objects.create(instance=instance, position=1, purpose="timeout", name="paid", due_at=AT, created_at=AT)
    delivered = models.Event.objects.create(
        event_id="e-1", source="/s", type="paid", data={"amount": decimal}, time=AT, received_at=AT
    )
    models.Delivery.objects.create(event=delivered, instance=instance, position=1, kind="resumed", delivered_at=AT)
    models.Event.objects.create(event_id="e-2", source="/s", type="note", subject="x", target=instance, received_at=AT)
    models.PublishedValue.objects.create(instance=instance, key="total", value=decimal, position=0, updated_at=AT)
    response = operator.get("/durable/instances/shape/")
    body = response.json()
    assert list(body) == [
        "instance_id", "workflow_name", "status", "status_reason", "business_key", "input", "result", "error",
        "created_at", "updated_at", "finished_at", "waiting_for", "compensation", "compensated", "erased_at",
        "erase_reason", "code_version", "details", "forked_from", "fork_position", "parent_id", "detached", "run",
        "incidents", "children", "history", "waits", "timers", "events", "values",
    ]  # fmt: skip
    assert body == {
        "instance_id": "shape",
        "workflow_name": "viewer_order",
        "status": "waiting_for_event",
        "status_reason": "",
        "business_key": None,
        "input": {"args": ["1.50"], "kwargs": {}},
        "result": None,
        "error": None,
        "created_at": AT_TEXT,
        "updated_at": AT_TEXT,
        "finished_at": None,
        "waiting_for": waiting,
        "compensation": None,
        "compensated": False,
        "erased_at": None,
        "erase_reason": None,
        "code_version": None,
        "details": "",
        "forked_from": None,
        "fork_position": None,
        "parent_id": None,
        "detached": False,
        "run": 1,
        "incidents": [incident],
        "children": [],
        "history": [
            {
                "run": 1, "position": 0, "kind": "activity", "name": "viewer_reserve", "status": "completed",
                "attempt": 1, "input": {"args": ["o-1"], "kwargs": {}}, "result": [1], "error": None,
                "failures": [failure],
                "retry_at": None, "started_at": AT_TEXT, "recorded_at": AT_TEXT,
            }
        ],
        "waits": [
            {"position": 1, "event_type": "paid", "match": {"order_id": "o-1"}, "subject": None, "timeout_at": None,
             "label": None, "created_at": AT_TEXT}
        ],
        "timers": [
            {"position": 1, "purpose": "timeout", "name": "paid", "due_at": AT_TEXT, "label": None,
             "created_at": AT_TEXT}
        ],
        "events": {
            "received": [
                {"id": "e-1", "source": "/s", "type": "paid", "subject": None, "time": AT_TEXT, "received_at": AT_TEXT,
                 "data": {"amount": "1.50"}, "delivery": "resumed", "position": 1, "delivered_at": AT_TEXT}
            ],
            "queued": [
                {"id": "e-2", "source": "/s", "type": "note", "subject": "x", "time": None, "received_at": AT_TEXT,
                 "data": None}
            ],
        },
        "values": {"total": "1.50"},
    }  # fmt: skip


def test_detail__the_same_queries_whatever_the_history_length(operator, drain):
    counts = []
    for steps in (1, 40):
        drain(durable.start(workflows.n_activities, steps, instance_id=f"n-{steps}"))
        operator.get(f"/durable/instances/n-{steps}/")  # fills the user's permission cache
        with CaptureQueriesContext(connection) as queries:
            assert len(operator.get(f"/durable/instances/n-{steps}/").json()["history"]) == steps
        counts.append(len(queries))
    assert counts == [8, 8]  # inspect.instance's seven, and its children


def test_cancel__200_then_409_and_404(operator, drain):
    handle = durable.start(workflows.sleeper, 60)
    drain()
    response = operator.post(f"/durable/cancel/{handle.instance_id}", {"reason": "by api"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert response.json()["status_reason"] == "by api"
    again = operator.post(f"/durable/cancel/{handle.instance_id}/")
    assert again.status_code == 409 and again.json()["error_type"] == "invalid_transition"
    assert operator.post("/durable/cancel/missing").status_code == 404


def test_cancel__needs_the_cancel_permission(make_client, drain):
    handle = durable.start(workflows.sleeper, 60)
    viewer = make_client("durable.view_workflowinstance")
    response = viewer.post(f"/durable/cancel/{handle.instance_id}")
    assert response.status_code == 403
    assert "durable.cancel_workflowinstance" in response.json()["error"]
    assert handle.status != Status.CANCELLED


def test_pause_resume_retry(operator, drain):
    handle = durable.start(workflows.sleeper, 60)
    assert operator.post(f"/durable/instances/{handle.instance_id}/pause/").json()["status"] == "paused"
    assert operator.post(f"/durable/instances/{handle.instance_id}/pause").status_code == 409
    assert operator.post(f"/durable/instances/{handle.instance_id}/resume/").json()["status"] == "pending"
    failed = durable.start(workflows.explodes)
    drain(failed)
    assert operator.post(f"/durable/instances/{failed.instance_id}/retry/").json()["status"] == "pending"
    assert operator.post(f"/durable/instances/{handle.instance_id}/retry/").status_code == 409


def test_get_event__value_or_404_event_not_set(operator, drain):
    handle = durable.start(workflows.publisher, nap=30)
    url = f"/durable/instances/{handle.instance_id}/events/payment_url/"
    missing = operator.get(url)
    assert missing.status_code == 404 and missing.json()["error_type"] == "event_not_set"
    drain()
    assert operator.get(url).json() == {
        "key": "payment_url",
        "value": {"url": f"https://pay.example/{handle.instance_id}"},
    }
    assert operator.get(url + "?timeout=x").status_code == 400
    assert operator.get(url + "?timeout=600").status_code == 400
    assert operator.get("/durable/instances/nope/events/k/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_get_event__long_polls_until_the_value_is_published(operator, drain):
    handle = durable.start(workflows.publisher, nap=0.3)
    drain(lambda: handle.status == Status.WAITING_FOR_TIMER)
    assert operator.get(f"/durable/instances/{handle.instance_id}/events/status/").status_code == 404
    with background(lambda: drain(handle)):
        response = operator.get(f"/durable/instances/{handle.instance_id}/events/status/?timeout=20")
    assert response.status_code == 200 and response.json()["value"] == "done"


def test_every_endpoint_requires_authentication(client):
    for method, path in [
        ("get", "/durable/instances/"),
        ("get", "/durable/instances/x/"),
        ("post", "/durable/workflows/three_steps/start/"),
        ("post", "/durable/cancel/x"),
        ("post", "/durable/instances/x/pause/"),
        ("post", "/durable/instances/x/resume/"),
        ("get", "/durable/instances/x/events/k/"),
        ("get", "/durable/schema/"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 401, (method, path, response.status_code)
        assert json.loads(response.content)["error_type"] == "not_authenticated"


def test_schema__is_openapi_3_with_the_mounted_paths(operator):
    response = operator.get("/durable/schema/")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    expected = {
        "/durable/",
        "/durable/cancel/{instance_id}/",
        "/durable/instances/",
        "/durable/instances/{instance_id}/",
        "/durable/instances/{instance_id}/events/",
        "/durable/instances/{instance_id}/events/{key}/",
        "/durable/instances/{instance_id}/pause/",
        "/durable/instances/{instance_id}/resume/",
        "/durable/workflows/{name}/start/",
    }
    assert expected <= set(schema["paths"])
    assert "eventToken" in schema["components"]["securitySchemes"]


def test_cancel__also_at_the_instance_path(operator, drain):
    handle = durable.start(workflows.sleeper, 60)
    drain()
    response = operator.post(f"/durable/instances/{handle.instance_id}/cancel/", {"reason": "here"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert operator.post(f"/durable/instances/{handle.instance_id}/cancel").status_code == 409
