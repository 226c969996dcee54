"""Sagas outside a run: the compensations an instance still has armed, and the cancel that runs them first."""

from __future__ import annotations

from durable import db, leases, transitions
from durable.engine import saga
from durable.engine.types import Step, StepKind
from durable.models import HistoryStep, Status

_SAGA_KINDS = (StepKind.ARM, StepKind.COMPENSATION)


def armed(instance_id: str) -> list[saga.Armed]:
    """The compensations the instance has armed and not run, oldest first (one query)."""
    rows = (
        HistoryStep.objects.live()
        .filter(instance_id=instance_id, kind__in=_SAGA_KINDS)
        .order_by("position")
        .values_list("position", "kind", "name", "status", "result")
    )
    return saga.rebuild(Step(p, k, n, s, r) for p, k, n, s, r in rows).armed


def cancel(instance_id: str, reason: str = "", *, compensate: bool = True) -> None:
    """Cancel an instance; with `compensate` and compensations armed, they run first (status
    `compensating`) and the instance ends `cancelled` once they have.

    Raises:
        InstanceNotFound: no instance has that id.
        InvalidTransition: it has ended already.
    """
    if not compensate:
        transitions.apply(instance_id, "cancel", reason)
        return
    with db.atomic():
        # The row first, as every cancel takes it: a worker's next commit waits, then finds its lease gone.
        leases.lock_instances([instance_id])
        row = transitions.get(instance_id)
        stored = row.compensation or {}
        compensating = row.status == Status.COMPENSATING
        if compensating and stored.get("after") == saga.CANCELLED:
            return  # being cancelled already: its compensations are running
        left = armed(instance_id) if not row.is_terminal else []
        if not left:
            transitions.apply(instance_id, "cancel", reason)
            return
        done = int(stored.get("done", 0)) if compensating else 0
        skipped = int(stored.get("skipped", 0)) if compensating else 0
        progress = {
            "after": saga.CANCELLED,
            "reason": reason,
            "done": done,
            "skipped": skipped,
            "total": done + skipped + len(left),
        }
        transitions.apply(instance_id, "cancel_compensating", reason, compensation=progress)
