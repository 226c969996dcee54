"""Representations of the read model (durable.inspect): instances, their history, waits, timers and events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from durable import business_keys, inspect, text
from durable.engine import codec
from durable.engine.types import choices


class PlainJSONField(serializers.Field):
    """A stored codec tree, shown as plain JSON."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        return codec.to_plain(value)


extend_schema_field(OpenApiTypes.ANY)(PlainJSONField)


COMPENSATION_SCHEMA = {
    "type": ["object", "null"],
    "description": "A saga's progress once its compensations began; null before.",
    "properties": {
        "after": {"type": "string", "enum": ["failed", "cancelled", "compensate"], "description": "Why they run."},
        "done": {"type": "integer", "minimum": 0},
        "skipped": {"type": "integer", "minimum": 0, "description": "Gone past by a resume after a failure."},
        "total": {"type": "integer", "minimum": 0},
        "reason": {"type": "string", "description": "A cancel's reason."},
    },
    "required": ["after", "done", "skipped", "total"],
}


class CompensationField(serializers.JSONField):
    """An instance's saga progress as stored."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)


extend_schema_field(COMPENSATION_SCHEMA)(CompensationField)


def _text(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(read_only=True, **kwargs)


def _moment(**kwargs: Any) -> serializers.DateTimeField:
    return serializers.DateTimeField(read_only=True, **kwargs)


def _number() -> serializers.IntegerField:
    return serializers.IntegerField(read_only=True)


def _label(what: str) -> serializers.CharField:
    return _text(allow_null=True, help_text=f"The workflow's name for {what} (label=...), or null.")


def _stored() -> serializers.JSONField:
    return serializers.JSONField(read_only=True)


# The serializers below carry no docstrings: drf-spectacular would publish them as schema descriptions.


class InstanceSerializer(serializers.Serializer):  # an inspect.Summary
    instance_id = _text()
    workflow_name = _text()
    status = serializers.ChoiceField(choices=inspect.Status.choices, read_only=True)
    status_reason = _text()
    business_key = _text(allow_null=True)
    input = PlainJSONField()
    result = PlainJSONField()
    error = _stored()
    created_at = _moment()
    updated_at = _moment()
    finished_at = _moment(allow_null=True)
    waiting_for = _stored()
    compensation = CompensationField()
    compensated = serializers.BooleanField(read_only=True)
    erased_at = _moment(allow_null=True, help_text='When its data was erased: payloads then hold "[erased]".')
    erase_reason = _text(allow_null=True, help_text="Why it was erased; null when it was not.")
    code_version = _text(allow_null=True, help_text="DURABLE_CODE_VERSION where it was started; null when unset.")
    details = _text(help_text='What its workflow last said it is doing (ctx.set_details); "" when nothing.')
    forked_from = _text(allow_null=True, help_text="The instance it was forked from (restart from a step), or null.")
    fork_position = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="How many of the original's steps it kept, or null."
    )
    parent_id = _text(allow_null=True, help_text="The instance that started it with ctx.start_child, or null.")
    detached = serializers.BooleanField(read_only=True, help_text="Started detached: a cancel of its parent leaves it.")
    run = serializers.IntegerField(read_only=True, help_text="Its run, from 1; one more at each continue_as_new.")


class StepSerializer(serializers.Serializer):  # an inspect.StepView
    run = serializers.IntegerField(read_only=True, help_text="The run it belongs to (positions restart in each run).")
    position = _number()
    kind = _text()
    name = _text()
    status = _text()
    attempt = _number()
    input = PlainJSONField()
    result = PlainJSONField()
    error = _stored()
    failures = _stored()
    retry_at = _moment(allow_null=True)
    started_at = _moment(allow_null=True)
    recorded_at = _moment()


class WaitSerializer(serializers.Serializer):  # an inspect.WaitView
    position = _number()
    event_type = _text()
    match = PlainJSONField()
    subject = _text(allow_null=True)
    timeout_at = _moment(allow_null=True)
    # As `source` below: declared fields leave the class, so this never shadows Field.label.
    label = _label("the wait")  # type: ignore[assignment]
    created_at = _moment()


class TimerSerializer(serializers.Serializer):  # an inspect.TimerView
    position = serializers.IntegerField(read_only=True, allow_null=True)  # null: a delayed start's
    purpose = serializers.ChoiceField(choices=choices(inspect.Purpose), read_only=True)
    name = _text()
    due_at = _moment()
    label = _label("the wait it ends")  # type: ignore[assignment]
    created_at = _moment()


class EventSerializer(serializers.Serializer):  # an inspect.EventView, without how it was delivered
    id = _text(source="event_id")
    # The metaclass takes declared fields out of the class, so this never shadows Field.source.
    source = _text()  # type: ignore[assignment]
    type = _text()
    subject = _text(allow_null=True)
    time = _moment(allow_null=True)
    received_at = _moment()

    def to_representation(self, instance: inspect.EventView) -> dict[str, Any]:
        # "data" is added here: a declared field of that name would hide Serializer.data.
        return {**super().to_representation(instance), "data": codec.to_plain(instance.data)}


def _event_schema(*, delivered: bool) -> dict[str, Any]:
    """An event as EventSerializer (and _received, for a delivered one) renders it."""
    properties: dict[str, Any] = {
        "id": {"type": "string"},
        "source": {"type": "string"},
        "type": {"type": "string"},
        "subject": {"type": ["string", "null"]},
        "time": {"type": ["string", "null"], "format": "date-time"},
        "received_at": {"type": "string", "format": "date-time"},
        "data": {"description": "The event's data as plain JSON."},
    }
    if delivered:
        properties["delivery"] = {"type": "string", "enum": list(inspect.DeliveryKind.values)}
        properties["position"] = {"type": ["integer", "null"], "description": "The step it resumed, if any."}
        properties["delivered_at"] = {"type": "string", "format": "date-time"}
    return {"type": "object", "properties": properties, "required": list(properties)}


EVENTS_SCHEMA = {
    "type": "object",
    "properties": {
        "received": {"type": "array", "items": _event_schema(delivered=True)},
        "queued": {"type": "array", "items": _event_schema(delivered=False)},
    },
    "required": ["received", "queued"],
}
VALUES_SCHEMA = {"type": "object", "additionalProperties": {}, "description": "Published values by key."}


def _received(event: inspect.EventView) -> dict[str, Any]:
    # delivered_at is left to the JSON encoder (UTC), as it always was, not to a DateTimeField.
    delivery = {"delivery": event.delivery, "position": event.position, "delivered_at": event.delivered_at}
    return {**EventSerializer(event).data, **delivery}


class ChildSerializer(serializers.Serializer):  # an inspect.ChildView
    instance_id = _text()
    workflow_name = _text()
    status = serializers.ChoiceField(choices=inspect.Status.choices, read_only=True)
    detached = serializers.BooleanField(read_only=True)
    created_at = _moment()


class InstanceDetailSerializer(InstanceSerializer):  # an inspect.InstanceView
    incidents = _stored()
    children = ChildSerializer(many=True, read_only=True)
    history = StepSerializer(many=True, read_only=True)
    waits = WaitSerializer(many=True, read_only=True)
    timers = TimerSerializer(many=True, read_only=True)
    events = serializers.SerializerMethodField()
    values = serializers.SerializerMethodField()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for name in InstanceSerializer._declared_fields:
            fields[name].source = f"summary.{name}"
        return fields

    @extend_schema_field(EVENTS_SCHEMA)
    def get_events(self, view: inspect.InstanceView) -> dict[str, Any]:
        return {
            "received": [_received(event) for event in view.delivered],
            "queued": EventSerializer(view.queued, many=True).data,
        }

    @extend_schema_field(VALUES_SCHEMA)
    def get_values(self, view: inspect.InstanceView) -> dict[str, Any]:
        return {value.key: codec.to_plain(value.value) for value in view.values}


class StrictText(serializers.CharField):
    """A string and nothing else (DRF's CharField would take 7 as "7"), free of control characters."""

    def __init__(self, *, free_text: bool = False, **kwargs: Any) -> None:
        self.free_text = free_text
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError(f"Expected a string, not {type(data).__name__}.")
        why = text.problem(data, free_text=self.free_text)
        if why:
            raise serializers.ValidationError(f"Not a plain string: {why}.")
        return super().to_internal_value(data)


class AwareDateTime(serializers.Field):
    """An ISO 8601 date and time with a UTC offset ("2026-12-01T03:00:00Z"); a naive one is refused."""

    def to_internal_value(self, data: Any) -> dt.datetime:
        if not isinstance(data, str):
            raise serializers.ValidationError(f"Expected an ISO 8601 string, not {type(data).__name__}.")
        try:
            moment = dt.datetime.fromisoformat(data)
        except ValueError:
            raise serializers.ValidationError("Not an ISO 8601 date and time.") from None
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise serializers.ValidationError("Give a UTC offset (e.g. Z or +01:00): a local time is ambiguous.")
        return moment

    def to_representation(self, value: dt.datetime) -> str:
        return value.isoformat()


class Seconds(serializers.Field):
    """A number of seconds, as JSON's number (not a string, not true or false)."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise serializers.ValidationError(f"Expected a number of seconds, not {type(data).__name__}.")
        return float(data)

    def to_representation(self, value: float) -> float:
        return value


class StartSerializer(serializers.Serializer):
    # Any JSON value is an input, null too.
    args = serializers.ListField(child=serializers.JSONField(allow_null=True), required=False, default=list)
    kwargs = serializers.DictField(child=serializers.JSONField(allow_null=True), required=False, default=dict)
    instance_id = StrictText(required=False, allow_null=True, default=None, max_length=200)
    # Kept as sent, as durable.start keeps it: a key is compared exactly.
    business_key = StrictText(
        required=False, allow_null=True, default=None, max_length=business_keys.MAX_LENGTH, trim_whitespace=False
    )
    # SPEC 13: when to start, one or the other (as the schema says: both present is refused).
    start_at = AwareDateTime(required=False, allow_null=True, default=None)
    start_in = Seconds(required=False, allow_null=True, default=None)
    # SPEC 14: the queue (the workflow's own when null) and the priority in its line.
    queue = StrictText(required=False, allow_null=True, default=None, max_length=100)
    priority = serializers.IntegerField(required=False, default=0, min_value=-100, max_value=100)

    def validate(self, attrs: dict) -> dict:
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        if "start_at" in self.initial_data and "start_in" in self.initial_data:
            raise serializers.ValidationError("Give start_at or start_in, not both.")
        return attrs


class StrictBoolean(serializers.BooleanField):
    """true or false and nothing else (DRF's BooleanField would take "yes" and 1)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise serializers.ValidationError(f"Expected true or false, not {type(data).__name__}.")
        return data


class ReasonSerializer(serializers.Serializer):
    reason = StrictText(free_text=True, required=False, allow_blank=True, default="", max_length=2000)


class CancelSerializer(ReasonSerializer):
    compensate = StrictBoolean(required=False, default=True)


class EraseSerializer(ReasonSerializer):
    cancel = StrictBoolean(required=False, default=False)

    def validate(self, attrs: dict) -> dict:
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        return attrs


class StepNumber(serializers.Field):
    """A history position: a JSON integer from 0 (2.0 is one too, as JSON Schema says; not a string or true)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError(f"Expected a whole number of steps, not {data!r:.40}.")
        if data < 0:
            raise serializers.ValidationError("Expected a position from 0.")
        return data

    def to_representation(self, value: int) -> int:
        return value


class ForkSerializer(serializers.Serializer):
    from_position = StepNumber()
    instance_id = StrictText(required=False, allow_null=True, default=None, max_length=200)

    def validate(self, attrs: dict) -> dict:
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        return attrs


class InstancePageSerializer(serializers.Serializer):
    """A page of the instance list, as GET /instances/ answers it."""

    results = InstanceSerializer(many=True, read_only=True)
    next = serializers.URLField(allow_null=True, read_only=True, help_text="The next page, or null on the last.")


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
