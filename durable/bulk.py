"""Bulk operations (SPEC 16): cancel, pause, resume, retry or erase every instance a filter matches, in batches."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import F, Q

from durable import client, db, erasure, leases, permissions, text
from durable.bulk_filters import clean, matching
from durable.conf import settings
from durable.exceptions import DurableError, InstanceNotFound, InvalidArgument, InvalidTransition
from durable.models import BulkOperation, BulkStatus, WorkflowInstance
from durable.transitions import OPERATIONS as TRANSITIONS

logger = logging.getLogger(__name__)

UNFINISHED = (BulkStatus.QUEUED, BulkStatus.RUNNING)


@dataclass(frozen=True)
class Operation:
    """What a bulk request may apply to each instance: the permission it needs and the call that makes it."""

    name: str
    permission: str
    takes_reason: bool
    label: str
    done: str
    apply: Callable[[str, str], object]


def _transition(name: str) -> Operation:
    step = TRANSITIONS[name]

    def apply(instance_id: str, reason: str) -> object:
        return client.operate(instance_id, name, reason)

    return Operation(name, step.permission or "", step.takes_reason, step.label, step.done, apply)


def _erase(instance_id: str, reason: str) -> object:
    # An active instance is refused (InvalidTransition: skipped); one erased already is skipped too.
    if not erasure.erase(instance_id, reason).erased:
        raise InvalidTransition(f"Instance {instance_id}'s data was erased already.")
    return None


# The HTTP route, the admin and the commands take their names from here.
OPERATIONS: dict[str, Operation] = {name: _transition(name) for name in ("cancel", "pause", "resume", "retry")}
OPERATIONS["erase"] = Operation(
    "erase", permissions.qualified(permissions.ERASE_INSTANCE[0]), True, "Erase", "Erased", _erase
)


def operation(name: str) -> Operation:
    """The bulk operation `name`, or InvalidArgument naming the ones there are."""
    found = OPERATIONS.get(name)
    if found is None:
        raise InvalidArgument(f"There is no bulk operation {name!r}; use one of {', '.join(OPERATIONS)}.")
    return found


def request(
    name: str,
    filters: dict[str, Any],
    *,
    everything: bool = False,
    reason: str = "",
    requested_by: str = "",
    user_id: int | None = None,
) -> BulkOperation:
    """Record a bulk operation over what `filters` match now; run it with `run` (inline when `background` is False).

    Args:
        name: a key of OPERATIONS.
        filters: the list's filters (see FILTERS); at least one unless `everything`.
        everything: apply to every instance (all=true).
        reason: why, for each instance's incident log (where the operation takes one) and the admin log.
        requested_by: who asked, as shown in the admin.
        user_id: the user each admin log entry names; None writes no admin log (a command).

    Raises:
        InvalidArgument: an unknown operation or filter, a malformed value, no filter, a reason with control characters.
    """
    op = operation(name)
    cleaned = clean(filters, everything=everything)
    why = text.problem(reason, free_text=True)
    if why:
        raise InvalidArgument(f"The reason cannot be stored: {why}.")
    bound_at = db.now()
    total = matching(cleaned, bound_at).count()
    job = BulkOperation.objects.create(
        operation=op.name,
        filters={**cleaned, **({"all": True} if everything and not cleaned else {})},
        reason=reason,
        requested_by=requested_by[:150],
        user_id=user_id,
        total=total,
        background=total > int(settings.BULK_INLINE_LIMIT),
        bound_at=bound_at,
        created_at=bound_at,
        updated_at=bound_at,
    )
    logger.info("bulk operation requested", extra={"bulk_id": job.pk, "operation": op.name, "total": total})
    return job


def run(
    job_id: int,
    *,
    max_batches: int | None = None,
    max_seconds: float | None = None,
    progress: Callable[[BulkOperation], None] | None = None,
) -> BulkOperation:
    """Work through a bulk operation batch by batch until it is done (or `max_batches` ran, or
    `max_seconds` passed: then its claim is let go at once, for the next task to carry on); returns it.

    Each batch is one short transaction: its instances change (each in its own savepoint, so one
    that its status refuses is skipped and the rest go on), the progress and cursor move and the
    admin log gets its entries, all or nothing. Another worker may take over once the lease lapses.
    """
    if not _claim(job_id):
        return BulkOperation.objects.get(pk=job_id)
    batches = 0
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    while max_batches is None or batches < max_batches:
        if deadline is not None and time.monotonic() >= deadline:
            BulkOperation.objects.filter(pk=job_id, status=BulkStatus.RUNNING).update(lease_expires_at=None)
            break
        job = BulkOperation.objects.get(pk=job_id)
        try:
            if not _batch(job):
                return _finish(job_id)
        except _TakenOver:
            logger.warning("bulk operation taken over by another worker", extra={"bulk_id": job_id})
            break
        batches += 1
        if progress is not None:
            progress(BulkOperation.objects.get(pk=job_id))
    return BulkOperation.objects.get(pk=job_id)


class _TakenOver(Exception):
    """Another worker moved the job on (this one's lease ran out): the batch rolls back."""


def _claim(job_id: int) -> bool:
    moment = db.now()
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=moment)
    claimed = BulkOperation.objects.filter(free, pk=job_id, status__in=UNFINISHED).update(
        status=BulkStatus.RUNNING, lease_expires_at=_lease(moment), updated_at=moment
    )
    if claimed:
        BulkOperation.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=moment)
    return bool(claimed)


