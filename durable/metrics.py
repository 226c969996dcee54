"""Prometheus metrics (the `durable[metrics]` extra): what runs, timers and events record as they happen.

Every function here is a no-op when prometheus-client is not installed or DURABLE_METRICS is
False, so the call sites need no guard. The families are made on first use in prometheus-client's
default registry; with PROMETHEUS_MULTIPROC_DIR set (gunicorn, the q2 worker processes) the
client writes them to files there, and the metrics view adds them up. What comes from the
database (backlog, lag, counts by status) is read at scrape time, see durable.api.metrics.

Names and labels are part of the public contract (README: "Running it in production"). Labels are
workflow, activity and hook names, never instance ids.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from durable.conf import settings

logger = logging.getLogger(__name__)

try:
    import prometheus_client
except ImportError:  # the extra is not installed
    prometheus_client = None  # type: ignore[assignment]

# Seconds: from a millisecond (a wake-up) to a day (an activity retried for long).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
WAIT_BUCKETS = (0.01, 0.1, 1.0, 10.0, 60.0, 300.0, 3600.0, 21600.0, 86400.0, 604800.0)


def available() -> bool:
    """prometheus-client is installed (the `durable[metrics]` extra)."""
    return prometheus_client is not None


def enabled() -> bool:
    return prometheus_client is not None and bool(settings.METRICS)


@cache
def _families() -> dict[str, Any]:
    p = prometheus_client
    return {
        "segments": p.Counter(
            "durable_run_segments", "Run segments (a claim to a wait or an end) by workflow and outcome.",
            ["workflow", "outcome"],
        ),
        "segment_seconds": p.Histogram(
            "durable_run_segment_seconds", "How long run segments took, by workflow.", ["workflow"],
            buckets=DURATION_BUCKETS,
        ),
        "ended": p.Counter(
            "durable_instances_ended", "Instances that ended, by workflow and status.", ["workflow", "status"]
        ),
        "attempts": p.Counter(
            "durable_activity_attempts", "Activity attempts, by activity and outcome (completed, failed).",
            ["activity", "outcome"],
        ),
        "activity_seconds": p.Histogram(
            "durable_activity_duration_seconds", "How long activity attempts took, by activity.", ["activity"],
            buckets=DURATION_BUCKETS,
        ),
        "timer_lateness": p.Histogram(
            "durable_timer_lateness_seconds", "From a timer's due time to its firing.", buckets=LATENCY_BUCKETS
        ),
        "event_wait": p.Histogram(
            "durable_event_delivery_seconds",
            "From an event's arrival to its delivery to a waiting instance (long for an event that came first).",
            buckets=WAIT_BUCKETS,
        ),
        "hook_failures": p.Counter("durable_hook_failures", "Hook attempts that raised, by hook.", ["hook"]),
    }  # fmt: skip


def families() -> list[Any]:
    """This process's durable_* families, to serve beside the database's gauges."""
    return list(_families().values())


def _record(name: str, labels: dict[str, str] | None, method: str, *args: float) -> None:
    if not enabled():
        return
    try:
        family = _families()[name]
        getattr(family.labels(**labels) if labels else family, method)(*args)
    except Exception:
        # A metric must never fail a run.
        logger.exception("recording a metric failed", extra={"metric": name})


def segment(workflow: str, outcome: str, seconds: float) -> None:
    """A run segment ended: `outcome` is suspended, completed, failed, paused, cancelled or error."""
    _record("segments", {"workflow": workflow, "outcome": outcome}, "inc")
    _record("segment_seconds", {"workflow": workflow}, "observe", seconds)


def ended(workflow: str, status: str) -> None:
    _record("ended", {"workflow": workflow, "status": status}, "inc")


def activity(name: str, outcome: str, seconds: float) -> None:
    """One attempt of an activity ended: `outcome` is completed or failed."""
    _record("attempts", {"activity": name, "outcome": outcome}, "inc")
    _record("activity_seconds", {"activity": name}, "observe", seconds)


def timers_fired(lateness: list[float]) -> None:
    for seconds in lateness:
        _record("timer_lateness", None, "observe", max(0.0, seconds))


def event_delivered(seconds: float) -> None:
    _record("event_wait", None, "observe", max(0.0, seconds))


def hook_failed(name: str) -> None:
    _record("hook_failures", {"hook": name}, "inc")
