"""Event matching: the shape and key of a wait's match, and whether an event's data fits it.

A wait's *shape* names the data paths it compares (and whether it compares the subject); its
*key* digests the values it wants at those paths. An event has one key per shape: the digest of
its own values at those paths. Equal keys mean the event matches the wait, whatever the kind of
the values (scalars, lists, objects, null), so storage can index waits and events by key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from durable.engine import codec

SUBJECT_PATH = "@subject"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def canon(value: Any) -> Any:
    """The value as it compares: its JSON form (a Decimal, UUID or datetime as the string JSON
    carries, as an HTTP sender writes it), with integral floats as ints (7 and 7.0 alike)."""
    return _numbers(codec.to_plain(value))


def _numbers(plain: Any) -> Any:
    if isinstance(plain, float) and plain.is_integer():
        return int(plain)
    if isinstance(plain, dict):
        return {k: _numbers(v) for k, v in plain.items()}
    if isinstance(plain, list):
        return [_numbers(v) for v in plain]
    return plain


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def shape_of(match: dict[str, Any], subject: str | None) -> tuple[str, list[str]]:
    """The shape digest of a wait and the paths it names (the subject as `@subject`)."""
    paths = sorted(match) + ([SUBJECT_PATH] if subject is not None else [])
    return _digest(paths), paths


def key_of(match: dict[str, Any], subject: str | None) -> str:
    """The key digest of the values a wait wants."""
    pairs = [[path, canon(match[path])] for path in sorted(match)]
    if subject is not None:
        pairs.append([SUBJECT_PATH, subject])
    return _digest(pairs)


def extract(data: Any, path: str) -> Any:
    """The value at a dotted path of an event's data tree, or MISSING."""
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and node.get(codec.TAG) in ("dict", "dataclass", "pydantic"):
            node = node[codec.VALUE]
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def event_key(paths: list[str], data: Any, subject: str | None) -> str | None:
    """The event's key for a shape's paths, or None when the event lacks one of them."""
    values = {}
    for path in paths:
        if path == SUBJECT_PATH:
            continue
        value = extract(data, path)
        if value is MISSING:
            return None
        values[path] = value
    if SUBJECT_PATH in paths:
        if subject is None:
            return None
        return key_of(values, subject)
    return key_of(values, None)


def matches(match: dict[str, Any], wanted_subject: str | None, data: Any, subject: str | None) -> bool:
    """Whether an event's data and subject satisfy a wait's match and subject."""
    if wanted_subject is not None and wanted_subject != subject:
        return False
    return all(canon(extract(data, path)) == canon(value) for path, value in match.items())
