"""POST /instances/{id}/fork/: 201 with the new instance, or the API's JSON errors with nothing stored."""

from __future__ import annotations

import pytest

import durable
from durable.models import HistoryStep, WorkflowInstance
from tests import fork_workflows as fw

pytestmark = pytest.mark.django_db

PREFIX = "/durable"
FORKER = ("durable.view_workflowinstance", "durable.add_workflowinstance")


def stored() -> tuple[int, int]:
    return WorkflowInstance.objects.count(), HistoryStep.objects.count()


@pytest.mark.parametrize("slash", ["/", ""])
def test_fork__201_with_the_new_instance(make_client, order_failed_at_charge, drain, slash):
    answer = make_client(*FORKER).post(
        f"{PREFIX}/instances/{order_failed_at_charge}/fork{slash}", {"from_position": 2}, format="json"
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["instance_id"] == "order-1:fork-1"
    assert (body["forked_from"], body["fork_position"], body["status"]) == (order_failed_at_charge, 2, "pending")
    assert body["input"] == {"args": ["o-1"], "kwargs": {}}
    fw.deploy_fix()
    drain(durable.get_handle(body["instance_id"]))
    assert fw.ledger(body["instance_id"]) == ["charge", "ship"]
    detail = make_client(*FORKER).get(f"{PREFIX}/instances/{body['instance_id']}/").json()
    assert detail["forked_from"] == order_failed_at_charge and len(detail["history"]) == 4


def test_fork__with_its_own_id(make_client, order_failed_at_charge):
    answer = make_client(*FORKER).post(
        f"{PREFIX}/instances/{order_failed_at_charge}/fork/",
        {"from_position": 0, "instance_id": "order-1-b"},
        format="json",
    )
    assert answer.status_code == 201 and answer.json()["instance_id"] == "order-1-b"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"from_position": -1}, "from_position"),
        ({"from_position": "2"}, "whole number"),
        ({"from_position": 2.5}, "from_position"),
        ({"from_position": True}, "whole number"),
        ({}, "from_position"),
        ({"from_position": 1, "extra": 1}, "Unknown field"),
        ({"from_position": 1, "instance_id": "a b"}, "invalid"),
        ([1], "JSON object"),
    ],
)
def test_fork__400_for_a_bad_body_and_nothing_stored(make_client, order_failed_at_charge, body, said):
    before = stored()
    answer = make_client(*FORKER).post(f"{PREFIX}/instances/{order_failed_at_charge}/fork/", body, format="json")
    assert answer.status_code == 400, answer.json()
    assert said in answer.json()["error"] and answer.json()["retryable"] is False
    assert stored() == before


def test_fork__409_for_a_position_past_the_history_and_a_whole_float_is_a_position(make_client, order_failed_at_charge):
    api = make_client(*FORKER)
    before = stored()
    past = api.post(f"{PREFIX}/instances/{order_failed_at_charge}/fork/", {"from_position": 7}, format="json")
    assert past.status_code == 409 and past.json()["error_type"] == "invalid_position"
    assert "its history has 3 steps" in past.json()["error"]
    assert stored() == before
    whole = api.post(f"{PREFIX}/instances/{order_failed_at_charge}/fork/", {"from_position": 2.0}, format="json")
    assert whole.status_code == 201 and whole.json()["fork_position"] == 2


def test_fork__404_for_an_unknown_instance(make_client, db):
    answer = make_client(*FORKER).post(f"{PREFIX}/instances/nobody/fork/", {"from_position": 0}, format="json")
    assert answer.status_code == 404 and answer.json()["error_type"] == "instance_not_found"
    assert stored() == (0, 0)


def test_fork__409_for_an_id_taken_or_an_instance_still_running(make_client, order_failed_at_charge):
    api = make_client(*FORKER)
    before = stored()
    taken = api.post(
        f"{PREFIX}/instances/{order_failed_at_charge}/fork/",
        {"from_position": 1, "instance_id": order_failed_at_charge},
        format="json",
    )
    assert taken.status_code == 409 and taken.json()["error_type"] == "instance_exists"
    pending = durable.start(fw.order, "o-2", instance_id="order-2")
    before = stored()
    running = api.post(f"{PREFIX}/instances/{pending.instance_id}/fork/", {"from_position": 0}, format="json")
    assert running.status_code == 409 and running.json()["error_type"] == "invalid_transition"
    assert stored() == before


def test_fork__403_without_the_permission_to_start_instances(make_client, order_failed_at_charge):
    before = stored()
    viewer = make_client("durable.view_workflowinstance")
    answer = viewer.post(f"{PREFIX}/instances/{order_failed_at_charge}/fork/", {"from_position": 2}, format="json")
    assert answer.status_code == 403 and answer.json()["error_type"] == "permission_denied"
    assert stored() == before
