"""Business keys over HTTP (SPEC 11): the field, the start body, ?business_key= and the schema."""

from __future__ import annotations

import json

import pytest

import durable
from durable.models import WorkflowInstance
from tests import workflows

pytestmark = pytest.mark.django_db

START = "/durable/workflows/keyed/start/"


def test_start__takes_a_business_key_and_shows_it(operator):
    response = operator.post(START, {"kwargs": {"label": "x"}, "business_key": "order-42"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["business_key"] == "order-42"
    assert WorkflowInstance.objects.get(pk=body["instance_id"]).business_key == "order-42"


def test_start__without_a_key_shows_null(operator):
    response = operator.post(START, {}, format="json")
    assert response.status_code == 201
    assert response.json()["business_key"] is None


@pytest.mark.parametrize("key", [7, "", "  ", "k" * 256, "a\x01b", ["k"]])
def test_start__a_bad_key_is_400_and_stores_nothing(operator, key):
    response = operator.post(START, {"business_key": key}, format="json")
    assert response.status_code == 400, response.content
    assert "business_key" in response.json()["error"]
    assert not WorkflowInstance.objects.exists()


def test_list__filters_by_business_key_newest_first(operator):
    for instance_id, key in [("a", "order-1"), ("b", "order-2"), ("c", "order-1")]:
        durable.start(workflows.keyed, instance_id=instance_id, business_key=key)
    WorkflowInstance.objects.filter(pk="a").update(created_at="2026-01-01T00:00:00Z")
    page = operator.get("/durable/instances/?business_key=order-1").json()
    assert [row["instance_id"] for row in page["results"]] == ["c", "a"]
    assert {row["business_key"] for row in page["results"]} == {"order-1"}
    assert operator.get("/durable/instances/?business_key=nobody").json()["results"] == []
    assert len(operator.get("/durable/instances/?business_key=").json()["results"]) == 3


def test_list__a_key_longer_than_the_column_is_400(operator):
    response = operator.get(f"/durable/instances/?business_key={'k' * 256}")
    assert response.status_code == 400
    assert response.json()["error"] == "business_key must be at most 255 characters."


def test_detail__shows_the_key(operator):
    durable.start(workflows.keyed, instance_id="d", business_key="invoice-9")
    assert operator.get("/durable/instances/d/").json()["business_key"] == "invoice-9"


def test_schema__the_filter_the_field_and_the_start_body(operator):
    schema = json.loads(operator.get("/durable/schema/").content)
    listing = schema["paths"]["/durable/instances/"]["get"]
    (parameter,) = [p for p in listing["parameters"] if p["name"] == "business_key"]
    assert parameter["in"] == "query"
    assert parameter["schema"]["maxLength"] == 255
    instance = schema["components"]["schemas"]["Instance"]
    assert instance["properties"]["business_key"]["type"] == ["string", "null"]
    start = schema["components"]["schemas"]["StartRequest"]
    assert start["properties"]["business_key"]["maxLength"] == 255
