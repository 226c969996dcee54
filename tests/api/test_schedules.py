"""Schedule endpoints: list, pause, resume, trigger; permissions, 404 for an unknown name, the schema."""

from __future__ import annotations

import json

import pytest

from durable import schedules
from durable.models import Schedule, WorkflowInstance

VIEW = "durable.view_schedule"
ALL = (VIEW, "durable.pause_schedule", "durable.resume_schedule", "durable.trigger_schedule")


@pytest.fixture
def nightly(db):
    return schedules.create("nightly", "scheduled_report", cron="0 3 * * *", timezone="Europe/Berlin")


def test_list__every_schedule_with_its_cron_in_words(make_client, nightly):
    body = make_client(VIEW).get("/durable/schedules/").json()
    (row,) = body["schedules"]
    assert row["name"] == "nightly" and row["workflow_name"] == "scheduled_report"
    assert row["description"] == "At 03:00 AM" and row["timezone"] == "Europe/Berlin"
    assert row["paused"] is False and row["source"] == "runtime" and row["catchup_window"] == 86400.0
    assert row["next_slot_at"].endswith("Z") or "+" in row["next_slot_at"]


def test_pause_resume_trigger__through_http(make_client, nightly):
    api = make_client(*ALL)
    assert api.post("/durable/schedules/nightly/pause/").json()["paused"] is True
    assert Schedule.objects.get(name="nightly").paused
    assert api.post("/durable/schedules/nightly/resume").json()["paused"] is False
    answer = api.post("/durable/schedules/nightly/trigger/")
    assert answer.status_code == 201
    instance_id = answer.json()["last_instance_id"]
    assert WorkflowInstance.objects.get(id=instance_id).schedule_name == "nightly"


@pytest.mark.parametrize("action", ["pause", "resume", "trigger"])
def test_operations__unknown_name_is_a_404_json_error(make_client, db, action):
    answer = make_client(*ALL).post(f"/durable/schedules/nope/{action}/")
    assert answer.status_code == 404
    assert answer.json()["error_type"] == "schedule_not_found" and "nope" in answer.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "needs"),
    [
        ("get", "/durable/schedules/", VIEW),
        ("post", "/durable/schedules/nightly/pause/", "durable.pause_schedule"),
        ("post", "/durable/schedules/nightly/resume/", "durable.resume_schedule"),
        ("post", "/durable/schedules/nightly/trigger/", "durable.trigger_schedule"),
    ],
)
def test_operations__each_needs_its_permission_and_changes_nothing_without(make_client, nightly, method, path, needs):
    others = [p for p in ALL if p != needs]
    answer = getattr(make_client(*others), method)(path)
    assert answer.status_code == 403 and needs in answer.json()["error"]
    assert not Schedule.objects.get(name="nightly").paused and not WorkflowInstance.objects.exists()


def test_schema__lists_the_schedule_operations(make_client, db):
    schema = json.loads(make_client("durable.view_workflowinstance").get("/durable/schema/").content)
    ids = {op["operationId"] for item in schema["paths"].values() for op in item.values()}
    assert {"list_schedules", "pause_schedule", "resume_schedule", "trigger_schedule"} <= ids
    trigger = schema["paths"]["/durable/schedules/{name}/trigger/"]["post"]
    assert {"201", "404", "403"} <= set(trigger["responses"])
