"""Business keys: what an instance is about, as a string or a model instance, and the instances of a key.

A model instance is stored as "<app_label>.<model>:<pk>" (its concrete model, lower case, as
content types and admin URLs name it), so a key reads the same whichever proxy saved it.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import models

from durable import text
from durable.exceptions import InvalidArgument
from durable.models import WorkflowInstance

MAX_LENGTH = WorkflowInstance._meta.get_field("business_key").max_length or 255


def to_key(value: Any) -> str | None:
    """The stored form of a business key: None, a string as given, or a model instance's reference.

    Raises:
        InvalidArgument: not a string or a model instance, an empty string, an unsaved instance,
            control characters, or longer than the column.
    """
    if value is None:
        return None
    if isinstance(value, models.Model):
        key = _of_model(value)
    elif isinstance(value, str):
        key = value
    else:
        raise InvalidArgument(
            f"business_key must be a string or a saved model instance, not {type(value).__name__} ({value!r})."
        )
    if not key.strip():
        raise InvalidArgument("business_key must not be empty; pass None for an instance without one.")
    why = text.problem(key)
    if why:
        raise InvalidArgument(f"business_key {key[:80]!r} cannot be stored: {why}.")
    if len(key) > MAX_LENGTH:
        raise InvalidArgument(
            f"business_key is {len(key)} characters long; at most {MAX_LENGTH} fit. Use a shorter key."
        )
    return key


def _of_model(obj: models.Model) -> str:
    # A pk set by a default (a UUID) before the first save is no reference yet: _state says so.
    if obj.pk is None or obj._state.adding:
        raise InvalidArgument(
            f"business_key {obj._meta.label} instance {obj!s} is not saved, so it has no primary key yet; "
            "save it first."
        )
    concrete = obj._meta.concrete_model or type(obj)
    return f"{concrete._meta.label_lower}:{obj.pk}"


def model_reference(key: str | None) -> tuple[type[models.Model], str] | None:
    """The model class and primary key (as text) a stored key names, or None for a plain string key."""
    if not key:
        return None
    label, sep, pk = key.partition(":")
    app_label, dot, model_name = label.partition(".")
    if not (sep and dot and pk and app_label and model_name):
        return None
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        return None
    if model._meta.label_lower != label:
        return None  # the key spells the label in another case: a string that only looks like one
    return model, pk


def instances_for(key: str | models.Model) -> models.QuerySet[WorkflowInstance]:
    """The instances started with this business key, newest first (ties by id).

    Args:
        key: the key as given to `start`: a string or a saved model instance.

    Returns:
        A QuerySet of WorkflowInstance, to filter further or slice.

    Raises:
        InvalidArgument: the key is not one `start` would take (None included).
    """
    stored = to_key(key)
    if stored is None:
        raise InvalidArgument("instances_for needs a business key (a string or a saved model instance), not None.")
    return WorkflowInstance.objects.filter(business_key=stored).order_by("-created_at", "id")
