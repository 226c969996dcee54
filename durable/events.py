"""CloudEvents validation: what makes an event acceptable, as one record shape (no Django)."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from typing import Any

from durable.engine import codec
from durable.exceptions import EncodingError, InvalidEvent

logger = logging.getLogger(__name__)

REQUIRED = ("specversion", "id", "source", "type")
STANDARD = frozenset(
    {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data", "data_base64"}
)
EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
TARGET_EXTENSION = "durableinstanceid"
LIMITS = {"id": 255, "source": 500, "type": 255, "subject": 500, "datacontenttype": 200, "dataschema": 500}


def _text(attributes: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = attributes.get(name)
    if value is None:
        if required:
            raise InvalidEvent(f"The event has no '{name}'; CloudEvents 1.0 requires id, source, type and specversion.")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidEvent(f"The event's '{name}' must be a non-empty string, not {value!r}.")
    if len(value) > LIMITS.get(name, 500):
        raise InvalidEvent(f"The event's '{name}' is longer than {LIMITS.get(name, 500)} characters.")
    return value


def validate(attributes: dict[str, Any], data: Any = None) -> dict[str, Any]:
    """Check CloudEvents 1.0 attributes and return the record durable stores.

    Args:
        attributes: specversion, id, source, type, and optional subject, time, datacontenttype,
            dataschema and extensions (lower-case alphanumeric names, string/number/bool values).
        data: the event's data: JSON data (or bytes/str for other content types).

    Returns:
        {"id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data",
        "extensions", "target"}; data is a codec tree, target the durableinstanceid extension.

    Raises:
        InvalidEvent: a required attribute is missing or an attribute is malformed.
    """
    if not isinstance(attributes, dict):
        raise InvalidEvent(f"An event must be a JSON object, not {type(attributes).__name__}.")
    spec = attributes.get("specversion")
    if spec is None:
        raise InvalidEvent("The event has no 'specversion'; send specversion \"1.0\".")
    if spec != "1.0":
        raise InvalidEvent(f'specversion {spec!r} is not supported; send "1.0".')
    record: dict[str, Any] = {name: _text(attributes, name, required=True) for name in ("id", "source", "type")}
    for name in ("subject", "datacontenttype", "dataschema"):
        record[name] = _text(attributes, name, required=False)
    record["time"] = _time(attributes.get("time"))
    extensions = {}
    for name, value in attributes.items():
        if name in STANDARD:
            continue
        if not EXTENSION_NAME.match(name):
            raise InvalidEvent(f"Extension attribute {name!r} is invalid: names are 1-20 lower-case letters or digits.")
        if not isinstance(value, str | int | bool) or isinstance(value, str) and len(value) > 1000:
            raise InvalidEvent(f"Extension attribute {name!r} must be a string, integer or boolean.")
        extensions[name] = value
    target = extensions.get(TARGET_EXTENSION)
    if target is not None and (not isinstance(target, str) or not target):
        raise InvalidEvent(f"The {TARGET_EXTENSION} extension must be an instance id string.")
    record["extensions"] = extensions
    record["target"] = target
    try:
        record["data"] = codec.encode(data, where="event data")
    except EncodingError as exc:
        raise InvalidEvent(str(exc)) from None
    return record


def _time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidEvent(f"The event's 'time' {value!r} is not an RFC 3339 timestamp.") from None
    else:
        raise InvalidEvent(f"The event's 'time' must be an RFC 3339 string, not {value!r}.")
    if moment.tzinfo is None:
        raise InvalidEvent(f"The event's 'time' {value!r} has no time zone offset.")
    return moment.isoformat()


def build(
    event_type: str,
    source: str,
    data: Any = None,
    *,
    subject: str | None = None,
    event_id: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A record for an event sent from Python code (a new uuid4 id unless given)."""
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id if event_id is not None else str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        **(extensions or {}),
    }
    if subject is not None:
        attributes["subject"] = subject
    attributes["datacontenttype"] = "application/octet-stream" if isinstance(data, bytes) else "application/json"
    return validate(attributes, data)
