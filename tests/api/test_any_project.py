"""The API in a project whose REST_FRAMEWORK settings are Django REST framework's defaults."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

import durable
from durable.models import Event, WorkflowInstance
from tests import event_workflows as ew
from tests import workflows
from tests.api.conftest import TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def drf_defaults(settings):
    # What a fresh project has: no REST_FRAMEWORK at all.
    del settings.REST_FRAMEWORK


@pytest.fixture
def session(db) -> Client:
    """A logged-in admin user's browser session, with CSRF checks on as in production."""
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="admin", password="pw")
    browser.get("/admin/")
    return browser


def csrf(browser: Client) -> dict:
    return {"HTTP_X_CSRFTOKEN": browser.cookies["csrftoken"].value}


def test_schema__is_served_with_drf_default_schema_class(session):
    response = session.get("/durable/schema/")
    assert response.status_code == 200, response.content[:300]
    assert "/durable/workflows/{name}/start/" in json.loads(response.content)["paths"]


def test_schema__the_event_token_may_not_read_it(client, settings):
    settings.DURABLE_EVENT_TOKEN = TOKEN
    response = client.get("/durable/schema/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 403 and response.json()["error_type"] == "permission_denied"


@pytest.mark.parametrize("path", ["/durable/", "/durable/instances/{id}/events/"])
def test_receiver__a_session_with_the_csrf_header_may_post_events(session, drain, path):
    handle = durable.start(ew.waits_once, "s-1")
    drain()
    body = {"specversion": "1.0", "id": "s-e", "source": "/ui", "type": "thing.happened", "data": {"key": "s-1"}}
    url = path.format(id=handle.instance_id)
    response = session.post(url, json.dumps(body), content_type="application/cloudevents+json", **csrf(session))
    assert response.status_code == 202, response.content
    assert response.json()["resumed"] == [handle.instance_id]
    refused = session.post(url, json.dumps({**body, "id": "s-f"}), content_type="application/cloudevents+json")
    assert refused.status_code == 403, "without the CSRF header a session may not post"
    assert not Event.objects.filter(event_id="s-f").exists()


def test_operations__a_session_with_the_csrf_header_may_post(session, drain):
    handle = durable.start(workflows.sleeper, 30)
    drain()
    response = session.post(
        f"/durable/instances/{handle.instance_id}/pause/", "{}", content_type="application/json", **csrf(session)
    )
    assert response.status_code == 200 and response.json()["status"] == "paused"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"args": [1, 2, 3, 4]}, "do not fit sleeper(ctx, seconds)"),
        ({"kwargs": {"nope": 1}}, "do not fit sleeper(ctx, seconds)"),
        ({"args": []}, "missing a required argument"),
    ],
)
def test_start__arguments_that_do_not_fit_are_a_400_and_start_nothing(session, body, message):
    response = session.post(
        "/durable/workflows/sleeper/start/", json.dumps(body), content_type="application/json", **csrf(session)
    )
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]
    assert not WorkflowInstance.objects.exists()


def test_start__a_workflow_may_take_arguments_named_instance_id_and_workflow(session, drain):
    body = {"kwargs": {"instance_id": "theirs", "workflow": "also theirs"}, "instance_id": "ours"}
    response = session.post(
        "/durable/workflows/names_like_ours/start/", json.dumps(body), content_type="application/json", **csrf(session)
    )
    assert response.status_code == 201, response.content
    handle = durable.get_handle("ours")
    drain(handle)
    assert handle.result() == ["theirs", "also theirs"]


def test_schema__describes_the_list_as_the_page_it_returns(session):
    schema = json.loads(session.get("/durable/schema/").content)
    ok = schema["paths"]["/durable/instances/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[1]]
    assert set(page["properties"]) == {"results", "next"}
    assert page["properties"]["results"]["type"] == "array"
