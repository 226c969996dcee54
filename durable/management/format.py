"""Text for the durable_* commands: JSON options in, stored values, times, waits and tables out."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from durable.engine import codec

logger = logging.getLogger(__name__)

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


def plain(tree: Any) -> Any:
    """A stored value (a codec tree) as plain JSON for display; never imports the classes it names."""
    if isinstance(tree, list):
        return [plain(item) for item in tree]
    if not isinstance(tree, dict):
        return tree
    tag = tree.get(codec.TAG)
    if tag is None:
        return {key: plain(item) for key, item in tree.items()}
    raw: Any = tree.get(codec.VALUE)
    if tag == "dict":  # a dict that has a "$t" key of its own
        return {key: plain(item) for key, item in raw.items()}
    if tag == "timedelta":
        return str(dt.timedelta(days=raw[0], seconds=raw[1], microseconds=raw[2]))
    return plain(raw)


def dumps(tree: Any) -> str:
    """A stored value as one line of JSON, keys sorted: PostgreSQL's jsonb keeps no key order anyway."""
    return json.dumps(plain(tree), ensure_ascii=False, sort_keys=True, default=str)


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


def duration(seconds: float) -> str:
    """A human length of time: 850 ms, 3.2 s, 4m 12s, 2h 5m, 3d 4h."""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"


def until(moment: dt.datetime | str | None, now: dt.datetime) -> str:
    """'in 4m 12s' for a future time, '3.0 s ago' for a past one."""
    if moment is None:
        return NONE
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    left = (moment - now).total_seconds()
    return f"in {duration(left)}" if left >= 0 else f"{duration(left)} ago"


def waiting(summary: dict | None, now: dt.datetime, width: int | None = None) -> str:
    """What an instance waits for, from its `waiting_for` summary; within `width`, the match is cut first."""
    if not summary:
        return NONE
    kind = summary.get("kind")
    if kind == "event":
        types = " or ".join(summary.get("types") or [])
        conditions = [f"{path}={json.dumps(value)}" for path, value in sorted((summary.get("match") or {}).items())]
        if summary.get("subject") is not None:
            conditions.append(f"subject={json.dumps(summary['subject'])}")
        where = f" where {', '.join(conditions)}" if conditions else ""
        timeout = f", times out {until(summary['timeout_at'], now)}" if summary.get("timeout_at") else ""
        room = None if width is None else width - len(types) - len(timeout) - len(" where ")
        if conditions and room is not None and len(where) > room + len(" where "):
            where = f" where {shorten(', '.join(conditions), max(room, 4))}"
        return types + where + timeout
    if kind == "timer":
        return f"timer due {until(summary.get('due_at'), now)}"
    if kind == "retry":
        attempt = f"attempt {summary.get('attempt')}/{summary.get('max_attempts')}"
        return f"retry of {summary.get('activity')} ({attempt}) {until(summary.get('due_at'), now)}"
    return dumps(summary)


def error_line(error: dict | None) -> str:
    """'ValueError: the card was declined' from a stored error."""
    if not error:
        return NONE
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
