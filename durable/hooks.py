"""Durable hooks: rows recorded with a transition (an outbox), run by the worker until they succeed."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable

from django.db.models import F

from durable import db, metrics
from durable.conf import settings
from durable.engine import codec
from durable.engine.hooks import DEFAULT_HOOK_RETRY, HookContext, HookDefinition, InstanceInfo
from durable.engine.registry import registry
from durable.engine.replay import describe
from durable.exceptions import DefinitionError
from durable.models import HookRun, HookStatus, WorkflowInstance

logger = logging.getLogger(__name__)

# The transitions whose trigger runs hooks (as the signals map them); cancel_compensating waits for cancel_run.
TRIGGER_OF = {
    "complete": "completed",
    "fail": "failed",
    "cancel": "cancelled",
    "cancel_run": "cancelled",
    "pause": "paused",
    "pause_run": "paused",
    "resume": "resumed",
    "retry": "resumed",
}
UNFINISHED = (HookStatus.PENDING, HookStatus.FAILING)
FAILING = (HookStatus.FAILING, HookStatus.GAVE_UP)


def record(instance_id: str, workflow_name: str, trigger: str, moment: dt.datetime | None = None) -> int:
    """Write one row per hook registered for `trigger` of `workflow_name`, in the caller's
    transaction (one INSERT, none when no hook applies), and wake a hook runner on commit."""
    names = registry.hooks_for(trigger, workflow_name)
    if not names:
        return 0
    moment = moment or db.now()
    HookRun.objects.bulk_create(
        [
            HookRun(
                instance_id=instance_id,
                workflow_name=workflow_name,
                hook_name=name,
                trigger=trigger,
                next_attempt_at=moment,
                created_at=moment,
                updated_at=moment,
            )
            for name in names
        ]
    )
    db.request_hooks()
    return len(names)


def next_due() -> dt.datetime | None:
    """When the earliest unfinished hook is due (an index lookup)."""
    return (
        HookRun.objects.filter(next_attempt_at__isnull=False)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def claim(owner: str, moment: dt.datetime | None = None) -> HookRun | None:
    """Take the earliest due hook under a lease (one attempt more), or None; a hook whose worker
    died is due again when its lease ends, as `next_attempt_at` is set to it meanwhile."""
    moment = moment or db.now()
    lease_end = moment + dt.timedelta(seconds=float(settings.LEASE_SECONDS))
    with db.atomic():
        rows = HookRun.objects.filter(next_attempt_at__lte=moment).order_by("next_attempt_at")
        if db.is_postgres():
            rows = rows.select_for_update(skip_locked=True)
        row = rows.first()
        if row is None:
            return None
        HookRun.objects.filter(id=row.id).update(
            attempts=F("attempts") + 1,
            lease_owner=owner,
            lease_expires_at=lease_end,
            next_attempt_at=lease_end,
            updated_at=moment,
        )
    row.attempts += 1
    row.lease_owner, row.lease_expires_at, row.next_attempt_at = owner, lease_end, lease_end
    return row


def snapshot(instance_id: str) -> InstanceInfo:
    """The instance as the attempt starts, decoded from its JSON."""
    row = WorkflowInstance.objects.get(id=instance_id)
    return InstanceInfo(
        id=row.id,
        workflow_name=row.workflow_name,
        status=row.status,
        business_key=row.business_key,
        result=codec.decode(row.result) if row.result is not None else None,
        error=row.error,
        reason=row.status_reason,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def attempt(row: HookRun) -> bool:
    """Run one claimed attempt; record its outcome (fenced by the lease). True when it succeeded."""
    definition: HookDefinition | None = registry.hooks.get(row.hook_name)
    extra = {"instance_id": row.instance_id, "workflow": row.workflow_name, "hook": row.hook_name}
    try:
        if definition is None:
            raise DefinitionError(
                f"No hook named '{row.hook_name}' is registered in this worker; deploy its code (or remove the row)."
            )
        ctx = HookContext(
            idempotency_key=row.id,
            attempt=row.attempts,
            hook_name=row.hook_name,
            trigger=row.trigger,
            recorded_at=row.created_at,
        )
        definition(ctx, snapshot(row.instance_id))
    except Exception as exc:
        metrics.hook_failed(row.hook_name)
        policy = definition.retry if definition is not None else DEFAULT_HOOK_RETRY
        again = policy.retries(exc, row.attempts)
        moment = db.now()
        _finish(
            row,
            status=HookStatus.FAILING if again else HookStatus.GAVE_UP,
            last_error={**describe(exc), "attempt": row.attempts, "at": moment.isoformat()},
            next_attempt_at=moment + dt.timedelta(seconds=policy.delay(row.attempts)) if again else None,
            finished_at=None if again else moment,
            updated_at=moment,
        )
        logger.warning(
            "hook %s failed on attempt %d for instance %s (%s); %s",
            row.hook_name,
            row.attempts,
            row.instance_id,
            row.workflow_name,
            "retrying" if again else "giving up",
            exc_info=True,
            extra={**extra, "attempt": row.attempts},
        )
        return False
    moment = db.now()
    _finish(row, status=HookStatus.SUCCEEDED, next_attempt_at=None, finished_at=moment, updated_at=moment)
    logger.debug("hook succeeded", extra={**extra, "attempt": row.attempts})
    return True


def _finish(row: HookRun, **fields: object) -> None:
    done = HookRun.objects.filter(id=row.id, lease_owner=row.lease_owner).update(
        lease_owner=None, lease_expires_at=None, **fields
    )
    if not done:
        logger.warning(
            "hook %s attempt %d outlived its lease; another worker took it",
            row.hook_name,
            row.attempts,
            extra={"instance_id": row.instance_id, "workflow": row.workflow_name, "hook": row.hook_name},
        )


def run_due(owner: str, *, seconds: float | None = None, stopping: Callable[[], bool] | None = None) -> int:
    """Run due hooks one by one until none is due (or `seconds` pass); returns how many ran."""
    deadline = time.monotonic() + (float(settings.DRAIN_SECONDS) if seconds is None else seconds)
    ran = 0
    while time.monotonic() < deadline and not (stopping and stopping()):
        row = claim(owner)
        if row is None:
            break
        attempt(row)
        ran += 1
    return ran


def erase_errors(instance_id: str, marker: str) -> int:
    """Replace the errors the instance's hook runs recorded (they may quote its data), for erasure."""
    return HookRun.objects.filter(instance_id=instance_id, last_error__isnull=False).update(last_error=marker)


def retry_now(ids: Iterable[str]) -> int:
    """Make these unfinished or given-up hooks due now (not one an attempt holds); how many."""
    moment = db.now()
    with db.atomic():
        rows = HookRun.objects.filter(id__in=list(ids)).exclude(status=HookStatus.SUCCEEDED)
        rows = rows.exclude(lease_expires_at__gt=moment)
        rows.filter(status=HookStatus.GAVE_UP).update(status=HookStatus.FAILING, finished_at=None)
        changed = rows.update(next_attempt_at=moment, updated_at=moment)
        if changed:
            db.request_hooks()
    return changed


def failing(limit: int = 10) -> tuple[int, list[HookRun]]:
    """How many hooks are failing or gave up, and the most recently changed of them."""
    rows = HookRun.objects.filter(status__in=FAILING)
    return rows.count(), list(rows.order_by("-updated_at")[:limit])


def for_instance(instance_id: str) -> list[HookRun]:
    return list(HookRun.objects.filter(instance_id=instance_id).order_by("created_at", "hook_name"))
