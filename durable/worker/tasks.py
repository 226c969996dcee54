"""django-q2 tasks, addressed by dotted path: drain due instances, the backstop sweep and the retention purge."""

from __future__ import annotations

import logging

from durable import hooks, retention, timers
from durable.run import executor
from durable.worker import cluster, wakeup

logger = logging.getLogger(__name__)


def drain() -> int:
    """Run due instances until none are left (or DURABLE_DRAIN_SECONDS pass)."""
    wakeup.clear()
    ran = executor.run_due(stopping=cluster.is_stopping)
    logger.debug("drain finished", extra={"ran": ran})
    return ran


def run_hooks() -> int:
    """Run due durable hooks until none is due (or DURABLE_DRAIN_SECONDS pass)."""
    wakeup.clear(wakeup.HOOKS)
    ran = hooks.run_due(executor.owner_id(), stopping=cluster.is_stopping)
    logger.debug("hooks run", extra={"ran": ran})
    return ran


def sweep() -> dict:
    """The minute-by-minute backstop for deployments that run plain `qcluster`."""
    report = timers.sweep()
    return {
        "fired": report.fired,
        "requeued": report.requeued,
        "redelivered": report.redelivered,
        "purged": report.purged,
    }


def purge() -> dict | None:
    """The hourly backstop of DURABLE_RETENTION, bounded in time (None while it is unset)."""
    report = retention.backstop()
    if report is None:
        return None
    return {"instances": report.instances, "events": report.events, "rows": report.rows, "finished": report.finished}
