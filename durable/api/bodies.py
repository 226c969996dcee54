"""The request bodies the views validate, in JSON Schema (OpenAPI 3.1), and the receiver's description."""

from __future__ import annotations

from typing import Any

from durable import business_keys, events, queues, text
from durable.client import INSTANCE_ID
from durable.conf import settings
from durable.engine import codec
from durable.engine.composition import RESERVED_IDS

# CloudEvents strings hold no control characters (lone surrogates are refused too, but JSON
# Schema patterns cannot name them). Written as escapes, which ECMA-262 and Python read alike.
STRING = rf"^[^{text.CONTROL}]*$"
REQUIRED_STRING = rf"^[^{text.CONTROL}]*[^\s{text.CONTROL}][^{text.CONTROL}]*$"
FREE_TEXT = rf"^[^{text.FREE_TEXT_CONTROL}]*$"
# What every JSON store keeps: no NUL in a string or a key.
STORABLE = r"^[^\x00]*$"
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
ID_PATTERN = INSTANCE_ID.pattern


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _attribute(limit: int, *, required: bool) -> dict[str, Any]:
    if required:
        return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": REQUIRED_STRING}
    return {"type": ["string", "null"], "maxLength": limit, "pattern": STRING}


JSON_VALUE = {
    "description": (
        f"Any JSON value, nested at most {codec.MAX_DEPTH} levels deep, whose strings and keys hold no NUL "
        "(U+0000) and no lone surrogate."
    ),
    "pattern": STORABLE,
    "items": ref("JSONValue"),
    "additionalProperties": ref("JSONValue"),
    "propertyNames": {"pattern": STORABLE},
}


def cloud_event(*, addressed: bool = True) -> dict[str, Any]:
    """A structured CloudEvent, as durable.events.validate accepts it; `addressed` False for an
    instance's own endpoint, where the URL names the instance."""
    required = {name: _attribute(events.LIMITS[name], required=True) for name in ("id", "source", "type")}
    optional = {name: _attribute(events.LIMITS[name], required=False) for name in ("subject", "datacontenttype")}
    return {
        "type": "object",
        "description": (
            "A CloudEvent 1.0 in the JSON format. Extension attributes have names of 1-20 lower-case "
            "letters or digits and string (at most 1000 characters), integer or boolean values; "
            f"`{events.TARGET_EXTENSION}` addresses the event to one instance. Either `data` or "
            "`data_base64`, not both."
        ),
        "required": list(events.REQUIRED),
        "properties": {
            "specversion": {"type": "string", "enum": ["1.0"]},
            **required,
            **optional,
            "dataschema": _attribute(events.LIMITS["dataschema"], required=False),
            "time": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "RFC 3339, with a time zone offset; in UTC within the years 1-9999.",
            },
            "data": ref("JSONValue"),
            "data_base64": {"type": "string", "contentEncoding": "base64", "pattern": BASE64},
            # On an instance's endpoint a durableinstanceid must repeat the URL's id: left out here.
            events.TARGET_EXTENSION: {"type": "string", "pattern": ID_PATTERN} if addressed else {"not": {}},
        },
        "propertyNames": {"pattern": r"^(?:[a-z0-9]{1,20}|data_base64)$"},
        "additionalProperties": {"type": ["string", "integer", "boolean"], "maxLength": 1000, "pattern": STRING},
        "not": {"required": ["data", "data_base64"]},
    }


