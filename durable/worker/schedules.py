"""The backstop Schedule: a timer and recovery sweep every minute through django-q2's scheduler."""

from __future__ import annotations

import logging

from django_q.models import Schedule

logger = logging.getLogger(__name__)

BACKSTOP_NAME = "durable-backstop-sweep"
BACKSTOP_FUNC = "durable.worker.tasks.sweep"


def ensure_backstop() -> Schedule:
    """Create (or repair) the one backstop Schedule; safe to call from every worker."""
    schedule, created = Schedule.objects.update_or_create(
        name=BACKSTOP_NAME,
        defaults={
            "func": BACKSTOP_FUNC,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
    if created:
        logger.info("backstop sweep scheduled", extra={"schedule": BACKSTOP_NAME})
    return schedule
