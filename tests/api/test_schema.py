"""The served OpenAPI schema says what each endpoint accepts and answers, without schemathesis."""

from __future__ import annotations

import json

import pytest

from durable import events
from durable.client import INSTANCE_ID

pytestmark = pytest.mark.django_db

PREFIX = "/durable"
ERROR = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def schema(operator, settings) -> dict:
    settings.DURABLE_MAX_BATCH_EVENTS = 7
    response = operator.get(f"{PREFIX}/schema/")
    assert response.status_code == 200
    return json.loads(response.content)


def operation(schema: dict, method: str, path: str) -> dict:
    return schema["paths"][PREFIX + path][method]


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def body(schema: dict, method: str, path: str, media_type: str = "application/json") -> dict:
    return resolve(schema, operation(schema, method, path)["requestBody"]["content"][media_type]["schema"])


def ok_schema(schema: dict, method: str, path: str, status: str) -> dict:
    return resolve(
        schema, operation(schema, method, path)["responses"][status]["content"]["application/json"]["schema"]
    )


def test_schema__the_list_is_the_paginated_object_it_returns(schema, operator):
    page = ok_schema(schema, "get", "/instances/", "200")
    assert page["type"] == "object"
    assert set(page["required"]) == {"next", "results"}
    assert page["properties"]["results"]["type"] == "array"
    assert page["properties"]["next"]["type"] == ["string", "null"]
    assert set(operator.get(f"{PREFIX}/instances/").json()) == set(page["properties"])
    limit = next(p for p in operation(schema, "get", "/instances/")["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}


@pytest.mark.parametrize("path", ["/", "/instances/{instance_id}/events/"])
def test_schema__receivers_take_structured_and_batch_cloudevents(schema, path):
    post = operation(schema, "post", path)
    assert post["requestBody"]["required"] is True
    assert set(post["requestBody"]["content"]) == {events.STRUCTURED, events.BATCH}
    event = body(schema, "post", path, events.STRUCTURED)
    assert event["required"] == ["specversion", "id", "source", "type"]
    assert resolve(schema, event["properties"]["specversion"])["enum"] == ["1.0"]
    assert event["properties"]["id"]["maxLength"] == events.LIMITS["id"]
    assert event["properties"]["data"] == {"$ref": "#/components/schemas/JSONValue"}
    assert event["propertyNames"]["pattern"] == r"^(?:[a-z0-9]{1,20}|data_base64)$"
    batch = body(schema, "post", path, events.BATCH)
    assert (batch["type"], batch["minItems"], batch["maxItems"]) == ("array", 1, 7)
    assert "ce-specversion" in post["description"]  # binary mode, which OpenAPI cannot tie to a body
    assert set(post["responses"]) == {"202", "400", "401", "403", "404", "409", "413", "415", "503"}
    assert {"eventToken": []} in post["security"]


def test_schema__an_instances_own_receiver_leaves_the_target_extension_out(schema):
    event = body(schema, "post", "/instances/{instance_id}/events/", events.STRUCTURED)
    assert event["properties"][events.TARGET_EXTENSION] == {"not": {}}
    anywhere = body(schema, "post", "/", events.STRUCTURED)
    assert anywhere["properties"][events.TARGET_EXTENSION]["pattern"] == INSTANCE_ID.pattern


def test_schema__start_body_is_what_the_view_validates(schema):
    start = body(schema, "post", "/workflows/{name}/start/")
    assert start["additionalProperties"] is False
    assert set(start["properties"]) == {
        "args",
        "kwargs",
        "instance_id",
        "business_key",
        "start_at",
        "start_in",
        "queue",
        "priority",
    }
    assert start["not"] == {"required": ["start_at", "start_in"]}, "one or the other, as the view says"
    assert start["properties"]["instance_id"]["pattern"] == INSTANCE_ID.pattern
    assert start["properties"]["instance_id"]["type"] == ["string", "null"]
    post = operation(schema, "post", "/workflows/{name}/start/")
    assert "required" not in post["requestBody"]  # an empty body starts with no inputs
    assert set(post["responses"]) == {"200", "201", "400", "401", "403", "404", "409", "415", "503"}


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/cancel/{instance_id}/", True),
        ("/instances/{instance_id}/cancel/", True),
        ("/instances/{instance_id}/pause/", True),
        ("/instances/{instance_id}/resume/", False),
        ("/instances/{instance_id}/retry/", False),
    ],
)
def test_schema__operations_take_a_reason_only_where_the_view_reads_one(schema, path, reason):
    post = operation(schema, "post", path)
    if reason:
        assert body(schema, "post", path)["properties"]["reason"]["maxLength"] == 2000
    else:
        assert "requestBody" not in post
    assert set(post["responses"]) == {"200", "400", "401", "403", "404", "409", "415", "503"}
    assert {"eventToken": []} not in post["security"]
    (instance_id,) = post["parameters"]
    assert instance_id["schema"]["pattern"] == INSTANCE_ID.pattern


