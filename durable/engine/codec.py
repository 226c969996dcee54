"""The one JSON codec for workflow inputs, results, event data and published values; never pickle."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import importlib
import json
import math
import re
import uuid
from decimal import Decimal
from typing import Any

from durable.exceptions import EncodingError

TAG = "$t"
VALUE = "v"
# Deeper trees are refused: every store and renderer walks them recursively.
MAX_DEPTH = 100
# What no JSON column stores: NUL (PostgreSQL's jsonb refuses it) and lone surrogates (not UTF-8).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def encode(value: Any, *, where: str = "value") -> Any:
    """Turn a Python value into a JSON-compatible tree that `decode` turns back.

    Args:
        value: JSON data, or datetimes, dates, times, timedeltas, Decimals, UUIDs, bytes, sets,
            enums, dataclasses and pydantic models, nested in lists and dicts with str keys.
        where: what the value is, for the error message ("input of 'charge_card'").

    Returns:
        A tree of dicts, lists, str, int, float, bool and None.

    Raises:
        EncodingError: the value, or something inside it, cannot be encoded.
    """
    return _encode(value, where, "$")


def _encode(value: Any, where: str, path: str, depth: int = 0) -> Any:
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            raise EncodingError(
                f"{where} at {path}: the string holds a NUL or a lone surrogate, which JSON stores refuse."
            )
        return value
    if value is None or isinstance(value, bool):
        return value
    if depth >= MAX_DEPTH:  # this container would be level MAX_DEPTH + 1
        raise EncodingError(f"{where} at {path}: nested deeper than {MAX_DEPTH} levels; flatten it.")
    if isinstance(value, int) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EncodingError(f"{where} at {path}: {value!r} is not valid JSON; use None or a string.")
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError(
                    f"{where} at {path}: dict key {key!r} is a {type(key).__name__}; JSON keys are strings."
                )
            if UNSTORABLE.search(key):
                raise EncodingError(f"{where} at {path}: a key holds a NUL or a lone surrogate.")
            out[key] = _encode(item, where, f"{path}.{key}", depth + 1)
        return {TAG: "dict", VALUE: out} if TAG in out else out
    if isinstance(value, list | tuple):
        return [_encode(item, where, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    tagged = _encode_special(value, where, path)
    if tagged is not None:
        return tagged
    raise EncodingError(
        f"{where} at {path}: cannot store a value of type {type(value).__module__}.{type(value).__qualname__} as JSON. "
        "Pass JSON data, datetimes, Decimals, UUIDs, bytes or dataclasses."
    )


def _encode_special(value: Any, where: str, path: str) -> dict | None:
    # datetime is a subclass of date, so it goes first.
    if isinstance(value, dt.datetime):
        return {TAG: "datetime", VALUE: value.isoformat()}
    if isinstance(value, dt.date):
        return {TAG: "date", VALUE: value.isoformat()}
    if isinstance(value, dt.time):
        return {TAG: "time", VALUE: value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {TAG: "timedelta", VALUE: [value.days, value.seconds, value.microseconds]}
    if isinstance(value, Decimal):
        return {TAG: "decimal", VALUE: str(value)}
    if isinstance(value, uuid.UUID):
        return {TAG: "uuid", VALUE: str(value)}
    if isinstance(value, bytes | bytearray):
        return {TAG: "bytes", VALUE: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, set | frozenset):
        items = [_encode(item, where, f"{path}[]") for item in value]
        return {TAG: "set", VALUE: sorted(items, key=json.dumps)}
    if isinstance(value, enum.Enum):
        return {TAG: "enum", "cls": _class_path(value), VALUE: _encode(value.value, where, path)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name), where, f"{path}.{f.name}") for f in dataclasses.fields(value)}
        return {TAG: "dataclass", "cls": _class_path(value), VALUE: fields}
    if hasattr(value, "model_dump") and hasattr(type(value), "model_validate"):
        return {TAG: "pydantic", "cls": _class_path(value), VALUE: value.model_dump(mode="json")}
    return None


def _class_path(value: Any) -> str:
    cls = type(value)
    if "<locals>" in cls.__qualname__:
        raise EncodingError(
            f"{cls.__qualname__} is defined inside a function; define it at module level so it can be rebuilt."
        )
    return f"{cls.__module__}:{cls.__qualname__}"


def decode(tree: Any) -> Any:
    """Turn a tree made by `encode` back into Python values."""
    if isinstance(tree, list):
        return [decode(item) for item in tree]
    if not isinstance(tree, dict):
        return tree
    tag = tree.get(TAG)
    if tag is None:
        return {key: decode(item) for key, item in tree.items()}
    raw: Any = tree.get(VALUE)
    if tag == "dict":
        return {key: decode(item) for key, item in raw.items()}
    if tag == "datetime":
        return dt.datetime.fromisoformat(raw)
    if tag == "date":
        return dt.date.fromisoformat(raw)
    if tag == "time":
        return dt.time.fromisoformat(raw)
    if tag == "timedelta":
        return dt.timedelta(days=raw[0], seconds=raw[1], microseconds=raw[2])
    if tag == "decimal":
        return Decimal(raw)
    if tag == "uuid":
        return uuid.UUID(raw)
    if tag == "bytes":
        return base64.b64decode(raw)
    if tag == "set":
        return {decode(item) for item in raw}
    if tag == "enum":
        return _load_class(tree["cls"])(decode(raw))
    if tag == "dataclass":
        cls: Any = _load_class(tree["cls"])
        if not dataclasses.is_dataclass(cls):
            raise EncodingError(f"{tree['cls']} is no longer a dataclass; cannot rebuild the stored value.")
        fields = {key: decode(item) for key, item in raw.items()}
        init = {f.name for f in dataclasses.fields(cls) if f.init}
        obj = cls(**{k: v for k, v in fields.items() if k in init})  # type: ignore[operator]
        for key, item in fields.items():
            if key not in init:
                object.__setattr__(obj, key, item)
        return obj
    if tag == "pydantic":
        return _load_class(tree["cls"]).model_validate(raw)
    raise EncodingError(f"Unknown stored type tag {tag!r}; was this value written by a newer durable?")


def _load_class(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise EncodingError(f"Cannot rebuild a stored {path}: {exc}. Was the class moved or renamed?") from exc
    return obj


def roundtrip(value: Any, *, where: str = "value") -> Any:
    """Encode then decode, so a first run returns exactly what a replay will return."""
    return decode(encode(value, where=where))


def dumps(value: Any, *, where: str = "value") -> str:
    """Encode to a JSON string."""
    return json.dumps(encode(value, where=where), separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    """Decode a JSON string made by `dumps`."""
    return decode(json.loads(text))


def to_plain(tree: Any) -> Any:
    """A stored tree as plain JSON for people and HTTP clients: datetimes, Decimals and UUIDs
    as strings, bytes as base64, timedeltas as seconds, dataclasses and enums as their data."""
    if isinstance(tree, list):
        return [to_plain(item) for item in tree]
    if not isinstance(tree, dict):
        return tree
    tag = tree.get(TAG)
    if tag is None:
        return {key: to_plain(item) for key, item in tree.items()}
    raw: Any = tree.get(VALUE)
    if tag == "timedelta":
        return raw[0] * 86400 + raw[1] + raw[2] / 1_000_000
    if tag in ("dict", "dataclass"):
        # A mapping of its own: its keys (a literal "$t" among them) are data, never a tag.
        return {key: to_plain(item) for key, item in raw.items()}
    if tag in ("set", "enum"):
        return to_plain(raw)
    return raw
