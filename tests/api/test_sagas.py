"""A saga in the HTTP API: the representation while it compensates, and the cancel body."""

from __future__ import annotations

import jsonschema
import pytest

import durable
from durable.api.serializers import COMPENSATION_SCHEMA
from durable.models import Status
from tests import saga_workflows as sw

pytestmark = pytest.mark.django_db


def test_api__the_representation_carries_the_saga(operator, saga_compensating):
    body = operator.get(f"/durable/instances/{saga_compensating}/").json()
    assert body["status"] == "compensating" and body["compensated"] is False
    assert body["error"]["type"] == "ActivityError"  # what set the compensations off, shown while they run
    assert body["compensation"] == {"after": "failed", "done": 1, "skipped": 0, "total": 3}
    jsonschema.validate(body["compensation"], COMPENSATION_SCHEMA)
    kinds = [step["kind"] for step in body["history"]]
    assert kinds.count("arm") == 3 and kinds.count("compensation") == 2


def test_api__cancel_takes_only_a_boolean_compensate(operator, drain):
    handle = durable.start(sw.reserve_then_wait)
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    response = operator.post(f"/durable/cancel/{handle.instance_id}", {"compensate": "no"}, format="json")
    assert response.status_code == 400 and "compensate" in response.json()["error"]
    assert handle.status == Status.WAITING_FOR_EVENT
    response = operator.post(f"/durable/cancel/{handle.instance_id}", {"compensate": True}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "compensating"
