"""DURABLE_* settings with typed defaults, read on every access so overrides apply at once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings


@dataclass(frozen=True)
class Setting:
    default: Any
    kind: type | tuple[type, ...]
    doc: str


DEFAULTS: dict[str, Setting] = {
    "WORKFLOW_MODULES": Setting((), (list, tuple), "Extra modules to import workflows from."),
    "LEASE_SECONDS": Setting(30.0, (int, float), "How long a worker holds an instance without renewing."),
    "EVENT_RETENTION": Setting(
        dt.timedelta(days=7), (dt.timedelta, int, float), "How long events are kept for later waits."
    ),
    "RETENTION": Setting(
        None,
        (dict, type(None)),
        'Days to keep ended instances by status, e.g. {"completed": 30, "failed": 90}; a status left out is kept.',
    ),
    "MAX_EVENT_BYTES": Setting(1024 * 1024, int, "Largest accepted CloudEvents request body."),
    "MAX_BATCH_EVENTS": Setting(1000, int, "Most events one batch request may carry (413 above)."),
    "EVENT_TOKEN": Setting(None, (str, type(None)), "Shared secret accepted as Bearer token by the receiver."),
    "TIMER_POLL": Setting(
        0.05, (int, float), "Seconds between looks for new timers in durable_worker, when no wake-up channel is up."
    ),
    "RECOVERY_INTERVAL": Setting(1.0, (int, float), "Seconds between recovery sweeps in durable_worker."),
    "RUNNER_THREADS": Setting(
        2, int, "Threads of durable_worker's timer loop that run the instances its timers and events wake, at once."
    ),
    "BATCH_SIZE": Setting(1, int, "Instances a worker claims at once (more than 1 can queue work behind a slow one)."),
    "DRAIN_SECONDS": Setting(20.0, (int, float), "How long one django-q2 task runs instances before handing over."),
    "GET_EVENT_POLL": Setting(
        0.05,
        (int, float),
        "Seconds between looks while waiting in get_event and result, when no wake-up channel is up.",
    ),
    "NOTIFY": Setting(
        True,
        bool,
        "Wake workers, timer loops and get_event at once: LISTEN/NOTIFY on PostgreSQL, local sockets for SQLite.",
    ),
    "LISTEN_POLL": Setting(
        5.0, (int, float), "Seconds between looks of its own while a listener's wake-up channel is up (a safety net)."
    ),
    "SCHEDULE_LATENESS": Setting(
        90.0, (int, float), "How late a slot of a catchup='none' schedule may fire and still count as on time."
    ),
    "FAILED_RUN_BACKOFF": Setting(
        1.0, (int, float), "Seconds before a run that the database failed is tried again (doubling each time)."
    ),
    "FAILED_RUN_MAX_BACKOFF": Setting(60.0, (int, float), "The longest wait before trying a failed run again."),
    "PAUSE_AFTER_FAILED_RUNS": Setting(
        10, int, "Runs in a row that the database (or a dying worker) may fail before the instance is paused."
    ),
    "METRICS": Setting(True, bool, "Record Prometheus metrics when prometheus-client is installed (durable[metrics])."),
    "METRICS_TOKEN": Setting(
        None, (str, type(None)), "Bearer token accepted by GET <mount>/metrics/ besides the view permission."
    ),
    "TRACING": Setting(True, bool, "Emit OpenTelemetry spans when opentelemetry-api is installed (durable[otel])."),
    "WORKER_STOP_SECONDS": Setting(
        20.0,
        (int, float),
        "How long a stopping durable_worker waits for its cluster and timer loop before killing them.",
    ),
    "HOOK_POLL": Setting(
        5.0,
        (int, float),
        "Seconds between a durable_worker's looks for hooks due to retry (a new hook wakes a worker at once).",
    ),
    "HEARTBEAT_SECONDS": Setting(
        5.0, (int, float), "Seconds between a durable_worker's heartbeats (durable_status, the admin's banner)."
    ),
    "BULK_INLINE_LIMIT": Setting(
        1000, int, "Most instances a bulk operation changes inline; above it the worker runs it in the background."
    ),
    "BULK_BATCH_SIZE": Setting(
        50, int, "Instances a bulk operation changes per transaction (with their progress and admin log entries)."
    ),
    "BULK_LEASE_SECONDS": Setting(
        60.0,
        (int, float),
        "How long a worker holds a background bulk operation between batches before another resumes it.",
    ),
    "QUEUES": Setting(
        {},
        dict,
        'Limits by queue name, e.g. {"emails": {"concurrency": 10, "per_key": 1, "rate": "100/m"}} (all optional).',
    ),
    "CODE_VERSION": Setting(
        None,
        (str, type(None)),
        "The version of the deployed code (a release tag, a commit), recorded on each instance it starts.",
    ),
}

CODE_VERSION_MAX = 200  # WorkflowInstance.code_version


RETENTION_STATUSES = ("completed", "failed", "cancelled")
# About 270 years: further back than any finished_at, and still a date (datetime stops at year 1).
RETENTION_MAX_DAYS = 100_000
RETENTION_EXAMPLE = 'DURABLE_RETENTION = {"completed": 30, "failed": 90, "cancelled": 30}'


def retention_problems(value: object) -> list[tuple[str, str]]:
    """What is wrong with a DURABLE_RETENTION value, as (message, what to do) pairs; None is fine."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [
            (
                f"DURABLE_RETENTION must be a dict of days by status, not {value!r}.",
                f"Set {RETENTION_EXAMPLE} (a status left out is kept), or None to keep every instance.",
            )
        ]
    problems = []
    for key, days in value.items():
        if key not in RETENTION_STATUSES:
            problems.append(
                (
                    f"DURABLE_RETENTION has the key {key!r}, which is not an ended status.",
                    f"Use only {', '.join(RETENTION_STATUSES)}: only ended instances are deleted.",
                )
            )
        elif isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 <= days <= RETENTION_MAX_DAYS:
            problems.append(
                (
                    f"DURABLE_RETENTION[{key!r}] is {days!r}, not a number of days from 0 to {RETENTION_MAX_DAYS:,}.",
                    f"Set it to the days to keep {key} instances, e.g. 30, or leave {key!r} out to keep them.",
                )
            )
    return problems


