"""How the viewer puts things into words: spans of time, what an instance waits for, payloads."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from durable.words import moment, readable

# Where a long name may break: after the separators of dotted, underscored, URL-like and key=value
# text, and within any run of more characters than this without one.
BREAK_AFTER = re.compile(r"([._/:=&?@,)\]}-]+)")
WORDS = re.compile(r"(\s+)")
LONGEST_RUN = 16
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
        return len(self.preview) <= 16


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


def breakable(text: Any) -> SafeString:
    """Escaped text with <wbr> break points after separators (and in long runs without one).

    Workflow names, event types, subjects and ids are single long words
    ("customer_onboarding.verify_identity_and_provision_accounts"): a table column would have to be
    as wide as the longest of them. With break points they wrap where a reader would split them.
    """
    pieces = []
    for word in WORDS.split(str(text)):
        for part in BREAK_AFTER.split(word):
            if BREAK_AFTER.fullmatch(part):
                pieces.append(escape(part) + "<wbr>")
            elif len(part) > LONGEST_RUN:
                pieces.append("<wbr>".join(escape(part[i : i + LONGEST_RUN]) for i in range(0, len(part), LONGEST_RUN)))
            else:
                pieces.append(escape(part))
    return mark_safe("".join(pieces).replace("<wbr> ", " "))  # every piece was escaped


@dataclass(frozen=True)
class FailureGroup:
    """Attempts in a row that failed with the same error: said once, not once per attempt."""

    attempts: str
    count: int
    last_at: dt.datetime | None
    type: str
    message: str
    as_shown: bool  # the error the step shows already


def _numbers(attempts: list[Any]) -> str:
    if len(attempts) == 1:
        return f"attempt {attempts[0]}"
    if all(isinstance(n, int) for n in attempts) and attempts == list(range(attempts[0], attempts[-1] + 1)):
        return f"attempts {attempts[0]}–{attempts[-1]}"
    return "attempts " + ", ".join(str(n) for n in attempts[:-1]) + f" and {attempts[-1]}"


def failure_groups(failures: Sequence[dict[str, Any]], error: dict[str, Any] | str | None) -> tuple[FailureGroup, ...]:
    """A step's failed attempts, consecutive ones with the same type and message taken together."""
    runs = [list(run) for _, run in groupby(failures, key=lambda f: (f.get("type"), f.get("message")))]
    shown = (error.get("type"), error.get("message")) if isinstance(error, dict) else None
    return tuple(
        FailureGroup(
            attempts=_numbers([f.get("attempt") for f in run]),
            count=len(run),
            last_at=moment(run[-1].get("at")),
            type=str(run[0].get("type", "Error")),
            message=str(run[0].get("message", "")),
            as_shown=shown == (run[0].get("type"), run[0].get("message")),
        )
        for run in runs
    )
