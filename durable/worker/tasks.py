"""django-q2 tasks, by dotted path: drains, parallel steps, hooks, the backstop sweep, retention purge, bulk jobs."""

from __future__ import annotations

import logging

from durable import bulk, hooks, retention, timers
from durable.conf import settings
from durable.models import BulkStatus
from durable.run import executor, steps
from durable.worker import bulk as bulk_jobs
from durable.worker import cluster, wakeup

logger = logging.getLogger(__name__)


def drain() -> int:
    """Run due instances until none are left (or DURABLE_DRAIN_SECONDS pass)."""
    wakeup.clear()
    ran = executor.run_due(stopping=cluster.is_stopping)
    logger.debug("drain finished", extra={"ran": ran})
    return ran


def run_steps() -> int:
    """Run due parallel steps, one at a time, until none is due (or DURABLE_DRAIN_SECONDS pass)."""
    ran = steps.run_due(stopping=cluster.is_stopping)
    logger.debug("parallel steps run", extra={"ran": ran})
    return ran


def run_hooks() -> int:
    """Run due durable hooks until none is due (or DURABLE_DRAIN_SECONDS pass)."""
    wakeup.clear(wakeup.HOOKS)
    ran = hooks.run_due(executor.owner_id(), stopping=cluster.is_stopping)
    logger.debug("hooks run", extra={"ran": ran})
    return ran


def sweep() -> dict:
    """The minute-by-minute backstop for deployments that run plain `qcluster`.

    It fires only timers overdue by RECOVERY_GRACE: a live timer loop fires each on time, and
    one fired here at its due moment would go on a trip through django-q2 instead of to the
    loop's runner (tens of milliseconds late)."""
    report = timers.sweep(overdue=timers.RECOVERY_GRACE)
    requeued_bulk = bulk_jobs.requeue_stale()
    return {
        "bulk_requeued": requeued_bulk,
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


def bulk_operation(job_id: int) -> dict:
    """Work through a background bulk operation (durable.bulk), batch by batch, resuming where it
    stopped; after DURABLE_DRAIN_SECONDS it hands over to a new task, well within Q_CLUSTER's timeout."""
    job = bulk.run(job_id, max_seconds=float(settings.DRAIN_SECONDS))
    if job.status == BulkStatus.RUNNING and job.lease_expires_at is None:
        bulk_jobs.enqueue(job_id)
    return {"id": job.pk, "status": job.status, "done": job.done, "skipped": job.skipped, "failed": job.failed}
