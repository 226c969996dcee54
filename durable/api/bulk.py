"""Bulk operations over HTTP: POST /instances/bulk/{operation}/ with the list's filters, GET its progress."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers, status
from rest_framework.response import Response

from durable import bulk, business_keys, permissions
from durable.api import errors
from durable.api.bodies import STRING
from durable.api.openapi import answers, described
from durable.api.views import DurableView
from durable.models import BulkOperation, Status
from durable.worker import bulk as jobs

TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


class BulkRequestSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    workflow = serializers.RegexField(STRING, required=False, max_length=200)
    business_key = serializers.RegexField(STRING, required=False, max_length=business_keys.MAX_LENGTH)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    search = serializers.RegexField(STRING, required=False, max_length=200)
    ids = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=bulk.MAX_IDS)
    all = serializers.BooleanField(required=False, default=False, help_text="Every instance, when no filter is given.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


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
    "operation", {"type": "string", "enum": list(bulk.OPERATIONS)}, OpenApiParameter.PATH, description="What to apply."
)
JOB_ID = OpenApiParameter("job_id", {"type": "integer", "minimum": 1}, OpenApiParameter.PATH)


def _flag(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in TRUE + FALSE:
        return raw.lower() in TRUE
    raise errors.BadRequest(f"all must be true or false, not {raw!r:.40}.")


class BulkOperate(DurableView):
    """Apply an operation to every instance the filters match: inline up to DURABLE_BULK_INLINE_LIMIT
    instances (200 with the counts), in the background above it (202; follow `Location` for progress)."""

    def get_required_permission(self) -> str:
        name = self.kwargs.get("operation", "")
        if name not in bulk.OPERATIONS:
            raise errors.BadRequest(f"There is no bulk operation {name!r}; use one of {', '.join(bulk.OPERATIONS)}.")
        return bulk.OPERATIONS[name].permission

    @described(
        parameters=[OPERATION],
        request=BulkRequestSerializer,
        responses=answers({200: BulkOperationSerializer, 202: BulkOperationSerializer}, 400, 415),
        summary="Apply cancel, pause, resume or retry to every instance that matches the filters",
    )
    def post(self, request, operation: str) -> Response:
        given = request.data if request.body else {}
        if not isinstance(given, dict):
            raise errors.BadRequest(f'The body must be a JSON object such as {{"status": "paused"}}, not {given!r:.30}')
        # The list's filters may come in the query string too, as GET /instances/ takes them.
        fields: dict[str, Any] = {**request.query_params.dict(), **given}
        everything = _flag(fields.pop("all", False))
        reason = fields.pop("reason", "")
        if not isinstance(reason, str):
            raise errors.BadRequest("reason must be a string.")
        user = request.user
        job = bulk.request(
            operation,
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


class BulkProgress(DurableView):
    required_permission = permissions.qualified(permissions.VIEW_INSTANCE)

    @described(
        parameters=[JOB_ID],
        responses=answers({200: BulkOperationSerializer}, 404),
        summary="A bulk operation's progress",
    )
    def get(self, request, job_id: str) -> Response:
        job = BulkOperation.objects.filter(pk=int(job_id)).first() if len(job_id) < 18 else None
        if job is None:
            raise Http404(f"There is no bulk operation {job_id}.")
        return Response(BulkOperationSerializer(job).data)
