"""Bulk operations over HTTP: POST /instances/bulk/{operation}/ with the list's filters, GET its progress."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers, status
from rest_framework.response import Response

from durable import bulk, bulk_filters, business_keys, inspect, permissions
from durable.api import errors
from durable.api.bodies import FREE_TEXT, STRING
from durable.api.openapi import answers, described
from durable.api.views import DurableView
from durable.conf import CODE_VERSION_MAX
from durable.worker import bulk as jobs

TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def _request_schema() -> dict[str, Any]:
    """The body: the list's filters (at least one, or all=true), a reason."""
    statuses = {"type": "string", "enum": list(inspect.Status.values)}
    text = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": STRING}
    moment = {"type": "string", "format": "date-time"}
    properties = {
        "status": {"anyOf": [statuses, {"type": "array", "items": statuses, "minItems": 1}]},
        "workflow": text,
        "business_key": {**text, "maxLength": business_keys.MAX_LENGTH},
        "code_version": {**text, "maxLength": CODE_VERSION_MAX},
        "created_after": moment,
        "created_before": moment,
        "search": text,
        "ids": {"type": "array", "items": text, "minItems": 1, "maxItems": bulk_filters.MAX_IDS},
        "all": {"type": "boolean", "description": "Every instance, when no filter is given."},
        "reason": {"type": "string", "maxLength": 2000, "pattern": FREE_TEXT},
    }
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "anyOf": [
            *({"required": [name]} for name in bulk_filters.FILTERS),
            {"required": ["all"], "properties": {"all": {"const": True}}},
        ],
    }


class BulkOperationSerializer(serializers.Serializer):  # a durable.models.BulkOperation
    id = serializers.IntegerField(read_only=True)
    operation = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)  # type: ignore[assignment]
    background = serializers.BooleanField(read_only=True)
    filters = serializers.JSONField(read_only=True)
    reason = serializers.CharField(read_only=True)
    requested_by = serializers.CharField(read_only=True)
    total = serializers.IntegerField(read_only=True)
    done = serializers.IntegerField(read_only=True)
    skipped = serializers.IntegerField(read_only=True)
    failed = serializers.IntegerField(read_only=True)
    last_error = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)


OPERATION = OpenApiParameter(
    "target", {"type": "string", "enum": list(bulk.OPERATIONS)}, OpenApiParameter.PATH, description="What to apply."
)
JOB_ID = OpenApiParameter(
    "target", {"type": "integer", "minimum": 1}, OpenApiParameter.PATH, description="The bulk operation's id."
)


def _flag(raw: Any, *, from_query: bool) -> bool:
    if isinstance(raw, bool):
        return raw
    if from_query and isinstance(raw, str) and raw.lower() in TRUE + FALSE:
        return raw.lower() in TRUE
    raise errors.BadRequest(f"all must be true or false, not {raw!r:.40}.")


class BulkOperations(DurableView):
    """POST applies an operation to every instance the filters match: inline up to
    DURABLE_BULK_INLINE_LIMIT instances (200 with the counts), in the background above it (202;
    `Location` is its progress). GET reads a bulk operation's progress."""

    def get_required_permission(self) -> str:
        if self.request.method != "POST":
            return permissions.qualified(permissions.VIEW_INSTANCE)
        name = self.kwargs.get("target", "")
        if name not in bulk.OPERATIONS:
            raise errors.BadRequest(f"There is no bulk operation {name!r}; use one of {', '.join(bulk.OPERATIONS)}.")
        return bulk.OPERATIONS[name].permission

    @described(
        operation_id="bulk_operate",
        parameters=[OPERATION],
        request={"application/json": _request_schema()},
        responses=answers({200: BulkOperationSerializer, 202: BulkOperationSerializer}, 400, 415),
        summary="Apply cancel, pause, resume or retry to every instance that matches the filters",
    )
    def post(self, request, target: str) -> Response:
        given = request.data if request.body else {}
        if not isinstance(given, dict):
            raise errors.BadRequest(f'The body must be a JSON object such as {{"status": "paused"}}, not {given!r:.30}')
        nulls = sorted(name for name, value in given.items() if value is None)
        if nulls:
            raise errors.BadRequest(f"{nulls[0]} is null; leave it out of the body not to filter by it.")
        # The list's filters may come in the query string too, as GET /instances/ takes them.
        fields: dict[str, Any] = {**request.query_params.dict(), **given}
        everything = _flag(fields.pop("all", False), from_query="all" not in given)
        reason = fields.pop("reason", "")
        if not isinstance(reason, str):
            raise errors.BadRequest("reason must be a string.")
        user = request.user
        job = bulk.request(
            target,
            fields,
            everything=everything,
            reason=reason,
            requested_by=f"{user} (API)",
            user_id=getattr(user, "pk", None),
        )
        background = jobs.start(job.pk)
        job.refresh_from_db()
        answer = Response(BulkOperationSerializer(job).data, status=status.HTTP_202_ACCEPTED if background else 200)
        if background:
            answer["Location"] = request.build_absolute_uri(f"{request.path.rstrip('/').rsplit('/', 1)[0]}/{job.pk}/")
        return answer

    @described(
        operation_id="get_bulk_operation",
        parameters=[JOB_ID],
        responses=answers({200: BulkOperationSerializer}, 404),
        summary="A bulk operation's progress",
    )
    def get(self, request, target: str) -> Response:
        job = None
        if target.isascii() and target.isdigit() and len(target) < 18:
            job = bulk.get(int(target))
        if job is None:
            raise Http404(f"There is no bulk operation {target}.")
        return Response(BulkOperationSerializer(job).data)
