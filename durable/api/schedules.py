"""The schedules endpoints: GET /schedules/ and POST /schedules/{name}/pause|resume|trigger/."""

from __future__ import annotations

import logging

from rest_framework import serializers, status
from rest_framework.response import Response

from durable import permissions, schedules
from durable.api.openapi import answers, described
from durable.api.views import DurableView
from durable.engine import cron as crons

logger = logging.getLogger(__name__)


class ScheduleSerializer(serializers.Serializer):  # a durable.models.Schedule
    name = serializers.CharField(read_only=True)
    workflow_name = serializers.CharField(read_only=True)
    cron = serializers.CharField(read_only=True)
    description = serializers.SerializerMethodField()
    timezone = serializers.CharField(read_only=True)
    args = serializers.JSONField(read_only=True)
    kwargs = serializers.JSONField(read_only=True)
    overlap = serializers.ChoiceField(choices=crons.OVERLAPS, read_only=True)
    catchup = serializers.ChoiceField(choices=crons.CATCHUPS, read_only=True)
    catchup_window = serializers.SerializerMethodField()
    paused = serializers.BooleanField(read_only=True)
    source = serializers.CharField(read_only=True)  # type: ignore[assignment]
    next_slot_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_slot_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_instance_id = serializers.CharField(read_only=True, allow_null=True)
    retired_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def get_description(self, row) -> str:
        return crons.describe(row.cron)

    def get_catchup_window(self, row) -> float:
        return row.catchup_window.total_seconds()


class ScheduleListSerializer(serializers.Serializer):
    schedules = ScheduleSerializer(many=True, read_only=True)


class ScheduleList(DurableView):
    required_permission = permissions.qualified(permissions.VIEW_SCHEDULE)

    @described(responses=answers({200: ScheduleListSerializer}), summary="Every cron schedule, by name")
    def get(self, request) -> Response:
        return Response(ScheduleListSerializer({"schedules": schedules.all()}).data)


class _ScheduleOperation(DurableView):
    """POST an operation on one schedule; it reads no body."""

    action = "pause"
    answer: int = status.HTTP_200_OK

    def get_required_permission(self) -> str:
        return permissions.qualified(permissions.SCHEDULE_OPERATIONS[self.action][0])

    @described(request=None, responses=answers({200: ScheduleSerializer, 201: ScheduleSerializer}, 404))
    def post(self, request, name: str) -> Response:
        getattr(schedules, self.action)(name)
        logger.info("schedule %s over HTTP", self.action, extra={"schedule": name, "user": str(request.user)})
        return Response(ScheduleSerializer(schedules.get(name)).data, status=self.answer)


class PauseSchedule(_ScheduleOperation):
    """Pause a schedule: no slot fires until it is resumed."""

    action = "pause"


class ResumeSchedule(_ScheduleOperation):
    """Resume a schedule: it fires from its next slot after now."""

    action = "resume"


class TriggerSchedule(_ScheduleOperation):
    """Start one run of the schedule now (201); its instance id is the answer's last_instance_id."""

    action = "trigger"
    answer = status.HTTP_201_CREATED