START: dict[str, Any] = {
    "type": "object",
    "description": "The workflow's inputs; they must fit its signature (a 400 names it).",
    "additionalProperties": False,
    "not": {"required": ["start_at", "start_in"]},
    "properties": {
        "args": {"type": "array", "items": ref("JSONValue"), "default": []},
        "kwargs": {
            "type": "object",
            "additionalProperties": ref("JSONValue"),
            "propertyNames": {"pattern": STORABLE},
            "default": {},
        },
        "instance_id": {
            "type": ["string", "null"],
            "pattern": ID_PATTERN,
            "not": {"enum": sorted(RESERVED_IDS)},
            "default": None,
            "description": "A business id that makes the start idempotent (200 when it exists); null for a new id.",
        },
        "business_key": {
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": business_keys.MAX_LENGTH,
            "pattern": REQUIRED_STRING,
            "default": None,
            "description": "What the instance is about (any number of instances may share it); null for none.",
        },
        "start_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "default": None,
            "description": "Start no earlier than this (ISO 8601 with a UTC offset); pending until then.",
        },
        "start_in": {
            "type": ["number", "null"],
            "minimum": 0,
            "default": None,
            "maximum": 3_162_240_000,
            "description": "Start this many seconds from now (at most 100 years), instead of start_at.",
        },
        "queue": {
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": 100,
            "default": None,
            "description": "The queue of DURABLE_QUEUES to run in (400 for an unknown one); null: the workflow's own.",
        },
        "priority": {
            "type": "integer",
            "minimum": -100,
            "maximum": 100,
            "default": 0,
            "description": "Higher starts first in the queue's line; equal priorities in start order.",
        },
    },
}
REASON_PROPERTY = {"type": "string", "maxLength": 2000, "pattern": FREE_TEXT, "default": ""}
REASON = {"type": "object", "properties": {"reason": REASON_PROPERTY}}
CANCEL = {
    "type": "object",
    "properties": {
        "reason": REASON_PROPERTY,
        "compensate": {
            "type": "boolean",
            "default": True,
            "description": "Run the instance's armed compensations first (it is compensating, then cancelled).",
        },
    },
}

ERASE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "reason": REASON_PROPERTY,
        "cancel": {
            "type": "boolean",
            "default": False,
            "description": "Cancel an active instance first (at once, without its compensations); else it is a 409.",
        },
    },
}

FORK = {
    "type": "object",
    "additionalProperties": False,
    "required": ["from_position"],
    "properties": {
        "from_position": {
            "type": "integer",
            "minimum": 0,
            "description": "The first step to run again: the fork keeps steps 0 to from_position - 1 as recorded.",
        },
        "instance_id": {
            "type": ["string", "null"],
            "pattern": ID_PATTERN,
            "not": {"enum": sorted(RESERVED_IDS)},
            "default": None,
            "description": "The new instance's id (409 when taken); null for '<original>:fork-<n>'.",
        },
    },
}


def start_body() -> dict[str, Any]:
    """The start body, whose `queue` is one of the queues configured now (another is a 400)."""
    queue = {**START["properties"]["queue"], "enum": [None, *sorted(queues.configured())]}
    return {**START, "properties": {**START["properties"], "queue": queue}}


def components() -> dict[str, Any]:
    """The schemas the request bodies refer to, for SPECTACULAR's APPEND_COMPONENTS."""
    schemas = {
        "JSONValue": JSON_VALUE,
        "CloudEvent": cloud_event(),
        "InstanceCloudEvent": cloud_event(addressed=False),
        "CloudEventBatch": batch("CloudEvent"),
        "InstanceCloudEventBatch": batch("InstanceCloudEvent"),
        "StartRequest": start_body(),
        "ReasonRequest": REASON,
        "CancelRequest": CANCEL,
        "EraseRequest": ERASE,
        "ForkRequest": FORK,
    }
    return {"schemas": schemas}


def batch(event: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(event), "minItems": 1, "maxItems": int(settings.MAX_BATCH_EVENTS)}


def event_bodies(event: str = "CloudEvent") -> dict[str, Any]:
    """The receiver's request bodies by content type; binary mode is described in words (see RECEIVER)."""
    return {events.STRUCTURED: ref(event), events.BATCH: ref(f"{event}Batch")}


RECEIVER = (
    f"CloudEvents 1.0 over HTTP. Structured mode: one event as `{events.STRUCTURED}`. Batch mode: a "
    f"non-empty array of events as `{events.BATCH}`; one invalid event refuses the whole batch. Binary "
    "mode: any `ce-` header selects it; the attributes travel as `ce-<name>` headers (percent-encoded; "
    "`ce-specversion: 1.0`, `ce-id`, `ce-source` and `ce-type` required, the rules of the schema below "
    "apply to their values) and the body is the data, in any Content-Type (JSON types are parsed as JSON, "
    "UTF-8 text is kept as text, anything else as bytes). OpenAPI cannot tie those headers to a body, so "
    "binary mode is described here only. A body larger than DURABLE_MAX_EVENT_BYTES is a 413, and so is "
    "a batch of more than DURABLE_MAX_BATCH_EVENTS events. Nothing is stored for a refused request; a "
    "repeated (source, id) is acknowledged and counted in `duplicates`."
)

ONE_INSTANCE = (
    f" Every event goes to the instance of the URL (404 when it does not exist); a `{events.TARGET_EXTENSION}` "
    "that names another instance is a 400."
)
