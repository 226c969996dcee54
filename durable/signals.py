"""Lifecycle signals, each sent once after the transaction that made the change commits.

Every signal is sent with `sender` the workflow name (a str) and the keyword arguments
`instance_id` and `status`; receivers must accept `**kwargs`.
"""

from __future__ import annotations

import logging

from django.db import router, transaction
from django.dispatch import Signal

from durable.models import WorkflowInstance

logger = logging.getLogger(__name__)

# An instance was created by durable.start, the HTTP API or an on_event workflow.
workflow_started = Signal()
# An instance returned; also `result` (the decoded return value is not sent, only the JSON tree).
workflow_completed = Signal()
# An instance failed with an uncaught exception; also `error` ({"type", "message", "traceback"}).
workflow_failed = Signal()
# An instance was cancelled; also `reason`.
workflow_cancelled = Signal()
# An instance was paused by an operator, by pause_after_errors or by non-determinism; also `reason`.
workflow_paused = Signal()
# A paused instance was resumed, or a failed one retried.
workflow_resumed = Signal()
# A cancel with compensate=True began running the instance's armed compensations; also `reason`.
# workflow_cancelled follows once they have run.
workflow_compensating = Signal()


def send_on_commit(signal: Signal, workflow_name: str, instance_id: str, status: str, **extra) -> None:
    """Send `signal` once the current transaction commits (at once outside a transaction)."""

    def send() -> None:
        replies = signal.send_robust(sender=workflow_name, instance_id=instance_id, status=status, **extra)
        for receiver, reply in replies:
            if isinstance(reply, Exception):
                logger.error(
                    "lifecycle signal receiver failed: %r",
                    reply,
                    extra={"instance_id": instance_id, "receiver": repr(receiver)},
                )

    transaction.on_commit(send, using=router.db_for_write(WorkflowInstance))