class Settings:
    """Attribute access to DURABLE_* settings: `settings.LEASE_SECONDS`."""

    def __getattr__(self, name: str) -> Any:
        try:
            spec = DEFAULTS[name]
        except KeyError:
            raise AttributeError(f"There is no DURABLE_{name} setting.") from None
        value = getattr(django_settings, f"DURABLE_{name}", spec.default)
        if not isinstance(value, spec.kind) or isinstance(value, bool) and spec.kind is not bool:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f"DURABLE_{name} must be {spec.kind}, not {value!r}.")
        return value

    @property
    def event_retention(self) -> dt.timedelta:
        value = self.EVENT_RETENTION
        return value if isinstance(value, dt.timedelta) else dt.timedelta(seconds=value)

    @property
    def code_version(self) -> str | None:
        """DURABLE_CODE_VERSION, None when unset or empty.

        Raises:
            ImproperlyConfigured: longer than CODE_VERSION_MAX characters, or holding control characters.
        """
        value = self.CODE_VERSION or None
        if value is not None and (len(value) > CODE_VERSION_MAX or not value.isprintable()):
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"DURABLE_CODE_VERSION must be at most {CODE_VERSION_MAX} printable characters, not {value!r}."
            )
        return value

    @property
    def retention(self) -> dict[str, dt.timedelta]:
        """DURABLE_RETENTION as {status: how long an instance ended with it is kept}; {} keeps everything.

        Raises:
            ImproperlyConfigured: the value is not days by ended status (the system check says so too).
        """
        value = self.RETENTION
        if problems := retention_problems(value):
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(" ".join(" ".join(p) for p in problems))
        return {status: dt.timedelta(days=days) for status, days in (value or {}).items()}


settings = Settings()
