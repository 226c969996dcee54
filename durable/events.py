"""CloudEvents validation: what makes an event acceptable, as one record shape (no Django)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import uuid
from typing import Any
from urllib.parse import unquote

from cloudevents.core.formats.json import JSONFormat

from durable import text
from durable.engine import codec
from durable.exceptions import EncodingError, InvalidEvent

REQUIRED = ("specversion", "id", "source", "type")
STANDARD = frozenset(
    {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data", "data_base64"}
)
EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
TARGET_EXTENSION = "durableinstanceid"
LIMITS = {"id": 255, "source": 500, "type": 255, "subject": 500, "datacontenttype": 200, "dataschema": 500}
MAX_BATCH = 1000


class BatchTooLarge(InvalidEvent):
    """The batch holds more events than one request may carry."""

    code = "batch_too_large"
    status_code = 413


def _string(name: str, value: str) -> str:
    why = text.problem(value)
    if why:
        raise InvalidEvent(f"The event's '{name}' is not a CloudEvents string: {why}.")
    return value


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
    return _string(name, value)


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
        if isinstance(value, str):
            _string(name, value)
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
        _string("time", value)
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidEvent(f"The event's 'time' {value!r} is not an RFC 3339 timestamp.") from None
    else:
        raise InvalidEvent(f"The event's 'time' must be an RFC 3339 string, not {value!r}.")
    if moment.tzinfo is None:
        raise InvalidEvent(f"The event's 'time' {value!r} has no time zone offset.")
    try:
        moment.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidEvent(f"The event's 'time' {value!r} is outside the years 1-9999 in UTC.") from None
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


# HTTP bindings ---------------------------------------------------------------------------------

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


class UnsupportedMode(InvalidEvent):
    """The request is not a CloudEvent in structured, binary or batch mode."""

    code = "unsupported_media_type"
    status_code = 415


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_http(headers: dict[str, str], body: bytes, *, max_batch: int = MAX_BATCH) -> list[dict[str, Any]]:
    """Every event of one HTTP request, validated, in the order sent.

    Binary mode when any `ce-` header is present, else structured or batch by Content-Type.
    One invalid event rejects the whole request.

    Raises:
        InvalidEvent: malformed JSON, a missing or invalid attribute.
        UnsupportedMode: neither ce- headers nor a CloudEvents media type.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    if any(name.startswith("ce-") for name in lowered):
        return [_binary(lowered, body)]
    kind = media_type(lowered.get("content-type"))
    if kind == STRUCTURED:
        return [_structured(_json(body))]
    if kind == BATCH:
        items = _json(body)
        if not isinstance(items, list) or not items:
            raise InvalidEvent("A batch must be a non-empty JSON array of CloudEvents.")
        if len(items) > max_batch:
            raise BatchTooLarge(
                f"The batch holds {len(items)} events; one request may carry at most {max_batch} "
                "(DURABLE_MAX_BATCH_EVENTS). Send it in smaller batches."
            )
        parsed = []
        for index, item in enumerate(items):
            try:
                parsed.append(_structured(item))
            except InvalidEvent as exc:
                raise InvalidEvent(f"Event {index} of the batch: {exc}") from None
        return parsed
    raise UnsupportedMode(
        f"Content-Type {kind or '(none)'!r} carries no CloudEvent: send {STRUCTURED}, {BATCH}, "
        "or binary mode with ce-specversion, ce-id, ce-source and ce-type headers."
    )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidEvent(f"The body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise InvalidEvent("The body's JSON is nested too deeply.") from None


def _structured(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise InvalidEvent(f"A structured CloudEvent is a JSON object, not {type(document).__name__}.")
    attributes = {k: v for k, v in document.items() if k not in ("data", "data_base64")}
    if "data_base64" in document:
        if "data" in document:
            raise InvalidEvent("An event has either data or data_base64, not both.")
        try:
            data: Any = base64.b64decode(document["data_base64"], validate=True)
        except (TypeError, ValueError, binascii.Error):
            raise InvalidEvent("data_base64 is not valid base64.") from None
    else:
        data = document.get("data")
    return validate(attributes, data)


def _binary(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for name, value in headers.items():
        if name.startswith("ce-"):
            attributes[name[3:]] = unquote(value)
    for name in REQUIRED:
        if not attributes.get(name):
            raise InvalidEvent(f"Binary mode needs a ce-{name} header.")
    content_type = headers.get("content-type")
    if content_type:
        attributes["datacontenttype"] = content_type
    kind = media_type(content_type)
    if not body:
        data = None
    elif kind in ("application/json", "text/json") or kind.endswith("+json"):
        # Strict: the SDK would fall back to a string for broken JSON.
        data = _json(body)
    else:
        # The CloudEvents SDK's rule for other types: text when UTF-8, else bytes.
        data = JSONFormat().read_data(body, content_type)
    return validate(attributes, data)
