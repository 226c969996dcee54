"""Child workflows outside a run (SPEC 15): a cancel reaches active children, and who is whose."""

from __future__ import annotations

from durable import db, leases, sagas
from durable.exceptions import InstanceNotFound, InvalidTransition
from durable.models import TERMINAL, WorkflowInstance

# How deep a cancel follows children of children (a guard against a cycle of user-chosen ids).
MAX_DEPTH = 50


def active_children(parent_ids: list[str]) -> list[str]:
    """The ids of these instances' children that have not ended and were not started detached."""
    rows = WorkflowInstance.objects.filter(parent_id__in=parent_ids, detached=False).exclude(status__in=TERMINAL)
    return sorted(rows.values_list("id", flat=True))


def cancel(instance_id: str, reason: str = "", *, compensate: bool = True) -> None:
    """Cancel an instance (durable.sagas.cancel) and, in the same transaction, its active children
    that were not started with detached=True, and theirs.

    Rows are locked descendants first, the order a child that ends (and wakes its parent) and a
    parent that starts waiting for a child take them, so none of them can deadlock.

    Raises:
        InstanceNotFound: no instance has that id.
        InvalidTransition: it has ended already.
    """
    with db.atomic():
        levels: list[list[str]] = []
        below, seen = [instance_id], {instance_id}
        while below and len(levels) < MAX_DEPTH:
            below = [child for child in active_children(below) if child not in seen]
            seen.update(below)
            if below:
                levels.append(below)
        for level in reversed(levels):
            leases.lock_instances(level)
        sagas.cancel(instance_id, reason, compensate=compensate)
        why = f"Cancelled with {instance_id}" + (f": {reason}" if reason else ".")
        for level in levels:
            for child in level:
                try:
                    with db.atomic():
                        sagas.cancel(child, why, compensate=compensate)
                except (InvalidTransition, InstanceNotFound):
                    pass  # it ended meanwhile: nothing to cancel
