"""Stored times, values and waits in words, for the viewer and the commands alike."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.utils import timezone

from durable.engine import codec


def span(seconds: float) -> str:
    """A countdown or an age in the two largest units: '12s', '4m 12s', '3h 5m', '2d 3h'."""
    seconds = abs(seconds)
    if seconds < 1:
        return "<1s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def took(seconds: float | None) -> str:
    """How long a step ran: '0.4 ms', '12 ms', '1.4 s', then the units of `span`."""
    if seconds is None:
        return ""
    if seconds < 0.001:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return span(seconds)


def moment(value: Any) -> dt.datetime | None:
    """A datetime from a summary field (ISO text) or a datetime; None when absent or unreadable."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def clock(value: dt.datetime | None) -> str:
    """A local time of day to the millisecond, for timelines: '14:03:07.412'."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%H:%M:%S.%f")[:-3]


def until(when: dt.datetime | None, now: dt.datetime, *, future: str, past: str) -> str:
    """'in 4m 12s' style text for a deadline: `future`/`past` hold '{}' for the span."""
    if when is None:
        return ""
    delta = (when - now).total_seconds()
    return (future if delta >= 0 else past).format(span(delta))


def readable(tree: Any) -> Any:
    """A codec tree as plain JSON for people: tagged values become their text, nothing is imported."""
    if isinstance(tree, list):
        return [readable(item) for item in tree]
    if not isinstance(tree, dict):
        return tree
    tag = tree.get(codec.TAG)
    if tag is None:
        return {key: readable(item) for key, item in tree.items()}
    raw = tree.get(codec.VALUE)
    if tag in ("dict", "dataclass", "pydantic"):
        return {key: readable(item) for key, item in (raw or {}).items()}
    if tag == "set":
        return [readable(item) for item in raw or []]
    if tag == "enum":
        return readable(raw)
    if tag == "timedelta" and isinstance(raw, list) and len(raw) == 3:
        return str(dt.timedelta(days=raw[0], seconds=raw[1], microseconds=raw[2]))
    if tag == "bytes":
        return f"<{len(raw or '') * 3 // 4} bytes>"
    return raw


def scalar(value: Any) -> str:
    """A match value as written after '=': strings bare, everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def event_wait(summary: dict[str, Any], now: dt.datetime) -> str:
    """'payment.completed where order_id=o-1, times out in 4m 12s'."""
    text = " or ".join(summary.get("types") or []) or "an event"
    if summary.get("subject") is not None:
        text += f" with subject {summary['subject']}"
    match = readable(summary.get("match") or {})
    if isinstance(match, dict) and match:
        text += " where " + " and ".join(f"{path}={scalar(value)}" for path, value in match.items())
    deadline = until(moment(summary.get("timeout_at")), now, future="times out in {}", past="timeout overdue by {}")
    return f"{text}, {deadline}" if deadline else text


def compensation_words(progress: dict[str, Any] | None, status: str) -> str:
    """A saga's progress: 'compensating: 1 of 3 done' while it runs, 'compensated: 3 of 3 done' after
    (', 1 skipped' when a resume went past one); '' when no compensation ran."""
    if not progress:
        return ""
    done, total, skipped = progress.get("done", 0), progress.get("total", 0), progress.get("skipped", 0)
    if status == "compensating":
        lead = "compensating"
    else:
        lead = "compensated" if not skipped and done == total else "compensations"
    return f"{lead}: {done} of {total} done" + (f", {skipped} skipped" if skipped else "")


def waiting_words(summary: dict[str, Any] | None, now: dt.datetime) -> str:
    """What an instance waits for, from its `waiting_for` summary; '' when it waits for nothing.

    A wait the workflow named (`label=`) leads with its name: 'manager approval: approval.granted
    where order_id=o-1, times out in 4m 12s'.
    """
    if not summary:
        return ""
    said = _wait_words(summary, now)
    label = summary.get("label")
    return f"{label}: {said}" if isinstance(label, str) and label else said


def queue_words(summary: dict[str, Any]) -> str:
    """Why an instance waits in its queue's line: 'queue emails: 10 of 10 busy, 37th in line'."""
    parts = []
    if summary.get("concurrency") is not None:
        parts.append(f"{summary.get('busy', 0)} of {summary['concurrency']} busy")
    if summary.get("per_key") is not None:
        parts.append(f"key {summary.get('key')} {summary.get('key_busy', 0)} of {summary['per_key']} busy")
    if summary.get("rate") is not None:
        parts.append(f"rate {summary['rate']}, {summary.get('rate_used', 0)} used")
    if summary.get("position") is not None:
        parts.append(f"{ordinal(int(summary['position']))} in line")
    if not parts:
        parts.append("in line")
    return f"queue {summary.get('queue')}: " + ", ".join(parts)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _wait_words(summary: dict[str, Any], now: dt.datetime) -> str:
    kind = summary.get("kind")
    due = moment(summary.get("due_at"))
    if kind == "event":
        return event_wait(summary, now)
    if kind == "start":
        said = until(due, now, future="starts in {}", past="start overdue by {}")
        return f"{said}, debounced" if summary.get("debounced") else said
    if kind == "timer":
        return "timer " + (until(due, now, future="due in {}", past="overdue by {}") or "without a due time")
    if kind == "queue":
        return queue_words(summary)
    if kind == "steps":
        children = int(summary.get("children") or 0)
        steps = len(summary.get("positions") or []) - children
        parts = [f"{steps} parallel step{'s' if steps != 1 else ''}"] if steps else []
        parts += [f"{children} child{'ren' if children != 1 else ''}"] if children else []
        return " and ".join(parts or ["0 parallel steps"]) + " to end"
    if kind == "first":
        said = str(summary.get("words") or "the first of several")
        deadline = until(due, now, future="timer due in {}", past="timer overdue by {}")
        return f"{said} ({deadline})" if deadline else said
    if kind == "retry":
        activity = summary.get("activity") or summary.get("name") or "activity"
        attempt, most = summary.get("attempt"), summary.get("max_attempts")
        counted = f"retry {attempt} of {most}" if attempt and most else "retry"
        when = until(due, now, future="in {}", past="overdue by {}")
        return " ".join(part for part in (counted, when, f"({activity})") if part)
    if kind == "child":
        return f"child {summary.get('id')} ({summary.get('workflow')}) to end"
    return json.dumps(summary, default=str)
