"""Representations of instances, their history, waits, timers and events."""

from __future__ import annotations

import logging
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from durable.engine import codec
from durable.models import Delivery, Event, HistoryStep, Timer, Wait, WorkflowInstance

logger = logging.getLogger(__name__)


class PlainJSONField(serializers.Field):
    """A stored codec tree, shown as plain JSON."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        return codec.to_plain(value)


extend_schema_field(OpenApiTypes.ANY)(PlainJSONField)


class InstanceSerializer(serializers.ModelSerializer):
    instance_id = serializers.CharField(source="id", read_only=True)
    input = PlainJSONField()
    result = PlainJSONField()
    error = serializers.JSONField(read_only=True)
    waiting_for = serializers.JSONField(read_only=True)

    class Meta:
        model = WorkflowInstance
        fields = [
            "instance_id",
            "workflow_name",
            "status",
            "status_reason",
            "input",
            "result",
            "error",
            "created_at",
            "updated_at",
            "finished_at",
            "waiting_for",
        ]
        read_only_fields = fields


class StepSerializer(serializers.ModelSerializer):
    input = PlainJSONField()
    result = PlainJSONField()
    error = serializers.JSONField(read_only=True)
    failures = serializers.JSONField(read_only=True)

    class Meta:
        model = HistoryStep
        fields = [
            "position",
            "kind",
            "name",
            "status",
            "attempt",
            "input",
            "result",
            "error",
            "failures",
            "retry_at",
            "started_at",
            "recorded_at",
        ]
        read_only_fields = fields


class WaitSerializer(serializers.ModelSerializer):
    match = PlainJSONField()

    class Meta:
        model = Wait
        fields = ["position", "event_type", "match", "subject", "timeout_at", "created_at"]
        read_only_fields = fields


class TimerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Timer
        fields = ["position", "purpose", "name", "due_at", "created_at"]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="event_id", read_only=True)

    class Meta:
        model = Event
        fields = ["id", "source", "type", "subject", "time", "received_at"]
        read_only_fields = fields

    def to_representation(self, instance: Event) -> dict[str, Any]:
        # "data" is added here: a declared field of that name would hide Serializer.data.
        return {**super().to_representation(instance), "data": codec.to_plain(instance.data)}


class InstanceDetailSerializer(InstanceSerializer):
    history = serializers.SerializerMethodField()
    waits = serializers.SerializerMethodField()
    timers = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()
    values = serializers.SerializerMethodField()
    incidents = serializers.JSONField(read_only=True)

    class Meta(InstanceSerializer.Meta):
        fields = [*InstanceSerializer.Meta.fields, "incidents", "history", "waits", "timers", "events", "values"]
        read_only_fields = fields

    @extend_schema_field(StepSerializer(many=True))
    def get_history(self, instance: WorkflowInstance) -> Any:
        return StepSerializer(instance.steps.order_by("position"), many=True).data

    @extend_schema_field(WaitSerializer(many=True))
    def get_waits(self, instance: WorkflowInstance) -> Any:
        return WaitSerializer(instance.waits.order_by("position", "event_type"), many=True).data

    @extend_schema_field(TimerSerializer(many=True))
    def get_timers(self, instance: WorkflowInstance) -> Any:
        return TimerSerializer(instance.timers.order_by("due_at"), many=True).data

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_events(self, instance: WorkflowInstance) -> dict:
        deliveries = Delivery.objects.filter(instance=instance).select_related("event").order_by("delivered_at")
        received = [
            {
                **EventSerializer(d.event).data,
                "delivery": d.kind,
                "position": d.position,
                "delivered_at": d.delivered_at,
            }
            for d in deliveries
        ]
        queued = Event.objects.filter(target=instance).exclude(deliveries__instance=instance).order_by("seq")
        return {"received": received, "queued": EventSerializer(queued, many=True).data}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_values(self, instance: WorkflowInstance) -> dict:
        return {key: codec.to_plain(value) for key, value in instance.values.values_list("key", "value")}


class StartSerializer(serializers.Serializer):
    args = serializers.ListField(child=serializers.JSONField(), required=False, default=list)
    kwargs = serializers.DictField(child=serializers.JSONField(), required=False, default=dict)
    instance_id = serializers.CharField(required=False, allow_null=True, default=None, max_length=200)

    def validate(self, attrs: dict) -> dict:
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        return attrs


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ReceiptSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    resumed = serializers.ListField(child=serializers.CharField())
    started = serializers.ListField(child=serializers.CharField())


class PublishedValueSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.JSONField()


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    error_type = serializers.CharField()
    retryable = serializers.BooleanField()
