"""Background bulk operations through django-q2: enqueue one, and enqueue again those a dead worker left."""

from __future__ import annotations

import logging

from django_q.tasks import async_task

from durable import bulk, db

logger = logging.getLogger(__name__)

TASK = "durable.worker.tasks.bulk_operation"


def enqueue(job_id: int) -> None:
    """Hand the bulk operation to a worker once the current transaction commits."""
    db.on_commit(lambda: async_task(TASK, job_id, q_options={"task_name": f"durable-bulk-{job_id}", "save": False}))


def start(job_id: int) -> bool:
    """Run a requested operation: inline when it is small (returns False), else in the background (True)."""
    from durable.models import BulkOperation

    if BulkOperation.objects.filter(pk=job_id, background=True).exists():
        enqueue(job_id)
        return True
    bulk.run(job_id)
    return False


def requeue_stale() -> int:
    """Enqueue again every background operation nobody works on; the claim keeps two from running one."""
    stale = bulk.stale()
    for job_id in stale:
        logger.warning("re-enqueuing a stalled bulk operation", extra={"bulk_id": job_id})
        enqueue(job_id)
    return len(stale)
