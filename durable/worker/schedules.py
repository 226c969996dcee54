"""The backstop Schedules of django-q2's scheduler: a timer and recovery sweep each minute, a retention purge hourly."""

from __future__ import annotations

import logging

from django_q.models import Schedule

logger = logging.getLogger(__name__)

BACKSTOP_NAME = "durable-backstop-sweep"
BACKSTOP_FUNC = "durable.worker.tasks.sweep"
PURGE_NAME = "durable-retention-purge"
PURGE_FUNC = "durable.worker.tasks.purge"


def ensure_backstop() -> Schedule:
    """Create (or repair) the backstop Schedules, the sweep's (returned) and the purge's; safe
    to call from every worker."""
    # The purge's task does nothing, not even a query, while DURABLE_RETENTION is unset.
    _ensure(PURGE_NAME, PURGE_FUNC, schedule_type=Schedule.HOURLY)
    return _ensure(BACKSTOP_NAME, BACKSTOP_FUNC, schedule_type=Schedule.MINUTES, minutes=1)


def _ensure(name: str, func: str, **timing: object) -> Schedule:
    schedule, created = Schedule.objects.update_or_create(
        name=name, defaults={"func": func, "repeats": -1, "minutes": None, **timing}
    )
    if created:
        logger.info("backstop scheduled", extra={"schedule": name})
    return schedule
