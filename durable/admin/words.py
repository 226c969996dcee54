"""How the viewer puts things into words: spans of time, what an instance waits for, payloads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from durable.words import readable

PREVIEW_CHARS = 100
# Payloads longer than this, or on several lines, are collapsed behind a <details>.
INLINE_CHARS = 80


@dataclass(frozen=True)
class Payload:
    """A stored JSON value ready for a page: the full text, a one-line preview, and whether to fold it."""

    text: str
    preview: str
    folded: bool

    @property
    def short(self) -> bool:
        """Short enough to keep on one line in a narrow column."""
        return len(self.preview) <= 24


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _shown(plain: Any, flat: str) -> Payload:
    text = json.dumps(plain, indent=2, ensure_ascii=False, default=str)
    preview = flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"
    return Payload(text=text, preview=preview, folded=len(flat) > INLINE_CHARS or "\n" in flat)


def payload(tree: Any, *, empty: Any = None) -> Payload | None:
    """The Payload of a stored value; None when it equals `empty` (nothing to show)."""
    if tree is None or tree == empty:
        return None
    plain = readable(tree)
    return _shown(plain, _compact(plain))


def arguments(tree: Any) -> Payload | None:
    """Stored call inputs, {"args": [...], "kwargs": {...}}, previewed as a call: ("o-1", timeout=300)."""
    if not isinstance(tree, dict) or not set(tree) <= {"args", "kwargs"}:
        return payload(tree)
    args, kwargs = readable(tree.get("args") or []), readable(tree.get("kwargs") or {})
    if not args and not kwargs:
        return None
    parts = [_compact(value) for value in args] + [f"{key}={_compact(value)}" for key, value in kwargs.items()]
    return _shown({"args": args, "kwargs": kwargs}, "(" + ", ".join(parts) + ")")


def event_record(record: Any) -> Payload | None:
    """A stored event record (a wait's result, a sent event), previewed as 'type from source: data'."""
    if not isinstance(record, dict) or "type" not in record:
        return payload(record)
    plain = readable(record)
    data = plain.get("data")
    flat = f"{plain['type']} from {plain.get('source')}" + (f": {_compact(data)}" if data is not None else "")
    return _shown(plain, flat)
