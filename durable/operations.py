"""Operations on one instance: cancel, pause, resume and retry, each a checked status transition."""

from __future__ import annotations

import logging
from typing import Any

from durable import signals, store
from durable.engine.types import ACTIVITY, FAILED, RETRYING
from durable.exceptions import InstanceNotFound, InvalidTransition
from durable.models import TERMINAL, HistoryStep, Status, WorkflowInstance

logger = logging.getLogger(__name__)


def instance(instance_id: str) -> WorkflowInstance:
    """The instance, or InstanceNotFound."""
    try:
        return WorkflowInstance.objects.get(id=instance_id)
    except WorkflowInstance.DoesNotExist:
        raise InstanceNotFound(f"No workflow instance has id {instance_id!r}; check the id.") from None


def _transition(instance_id: str, allowed: frozenset[str] | None, verb: str) -> WorkflowInstance:
    """Lock and return the instance, refusing the operation from a status it does not allow."""
    rows = WorkflowInstance.objects.filter(id=instance_id)
    if store.is_postgres():
        rows = rows.select_for_update()
    row = rows.first()
    if row is None:
        raise InstanceNotFound(f"No workflow instance has id {instance_id!r}; check the id.")
    if (allowed is None and row.status in TERMINAL) or (allowed is not None and row.status not in allowed):
        raise InvalidTransition(f"Cannot {verb} instance {instance_id}: it is {row.status}.")
    return row


def cancel(instance_id: str, reason: str = "") -> WorkflowInstance:
    """End a non-terminal instance: its waits and timers are withdrawn, later events ignored.

    Raises:
        InstanceNotFound: no instance has that id.
        InvalidTransition: it has ended already.
    """
    moment = store.now()
    with store.atomic():
        row = _transition(instance_id, None, "cancel")
        row.status, row.status_reason, row.finished_at = Status.CANCELLED, reason, moment
        _update(row, moment, waiting_for=None, run_after=None)
        store.drop_waiting([instance_id])
        store.append_incident(instance_id, store.incident("cancelled", moment, reason=reason))
        signals.send_on_commit(signals.workflow_cancelled, row.workflow_name, instance_id, row.status, reason=reason)
    return instance(instance_id)


def pause(instance_id: str, reason: str = "") -> WorkflowInstance:
    """Stop an instance from running until `resume`; events and timers meanwhile are kept.

    Raises:
        InstanceNotFound: no instance has that id.
        InvalidTransition: it has ended or is paused already.
    """
    moment = store.now()
    with store.atomic():
        row = _transition(instance_id, frozenset(Status) - TERMINAL - {Status.PAUSED}, "pause")
        row.status, row.status_reason = Status.PAUSED, reason
        _update(row, moment)
        store.append_incident(instance_id, store.incident("paused", moment, reason=reason))
        signals.send_on_commit(signals.workflow_paused, row.workflow_name, instance_id, row.status, reason=reason)
    return instance(instance_id)


def resume(instance_id: str) -> WorkflowInstance:
    """Let a paused instance run again; it replays and picks up what arrived meanwhile.

    Raises:
        InstanceNotFound: no instance has that id.
        InvalidTransition: it is not paused.
    """
    return _restart(instance_id, Status.PAUSED, "resume", "resumed")


def retry(instance_id: str) -> WorkflowInstance:
    """Run a failed instance again from its last recorded step; the failure stays in its timeline.

    Raises:
        InstanceNotFound: no instance has that id.
        InvalidTransition: it has not failed.
    """
    return _restart(instance_id, Status.FAILED, "retry", "retried")


def _restart(instance_id: str, allowed: str, verb: str, incident: str) -> WorkflowInstance:
    moment = store.now()
    with store.atomic():
        row = _transition(instance_id, frozenset({allowed}), verb)
        if allowed == Status.FAILED:
            _reopen_failed_activity(row, moment)
            row.error, row.finished_at = None, None
        row.status, row.status_reason = Status.PENDING, ""
        _update(row, moment, error_streak=0)
        store.wake([instance_id], moment)
        store.append_incident(instance_id, store.incident(incident, moment))
        signals.send_on_commit(signals.workflow_resumed, row.workflow_name, instance_id, row.status)
        store.request_run()
    return instance(instance_id)


def _reopen_failed_activity(row: WorkflowInstance, moment) -> None:
    """When the instance failed because its last step, an activity, ran out of attempts,
    give that step another round of attempts."""
    if (row.error or {}).get("type") != "ActivityError":
        return
    last = HistoryStep.objects.filter(instance_id=row.id).order_by("-position").first()
    if last is not None and last.kind == ACTIVITY and last.status == FAILED:
        HistoryStep.objects.filter(pk=last.pk).update(status=RETRYING, retry_at=moment, attempt=0)


def _update(row: WorkflowInstance, moment, **extra: Any) -> None:
    WorkflowInstance.objects.filter(id=row.id).update(
        status=row.status,
        status_reason=row.status_reason,
        error=row.error,
        finished_at=row.finished_at,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=moment,
        **extra,
    )
