"""What the OpenAPI schema says of each endpoint beyond its body (see bodies): parameters, answers, operation ids."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from durable import business_keys, events, text
from durable.api.bodies import ID_PATTERN, STRING, ref
from durable.api.serializers import ErrorSerializer
from durable.conf import CODE_VERSION_MAX

WHY = {
    400: "The request is malformed: the error says what to change. Nothing was stored.",
    401: "No credentials, or wrong ones.",
    403: "The user lacks the permission the endpoint needs (the error names it).",
    404: "No such instance, workflow, schedule or published key.",
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
    """Responses: the successful ones, then the JSON error of each status in `codes` (plus 400, 401,
    403 and 503, which any endpoint may answer: a path or query parameter holding a control
    character is a 400 everywhere)."""
    statuses = sorted({*codes, 400, 401, 403, 503})
    return {**ok, **{code: OpenApiResponse(ErrorSerializer, description=WHY[code]) for code in statuses}}


PATH: dict[str, dict[str, Any]] = {
    "instance_id": {"type": "string", "pattern": ID_PATTERN, "description": "The instance's id."},
    "key": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": rf"^[^/{text.CONTROL}]+$"},
    "name": {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "pattern": rf"^[^/\s{text.CONTROL}]([^/{text.CONTROL}]*[^/\s{text.CONTROL}])?$",
    },
}


def _query(name: str, schema: dict[str, Any], description: str = "") -> OpenApiParameter:
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY, description=description)


def list_parameters(statuses: list[str], max_limit: int) -> list[OpenApiParameter]:
    moment = {"type": "string", "format": "date-time"}
    return [
        _query("status", {"type": "string", "enum": statuses}),
        _query("workflow", {"type": "string", "pattern": STRING}, "A workflow name."),
        _query(
            "business_key",
            {"type": "string", "maxLength": business_keys.MAX_LENGTH, "pattern": STRING},
            'Only instances with this business key, exactly as stored (a model instance as "app_label.model:pk").',
        ),
        _query(
            "code_version",
            {"type": "string", "maxLength": CODE_VERSION_MAX, "pattern": STRING},
            "Only instances started with this DURABLE_CODE_VERSION.",
        ),
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
        # Operations on an instance: cancel and pause read an optional reason (cancel also whether to
        # compensate), resume and retry nothing.
        if not transition.takes_reason:
            return None
        return {"application/json": ref("CancelRequest" if transition.name == "cancel" else "ReasonRequest")}


def described(**kwargs: Any):
    """drf-spectacular's extend_schema on a view method, built on DurableAutoSchema whatever the
    project's REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] is (DRF's own by default)."""
    kwargs["parameters"] = [*kwargs.get("parameters", []), *HEADERS]

    def decorate(method):
        method.schema = DurableAutoSchema  # the base extend_schema extends, ahead of the project's default
        return extend_schema(**kwargs)(method)

    return decorate


# Operations whose JSON body is required (extend_schema marks none so).
BODY_REQUIRED = frozenset({"bulk_operate", "fork_instance"})


def finish(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Postprocessing hook for what extend_schema cannot say: a receiver's body is required (an
    empty one is no CloudEvent), and every query parameter takes an empty value as no value, as
    an HTML form sends it."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            body = operation.get("requestBody") or {}
            if events.STRUCTURED in body.get("content", {}) or operation.get("operationId") in BODY_REQUIRED:
                body["required"] = True  # a bulk operation always names its filters, a fork its position
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    parameter["allowEmptyValue"] = True
    return result
