"""Parents and children in the HTTP API: linked both ways, a child's default id in the URL, runs."""

from __future__ import annotations

import pytest

import durable
from durable.models import Status
from tests import child_workflows as cw

pytestmark = pytest.mark.django_db


def test_api__parent_and_child_linked_both_ways_and_the_child_id_in_the_url(operator, drain):
    handle = durable.start(cw.waiting_parent, "api-1", False, instance_id="api-1")
    drain(lambda: handle.status == Status.WAITING_FOR_CHILD)
    body = operator.get("/durable/instances/api-1/").json()
    assert body["status"] == "waiting_for_child" and body["parent_id"] is None and body["run"] == 1
    assert body["waiting_for"] == {"kind": "child", "id": "api-1/0", "workflow": "child.waits"}
    assert [(c["instance_id"], c["status"], c["detached"]) for c in body["children"]] == [
        ("api-1/0", "waiting_for_event", False)
    ]
    child = operator.get("/durable/instances/api-1/0/").json()
    assert (child["instance_id"], child["parent_id"], child["children"]) == ("api-1/0", "api-1", [])
    response = operator.post("/durable/instances/api-1/0/cancel/", {"reason": "not needed"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    drain(handle)
    assert handle.result() == "cancelled: not needed None"


def test_api__every_step_carries_its_run(operator, drain):
    drain(durable.start(cw.counter, 0, 2, instance_id="api-loop"))
    body = operator.get("/durable/instances/api-loop/").json()
    assert body["run"] == 3
    assert [(s["run"], s["position"], s["kind"]) for s in body["history"]] == [
        (1, 0, "activity"),
        (1, 1, "continue_as_new"),
        (2, 0, "activity"),
        (2, 1, "continue_as_new"),
        (3, 0, "activity"),
    ]