def test_schema__errors_are_the_json_error_with_their_headers(schema):
    for item in schema["paths"].values():
        for method in item.values():
            for status, response in method["responses"].items():
                if status.startswith("4") or status.startswith("5"):
                    assert response["content"]["application/json"]["schema"] == ERROR
            assert method["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True
            assert method["responses"]["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert set(resolve(schema, ERROR)["required"]) == {"error", "error_type", "retryable"}


def test_schema__every_operation_has_its_own_id_and_the_schema_is_3_1(schema):
    ids = [method["operationId"] for item in schema["paths"].values() for method in item.values()]
    assert len(ids) == len(set(ids)) == 19  # 13 on instances and events, 2 bulk, 4 on schedules
    assert schema["openapi"] == "3.1.0"
    assert set(schema["components"]["securitySchemes"]) == {"eventToken", "cookieAuth", "basicAuth"}


def test_schema__get_event_and_detail_answer_what_they_return(schema):
    get_event = operation(schema, "get", "/instances/{instance_id}/events/{key}/")
    (timeout,) = [p for p in get_event["parameters"] if p["in"] == "query"]
    assert timeout["schema"]["maximum"] == 60 and timeout["allowEmptyValue"] is True
    assert set(get_event["responses"]) == {"200", "400", "401", "403", "404", "503"}
    assert set(ok_schema(schema, "get", "/instances/{instance_id}/events/{key}/", "200")["required"]) == {
        "key",
        "value",
    }
    detail = operation(schema, "get", "/instances/{instance_id}/")
    assert set(detail["responses"]) == {"200", "400", "401", "403", "404", "503"}


def test_schema__cancel_takes_compensate_and_instances_carry_their_saga(schema):
    for path in ("/cancel/{instance_id}/", "/instances/{instance_id}/cancel/"):
        compensate = body(schema, "post", path)["properties"]["compensate"]
        assert compensate["type"] == "boolean" and compensate["default"] is True
    assert "compensate" not in body(schema, "post", "/instances/{instance_id}/pause/")["properties"]
    instance = resolve(schema, ok_schema(schema, "get", "/instances/{instance_id}/", "200"))
    assert instance["properties"]["compensated"]["type"] == "boolean"
    progress = instance["properties"]["compensation"]
    assert progress["type"] == ["object", "null"] and progress["required"] == ["after", "done", "skipped", "total"]


def test_schema__bulk_operations_take_the_list_filters_and_answer_counts_or_a_job(schema):
    post = operation(schema, "post", "/instances/bulk/{target}/")
    assert post["operationId"] == "bulk_operate"
    named = {p["name"]: p for p in post["parameters"]}
    assert named["target"]["schema"]["enum"] == ["cancel", "pause", "resume", "retry", "erase"]
    assert post["requestBody"]["required"] is True
    request = body(schema, "post", "/instances/bulk/{target}/")
    assert request["additionalProperties"] is False
    assert {"required": ["status"]} in request["anyOf"]  # a filter, or all=true
    assert {"status", "workflow", "business_key", "created_after", "created_before", "all", "reason"} <= set(
        request["properties"]
    )
    assert {"200", "202", "400", "401", "403"} <= set(post["responses"])
    job = ok_schema(schema, "post", "/instances/bulk/{target}/", "202")
    assert {"id", "total", "done", "skipped", "failed", "status"} <= set(job["properties"])
    progress = operation(schema, "get", "/instances/bulk/{target}/")
    assert progress["operationId"] == "get_bulk_operation"
    assert {p["name"]: p["schema"]["type"] for p in progress["parameters"] if p["in"] == "path"} == {
        "target": "integer"
    }
    assert {"200", "404"} <= set(progress["responses"])
