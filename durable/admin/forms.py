"""The small forms of the instance page: send an event to it, give a reason for an operation."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from durable.engine import codec
from durable.exceptions import EncodingError
from durable.words import readable

ADMIN_SOURCE = "/durable/admin"


class JSONDataField(forms.JSONField):
    """A JSON field for which JSON nested past the interpreter's stack is a form error, not a 500."""

    def to_python(self, value: Any) -> Any:
        try:
            parsed = super().to_python(value)
        except RecursionError:
            raise ValidationError("The data is nested too deeply.", code="invalid") from None
        try:
            codec.encode(parsed, where="The data")
        except EncodingError as exc:
            raise ValidationError(str(exc), code="invalid") from None
        return parsed

    def bound_data(self, data: Any, initial: Any) -> Any:
        # What was typed, as typed: re-rendering parsed JSON could put a lone surrogate in the page.
        return InvalidJSONInput(data) if isinstance(data, str) else super().bound_data(data, initial)


class SendEventForm(forms.Form):
    """A CloudEvent addressed to one instance."""

    type = forms.CharField(max_length=255, help_text="The CloudEvents type, e.g. payment.completed.")
    source = forms.CharField(max_length=500, initial=ADMIN_SOURCE, help_text="Who sends it (a URI reference).")
    subject = forms.CharField(max_length=500, required=False, help_text="Optional CloudEvents subject.")
    # Not `data`: Form.data is the submitted data.
    event_data = JSONDataField(
        label="Data",
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField durable-code"}),
        help_text="The event's data, as JSON.",
    )

    @classmethod
    def for_wait(cls, summary: dict[str, Any] | None) -> SendEventForm:
        """A form filled in with what the instance waits for: its type, subject and match fields."""
        initial: dict[str, Any] = {}
        if summary and summary.get("kind") == "event":
            types = summary.get("types") or []
            if types:
                initial["type"] = types[0]
            if summary.get("subject") is not None:
                initial["subject"] = summary["subject"]
            match = readable(summary.get("match") or {})
            if isinstance(match, dict) and match:
                initial["event_data"] = nested(match)
        return cls(initial=initial)


def nested(flat: dict[str, Any]) -> dict[str, Any]:
    """{"customer.id": 7} -> {"customer": {"id": 7}}: the data a match on dotted paths accepts."""
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        node = tree
        *parents, last = path.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[last] = value
    return tree
