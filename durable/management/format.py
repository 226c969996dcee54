"""Text for the durable_* commands: JSON options in, stored values, times, waits and tables out."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from durable import words

CELL = 60  # widest table cell before it is cut short
NONE = "-"


def parse_json(text: str, option: str) -> Any:
    """The JSON value of a command-line option, or a CommandError that quotes what was wrong."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{option} is not valid JSON ({exc.msg} at character {exc.pos + 1}): {shorten(text, 80)!r}. "
            f"""Quote it for the shell, e.g. {option} '{{"order_id": "o-1"}}' or, for a string, {option} '"o-1"'."""
        ) from None


def dumps(tree: Any) -> str:
    """A stored value as one line of JSON, keys sorted: PostgreSQL's jsonb keeps no key order anyway."""
    return json.dumps(words.readable(tree), ensure_ascii=False, sort_keys=True, default=str)


def shorten(text: str, width: int = CELL) -> str:
    """One line of at most `width` characters, marking a cut with '...'."""
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: max(width - 3, 1)] + "..."


def when(moment: dt.datetime | str | None) -> str:
    """A stored time in the project's time zone, to the second."""
    if moment is None:
        return NONE
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def until(moment: dt.datetime | str | None, now: dt.datetime) -> str:
    """'in 4m 12s' for a future time, '3s ago' for a past one."""
    return words.until(words.moment(moment), now, future="in {}", past="{} ago") or NONE


def waiting(summary: dict | None, now: dt.datetime, width: int | None = None) -> str:
    """What an instance waits for, in the viewer's words; within `width`, the match is cut first."""
    text = words.waiting_words(summary, now) or NONE
    if width is None or len(text) <= width:
        return text
    label = summary.get("label") if summary else None
    if summary and isinstance(label, str) and label and len(label) + 2 < width // 2:
        # A named wait keeps its name; what it waits for is cut to fit after it.
        rest = waiting({k: v for k, v in summary.items() if k != "label"}, now, width - len(label) - 2)
        return f"{label}: {rest}"
    if summary and summary.get("kind") == "event" and summary.get("match"):
        bare = words.event_wait({**summary, "match": {}}, now)
        head, comma, deadline = bare.partition(", ")
        where = text[len(head) : len(text) - len(comma + deadline)]
        room = width - len(bare)
        if room >= len(" where x..."):
            return f"{head} {shorten(where.strip(), room - 1)}{comma}{deadline}"
    return shorten(text, width)


def error_line(error: dict | str | None) -> str:
    """'ValueError: the card was declined' from a stored error (an erased one is its marker)."""
    if not error:
        return NONE
    if not isinstance(error, dict):
        return str(error)
    return f"{error.get('type', 'Error')}: {error.get('message', '')}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], width: int | Sequence[int] = CELL) -> list[str]:
    """Aligned text lines: the header, a rule, then one line per row; cells cut at `width` (or one per column)."""
    limits = [width] * len(headers) if isinstance(width, int) else list(width)
    cells = [
        [shorten(NONE if cell is None or cell == "" else cell, limit) for cell, limit in zip(row, limits, strict=True)]
        for row in rows
    ]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.ljust(w) for value, w in zip(values, widths, strict=True)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(row) for row in cells)]
