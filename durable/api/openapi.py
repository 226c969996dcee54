"""What the OpenAPI schema says of each endpoint: request bodies as the views validate them, and every answer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from durable import events
from durable.api.serializers import ErrorSerializer
from durable.client import INSTANCE_ID
from durable.conf import settings
from durable.engine import codec

# CloudEvents strings hold no control characters (lone surrogates are refused too, but JSON
# Schema patterns cannot name them). Written as escapes, which ECMA-262 and Python read alike.
STRING = r"^[^\x00-\x1f\x7f-\x9f]*$"
REQUIRED_STRING = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
# What every JSON store keeps: no NUL in a string or a key.
STORABLE = r"^[^\x00]*$"
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
ID_PATTERN = INSTANCE_ID.pattern


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _attribute(limit: int, *, required: bool) -> dict[str, Any]:
    if required:
        return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": REQUIRED_STRING}
    return {"type": ["string", "null"], "maxLength": limit, "pattern": STRING}


JSON_VALUE = {
    "description": (
        f"Any JSON value, nested at most {codec.MAX_DEPTH} levels deep, whose strings and keys hold no NUL "
        "(U+0000) and no lone surrogate."
    ),
    "pattern": STORABLE,
    "items": ref("JSONValue"),
    "additionalProperties": ref("JSONValue"),
    "propertyNames": {"pattern": STORABLE},
}


def cloud_event(*, addressed: bool = True) -> dict[str, Any]:
    """A structured CloudEvent, as durable.events.validate accepts it; `addressed` False for an
    instance's own endpoint, where the URL names the instance."""
    required = {name: _attribute(events.LIMITS[name], required=True) for name in ("id", "source", "type")}
    optional = {name: _attribute(events.LIMITS[name], required=False) for name in ("subject", "datacontenttype")}
    return {
        "type": "object",
        "description": (
            "A CloudEvent 1.0 in the JSON format. Extension attributes have names of 1-20 lower-case "
            "letters or digits and string (at most 1000 characters), integer or boolean values; "
            f"`{events.TARGET_EXTENSION}` addresses the event to one instance. Either `data` or "
            "`data_base64`, not both."
        ),
        "required": list(events.REQUIRED),
        "properties": {
            "specversion": {"type": "string", "enum": ["1.0"]},
            **required,
            **optional,
            "dataschema": _attribute(events.LIMITS["dataschema"], required=False),
            "time": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "RFC 3339, with a time zone offset; in UTC within the years 1-9999.",
            },
            "data": ref("JSONValue"),
            "data_base64": {"type": "string", "contentEncoding": "base64", "pattern": BASE64},
            # On an instance's endpoint a durableinstanceid must repeat the URL's id: left out here.
            events.TARGET_EXTENSION: {"type": "string", "pattern": ID_PATTERN} if addressed else {"not": {}},
        },
        "propertyNames": {"pattern": r"^(?:[a-z0-9]{1,20}|data_base64)$"},
        "additionalProperties": {"type": ["string", "integer", "boolean"], "maxLength": 1000, "pattern": STRING},
        "not": {"required": ["data", "data_base64"]},
    }


START = {
    "type": "object",
    "description": "The workflow's inputs; they must fit its signature (a 400 names it).",
    "additionalProperties": False,
    "properties": {
        "args": {"type": "array", "items": ref("JSONValue"), "default": []},
        "kwargs": {
            "type": "object",
            "additionalProperties": ref("JSONValue"),
            "propertyNames": {"pattern": STORABLE},
            "default": {},
        },
        "instance_id": {
            "type": ["string", "null"],
            "pattern": ID_PATTERN,
            "default": None,
            "description": "A business id that makes the start idempotent (200 when it exists); null for a new id.",
        },
    },
}
REASON = {
    "type": "object",
    "properties": {"reason": {"type": "string", "maxLength": 2000, "pattern": STORABLE, "default": ""}},
}


def components() -> dict[str, Any]:
    """The schemas the request bodies refer to, for SPECTACULAR's APPEND_COMPONENTS."""
    schemas = {
        "JSONValue": JSON_VALUE,
        "CloudEvent": cloud_event(),
        "InstanceCloudEvent": cloud_event(addressed=False),
        "CloudEventBatch": batch("CloudEvent"),
        "InstanceCloudEventBatch": batch("InstanceCloudEvent"),
        "StartRequest": START,
        "ReasonRequest": REASON,
    }
    return {"schemas": schemas}


def batch(event: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(event), "minItems": 1, "maxItems": int(settings.MAX_BATCH_EVENTS)}


def event_bodies(event: str = "CloudEvent") -> dict[str, Any]:
    """The receiver's request bodies by content type; binary mode is described in words (see RECEIVER)."""
    return {events.STRUCTURED: ref(event), events.BATCH: ref(f"{event}Batch")}