def _lease(moment: dt.datetime) -> dt.datetime:
    return moment + dt.timedelta(seconds=float(settings.BULK_LEASE_SECONDS))


def _next_rows(job: BulkOperation) -> list[tuple[str, str, dt.datetime]]:
    rows = matching(job.filters, job.bound_at)
    if job.cursor_at is not None:
        rows = rows.filter(Q(created_at__gt=job.cursor_at) | Q(created_at=job.cursor_at, id__gt=job.cursor_id))
    size = max(1, int(settings.BULK_BATCH_SIZE))
    return list(rows.order_by("created_at", "id").values_list("id", "workflow_name", "created_at")[:size])


def _batch(job: BulkOperation) -> bool:
    """One batch in one transaction; False when nothing is left."""
    op = operation(job.operation)
    reason = job.reason if op.takes_reason else ""
    with db.atomic():
        rows = _next_rows(job)
        if not rows:
            return False
        leases.lock_instances(pk for pk, _, _ in rows)  # in id order, as cancel and the workers lock
        counts = {"done": 0, "skipped": 0, "failed": 0}
        changed, last_error = [], ""
        for pk, workflow, _ in rows:
            try:
                with db.atomic():
                    op.apply(pk, reason)
            except (InvalidTransition, InstanceNotFound):
                counts["skipped"] += 1
            except Exception as exc:  # one bad instance never stops the run
                counts["failed"] += 1
                last_error = f"{pk}: {exc}"[:2000]
                if not isinstance(exc, DurableError):
                    logger.exception(
                        "bulk operation failed on an instance", extra={"instance_id": pk, "workflow": workflow}
                    )
            else:
                counts["done"] += 1
                changed.append((pk, workflow))
        moment = db.now()
        last_pk, _, last_at = rows[-1]
        fields: dict[str, Any] = {name: F(name) + count for name, count in counts.items()}
        if last_error:
            fields["last_error"] = last_error
        # Fenced by the cursor this batch started from: a worker that took over meanwhile wins.
        held = BulkOperation.objects.filter(pk=job.pk, status=BulkStatus.RUNNING, cursor_id=job.cursor_id)
        renewed = held.update(
            **fields, cursor_at=last_at, cursor_id=last_pk, lease_expires_at=_lease(moment), updated_at=moment
        )
        if renewed != 1:
            raise _TakenOver()
        _log(job, op, changed)
    logger.info("bulk batch done", extra={"bulk_id": job.pk, **counts})
    return True


def _finish(job_id: int) -> BulkOperation:
    moment = db.now()
    job = BulkOperation.objects.get(pk=job_id)
    # Instances that left the filter before their turn (a status filter, say) were not changed.
    gone = max(0, job.total - job.handled)
    BulkOperation.objects.filter(pk=job_id, status=BulkStatus.RUNNING).update(
        status=BulkStatus.DONE,
        skipped=F("skipped") + gone,
        finished_at=moment,
        updated_at=moment,
        lease_expires_at=None,
    )
    logger.info("bulk operation finished", extra={"bulk_id": job_id})
    return BulkOperation.objects.get(pk=job_id)


def _log(job: BulkOperation, op: Operation, changed: list[tuple[str, str]]) -> None:
    """One admin log entry per changed instance, in one INSERT, when a user asked."""
    if job.user_id is None or not changed or not apps.is_installed("django.contrib.admin"):
        return
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    kind = ContentType.objects.get_for_model(WorkflowInstance)
    note = f": {job.reason}" if job.reason and op.takes_reason else "."
    message = f"{op.done} by bulk operation #{job.pk}{note}"[:2000]
    LogEntry.objects.bulk_create(
        LogEntry(
            user_id=job.user_id,
            content_type=kind,
            object_id=pk,
            object_repr=f"{workflow} {pk}"[:200],
            action_flag=CHANGE,
            change_message=message,
        )
        for pk, workflow in changed
    )


def get(job_id: int) -> BulkOperation | None:
    """The bulk operation with this id, for its progress."""
    return BulkOperation.objects.filter(pk=job_id).first()


def to_background(job_id: int) -> None:
    """Mark a requested job as the worker's, so a stalled one is enqueued again by the sweep."""
    BulkOperation.objects.filter(pk=job_id).update(background=True)


def stale(moment: dt.datetime | None = None) -> list[int]:
    """Background operations nobody works on (never picked up, or their worker died): to enqueue again."""
    moment = moment or db.now()
    rows = BulkOperation.objects.filter(background=True, status__in=UNFINISHED).filter(
        Q(
            lease_expires_at__isnull=True,
            created_at__lt=moment - dt.timedelta(seconds=float(settings.BULK_LEASE_SECONDS)),
        )
        | Q(lease_expires_at__lt=moment)
    )
    return list(rows.values_list("pk", flat=True))
