"""Erasure (SPEC 16, luno's DeleteData): an ended instance's data replaced in place by one marker.

What is replaced by MARKER, the JSON string "[erased]": the instance's input, result, error,
status reason and waiting_for, the reasons and messages of its incident log and saga progress;
every step's input, result and error, and of its failed attempts all but their attempt number
and time; its published values; the data and non-routing extensions of the events it received,
was addressed or sent, unless an instance that is not erased received the event too (or is its
addressee); and the admin log's change messages about it. What stays, for the audit: ids,
positions, kinds, names, statuses, times, keys of published values, event types, sources,
subjects and ids, and the business key (an identifier of what the instance is about, such as
"auth.user:42", not data about it). A null stays null and an empty reason empty.

An erasure runs in bounded steps: the instance row first (erase_reason set: it is being
erased, and can no longer be retried), the history and events in batches of their own
transactions, then erased_at, set once everything is done, so an interrupted erasure is finished
by the next call and a finished one is left as it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps

from durable import business_keys, db, hooks, journal, leases, text, transitions
from durable.events import TARGET_EXTENSION
from durable.exceptions import InstanceNotFound, InvalidArgument, InvalidTransition
from durable.models import TERMINAL, WorkflowInstance

logger = logging.getLogger(__name__)

MARKER = "[erased]"
ROUTING_EXTENSIONS = frozenset({TARGET_EXTENSION})
# What an incident keeps: its kind and when (the rest, reasons and messages, is data).
_INCIDENT_KEPT = ("kind", "at")
_UNSET: Any = object()


@dataclass(frozen=True)
class Erased:
    """What one `erase` call did: the instances it erased now, and those erased before (left as they were)."""

    erased: list[str]
    already: list[str]

    @property
    def instance_ids(self) -> list[str]:
        return [*self.erased, *self.already]


def erase(
    instance_id: str | None = None,
    reason: str = "",
    *,
    business_key: Any = _UNSET,
    cancel: bool = False,
) -> Erased:
    """Replace the data of ended instances by the marker "[erased]"; the structure stays for the audit.

    Args:
        instance_id: the instance, and the forks made of it (durable.fork copies its data); or
            give `business_key` instead (exactly one of them).
        reason: why (say, the request it answers), kept as the instance's erase_reason.
        business_key: every instance of this key (a string or a saved model instance), and only those.
        cancel: cancel an active instance first, at once and without running its compensations
            (they would need the data being erased); without it an active instance is refused.

    Returns:
        Erased: which instances were erased now and which had been already (idempotent: those
        are left exactly as they were).

    Raises:
        InvalidArgument: neither or both of instance_id and business_key, or a reason with a
            control character.
        InstanceNotFound: no instance has that id.
        InvalidTransition: an instance is active and `cancel` is False (nothing was erased).
    """
    if (instance_id is None) == (business_key is _UNSET):
        raise InvalidArgument("erase takes an instance id or business_key=..., exactly one of them.")
    if not isinstance(reason, str) or (why := text.problem(reason, free_text=True)):
        raise InvalidArgument(f"The reason cannot be stored: {why if isinstance(reason, str) else 'not a string'}.")
    if instance_id is not None:
        rows = list(WorkflowInstance.objects.filter(id=instance_id).values_list("id", "status", "erased_at"))
        if not rows:
            raise InstanceNotFound.of(instance_id)
        rows += _forks_of(instance_id)
    else:
        rows = list(business_keys.instances_for(business_key).values_list("id", "status", "erased_at"))
    active = [pk for pk, status, erased_at in rows if status not in TERMINAL and erased_at is None]
    if active and not cancel:
        raise InvalidTransition(
            f"Cannot erase instance{'s' if len(active) > 1 else ''} {', '.join(active[:5])}: "
            f"{'they have' if len(active) > 1 else 'it has'} not ended. Cancel first, or erase with cancel=True."
        )
    done = Erased([], [])
    for pk, _, erased_at in rows:
        if erased_at is None and _erase_one(pk, reason, cancel=cancel):
            done.erased.append(pk)
        else:
            done.already.append(pk)
    return done


def _forks_of(instance_id: str) -> list[tuple[str, str, Any]]:
    """Its forks, theirs, and so on (durable.fork): each holds a copy of its first steps' data."""
    found: list[tuple[str, str, Any]] = []
    parents = [instance_id]
    while parents:
        children = list(
            WorkflowInstance.objects.filter(forked_from__in=parents).values_list("id", "status", "erased_at")
        )
        found += children
        parents = [pk for pk, _, _ in children]
    return found


def _erase_one(instance_id: str, reason: str, *, cancel: bool) -> bool:
    """Erase one instance; False when it had been erased already."""
    with db.atomic():
        leases.lock_instances([instance_id])
        row = transitions.get(instance_id)
        if row.erased_at is not None:
            return False
        if not row.is_terminal:
            if not cancel:
                raise InvalidTransition(f"Cannot erase instance {instance_id}: it is {row.status}. Cancel it first.")
            transitions.apply(instance_id, "cancel", "Cancelled to erase its data.")
            row = transitions.get(instance_id)
        journal.withdraw([instance_id])
        WorkflowInstance.objects.filter(id=instance_id).update(erase_reason=reason, **_erased_row(row))
    # The events first: the history's records of those it sent say which they are, until erased.
    with db.atomic():
        seqs = journal.events_of(instance_id, journal.sent_events(instance_id))
        events = journal.erase_events(seqs, instance_id, ROUTING_EXTENSIONS, MARKER)
        journal.erase_values(instance_id, MARKER)
        hooks.erase_errors(instance_id, MARKER)
    after: int | None = -1
    while after is not None:
        with db.atomic():
            after = journal.erase_steps(instance_id, after, MARKER)
    with db.atomic():
        leases.lock_instances([instance_id])
        moment = db.now()
        unfinished = WorkflowInstance.objects.filter(id=instance_id, erased_at__isnull=True)
        if not unfinished.update(erased_at=moment, updated_at=moment):
            return False  # another erasure of it finished first
        _erase_admin_log(instance_id)
        # In the transaction that sets erased_at: it exists if and only if the erasure finished.
        hooks.record(instance_id, row.workflow_name, "erased", moment)
    logger.info(
        "instance data erased",
        extra={"instance_id": instance_id, "workflow": row.workflow_name, "events": events},
    )
    return True


def _erased_row(row: WorkflowInstance) -> dict[str, Any]:
    """The instance's own columns that hold data, replaced."""
    compensation = row.compensation
    if isinstance(compensation, dict) and "reason" in compensation:
        compensation = {**compensation, "reason": MARKER}
    return {
        "input": MARKER,
        "result": None if row.result is None else MARKER,
        "error": None if row.error is None else MARKER,
        "status_reason": MARKER if row.status_reason else "",
        "waiting_for": None if row.waiting_for is None else MARKER,
        "incidents": [journal.erased_entry(entry, _INCIDENT_KEPT, MARKER) for entry in row.incidents or []],
        "compensation": compensation,
    }


def _erase_admin_log(instance_id: str) -> None:
    """The admin log's messages about the instance (they may quote reasons), replaced; the entries stay."""
    if not apps.is_installed("django.contrib.admin"):
        return
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    kind = ContentType.objects.get_for_model(WorkflowInstance)
    LogEntry.objects.filter(content_type=kind, object_id=instance_id).exclude(change_message="").update(
        change_message=MARKER
    )