RECEIVER = (
    f"CloudEvents 1.0 over HTTP. Structured mode: one event as `{events.STRUCTURED}`. Batch mode: a "
    f"non-empty array of events as `{events.BATCH}`; one invalid event refuses the whole batch. Binary "
    "mode: any `ce-` header selects it; the attributes travel as `ce-<name>` headers (percent-encoded; "
    "`ce-specversion: 1.0`, `ce-id`, `ce-source` and `ce-type` required, the rules of the schema below "
    "apply to their values) and the body is the data, in any Content-Type (JSON types are parsed as JSON, "
    "UTF-8 text is kept as text, anything else as bytes). OpenAPI cannot tie those headers to a body, so "
    "binary mode is described here only. A body larger than DURABLE_MAX_EVENT_BYTES is a 413, and so is "
    "a batch of more than DURABLE_MAX_BATCH_EVENTS events. Nothing is stored for a refused request; a "
    "repeated (source, id) is acknowledged and counted in `duplicates`."
)

ONE_INSTANCE = (
    f" Every event goes to the instance of the URL (404 when it does not exist); a `{events.TARGET_EXTENSION}` "
    "that names another instance is a 400."
)

WHY = {
    400: "The request is malformed: the error says what to change. Nothing was stored.",
    401: "No credentials, or wrong ones.",
    403: "The user lacks the permission the endpoint needs (the error names it).",
    404: "No such instance, workflow or published key.",
    409: "The instance's status does not allow this.",
    413: "The body is over DURABLE_MAX_EVENT_BYTES, or the batch holds over DURABLE_MAX_BATCH_EVENTS events.",
    415: "The Content-Type is not one this endpoint reads.",
    503: "The database failed and nothing was stored: send the request again.",
}
HEADERS = [
    OpenApiParameter(
        "WWW-Authenticate", str, OpenApiParameter.HEADER, response=[401], required=True, description="The scheme."
    ),
    OpenApiParameter(
        "Retry-After", int, OpenApiParameter.HEADER, response=[503], required=True, description="Seconds to wait."
    ),
]


def answers(ok: dict[int, Any], *codes: int) -> dict[int, Any]:
    """Responses: the successful ones, then the JSON error of each status in `codes` (plus 401, 403, 503)."""
    statuses = sorted({*codes, 401, 403, 503})
    return {**ok, **{code: OpenApiResponse(ErrorSerializer, description=WHY[code]) for code in statuses}}


PATH: dict[str, dict[str, Any]] = {
    "instance_id": {"type": "string", "pattern": ID_PATTERN, "description": "The instance's id."},
    "key": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^/\x00]+$"},
    "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^/\s]([^/]*[^/\s])?$"},
}


def _query(name: str, schema: dict[str, Any], description: str = "") -> OpenApiParameter:
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY, description=description)


def list_parameters(statuses: list[str], max_limit: int) -> list[OpenApiParameter]:
    moment = {"type": "string", "format": "date-time"}
    return [
        _query("status", {"type": "string", "enum": statuses}),
        _query("workflow", {"type": "string", "pattern": STORABLE}, "A workflow name."),
        _query("created_after", moment, "RFC 3339, with a time zone offset."),
        _query("created_before", moment, "RFC 3339, with a time zone offset."),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": max_limit, "default": 50}),
        _query(
            "offset",
            {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0},
            "Rows to skip; `next` carries the next page's.",
        ),
    ]


def timeout_parameter(max_wait: float) -> OpenApiParameter:
    schema = {"type": "number", "minimum": 0, "maximum": max_wait, "default": 0}
    return _query("timeout", schema, "Seconds to wait for the key to be set; 0 reads once.")


class DurableAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with the operation ids the routes name."""

    def get_operation_id(self) -> str:
        return getattr(self.view, "operation_id", "") or super().get_operation_id()

    def get_override_parameters(self) -> list:
        # The route's own regexes take any segment; these are the values that can name something.
        named = [OpenApiParameter(name, schema, OpenApiParameter.PATH) for name, schema in PATH.items()]
        return [*super().get_override_parameters(), *(p for p in named if f"{{{p.name}}}" in self.path)]

    def get_request_serializer(self) -> Any:
        transition = getattr(self.view, "transition", None)
        if transition is None:
            return super().get_request_serializer()
        # Operations on an instance: cancel and pause read an optional reason, resume and retry nothing.
        return {"application/json": ref("ReasonRequest")} if transition.takes_reason else None


def described(**kwargs: Any):
    """drf-spectacular's extend_schema on a view method, built on DurableAutoSchema whatever the
    project's REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] is (DRF's own by default)."""
    kwargs["parameters"] = [*kwargs.get("parameters", []), *HEADERS]

    def decorate(method):
        method.schema = DurableAutoSchema  # the base extend_schema extends, ahead of the project's default
        return extend_schema(**kwargs)(method)

    return decorate


def finish(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Postprocessing hook for what extend_schema cannot say: a receiver's body is required (an
    empty one is no CloudEvent), and every query parameter takes an empty value as no value, as
    an HTML form sends it."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            body = operation.get("requestBody") or {}
            if events.STRUCTURED in body.get("content", {}):
                body["required"] = True
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    parameter["allowEmptyValue"] = True
    return result
