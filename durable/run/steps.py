"""Parallel steps: run one `parallel` history step under its own lease, record how it ended,
and wake the instance when what it waits for (a gather, a first) is decided.

Each step is claimed alone (journal.claim_step), so the workers of a cluster run an instance's
steps side by side. A transactional activity's writes commit with its result, fenced by the
step's lease: a worker killed mid-attempt leaves nothing, and the step is due again when its
lease runs out. An attempt a worker did not finish counts as failed (WorkerLost) under the
activity's retry policy, as for sequential activities.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connections

from durable import db, joins, journal, leases, metrics
from durable.conf import settings
from durable.engine import codec
from durable.engine.activities import ActivityContext
from durable.engine.registry import registry
from durable.engine.replay import describe
from durable.engine.types import StepStatus
from durable.exceptions import EncodingError, WorkerLost
from durable.models import Status
from durable.run.backend import activity_sender
from durable.run.executor import owner_id

logger = logging.getLogger(__name__)

# The steps of a paused instance wait for its resume; a cancel withdraws them. An instance that
# completed or failed meanwhile (a first decided without them) still has them run to the end,
# their results recorded but unused.
RUNNABLE = sorted(set(Status) - {Status.PAUSED, Status.CANCELLED})


class _Lost(Exception):
    """The step's lease ran out and another worker took it: this attempt's outcome is dropped."""


class StepHeartbeat:
    """Renews the leases of the steps this process runs while their activities take long."""

    def __init__(self) -> None:
        self.held: dict[int, str] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def hold(self, pk: int, owner: str) -> None:
        with self.lock:
            self.held[pk] = owner
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._beat, name="durable-step-heartbeat", daemon=True)
            self.thread.start()

    def drop(self, pk: int) -> None:
        with self.lock:
            self.held.pop(pk, None)

    def _beat(self) -> None:
        while True:
            lease = float(settings.LEASE_SECONDS)
            time.sleep(max(lease / 3, 0.1))
            with self.lock:
                held = dict(self.held)
            try:
                for owner in set(held.values()):
                    until = db.now() + dt.timedelta(seconds=lease)
                    journal.renew_steps([pk for pk, o in held.items() if o == owner], owner, until)
            except Exception:
                logger.exception("renewing parallel step leases failed", extra={"steps": list(held)})
            finally:
                connections.close_all()


heartbeat = StepHeartbeat()


def run_due(*, max_seconds: float | None = None, stopping: Callable[[], bool] | None = None) -> int:
    """Run due parallel steps one at a time until none is left or `max_seconds` pass; returns how many."""
    deadline = time.monotonic() + (max_seconds if max_seconds is not None else float(settings.DRAIN_SECONDS))
    owner = owner_id()
    ran = 0
    while time.monotonic() < deadline and not (stopping is not None and stopping()):
        claimed = journal.claim_step(owner, float(settings.LEASE_SECONDS), RUNNABLE)
        if claimed is None:
            break
        heartbeat.hold(claimed.pk, owner)
        try:
            run_one(claimed, owner)
        except _Lost:
            logger.info("parallel step lease lost; outcome dropped", extra=_where(claimed))
        finally:
            heartbeat.drop(claimed.pk)
        ran += 1
    return ran


def _where(claimed: journal.ClaimedStep) -> dict[str, Any]:
    return {"instance_id": claimed.instance_id, "position": claimed.position, "activity": claimed.name}


def run_one(claimed: journal.ClaimedStep, owner: str) -> None:
    """Run one attempt of a claimed step and record it (completed, retrying or failed)."""
    definition = registry.activities.get(claimed.name)
    if definition is None:
        # Another deployment's code: left for a worker that has it (due again when the lease ends).
        logger.error("parallel step of an unknown activity; left for a worker that has it", extra=_where(claimed))
        return
    inputs = codec.decode(claimed.input or {})
    args, kwargs = tuple(inputs.get("args", [])), dict(inputs.get("kwargs", {}))
    context = ActivityContext(
        instance_id=claimed.instance_id,
        workflow_name=claimed.workflow_name,
        activity_name=definition.name,
        attempt=claimed.attempt,
        idempotency_key=f"{claimed.instance_id}:{claimed.position}",
        sender=activity_sender(f"{claimed.instance_id}:{claimed.position}", claimed.attempt),
    )
    where = f"Instance {claimed.instance_id} step {claimed.position}: result of activity '{definition.name}'"
    began = time.perf_counter()
    if claimed.lost_by is not None:
        # Its writes, if transactional, were rolled back with the worker; the attempt counts as
        # failed under the retry policy, so an activity that kills its worker cannot loop for ever.
        exc: BaseException = WorkerLost(
            f"The worker running attempt {claimed.attempt} of activity '{definition.name}' stopped before it "
            "ended (it crashed, ran out of memory, was killed or timed out)."
        )
        with db.atomic():
            _failed(claimed, owner, definition, exc, {"type": "WorkerLost", "message": str(exc)})
        return
    if definition.transactional:
        with db.atomic():
            try:
                # A savepoint: a failed attempt undoes its own writes, not its failure's record.
                with db.atomic():
                    tree = codec.encode(definition.fn(context, *args, **kwargs), where=where)
            except Exception as exc:
                metrics.activity(definition.name, "failed", time.perf_counter() - began)
                _failed(claimed, owner, definition, exc, describe(exc))
            else:
                metrics.activity(definition.name, "completed", time.perf_counter() - began)
                _ended(claimed, owner, status=StepStatus.COMPLETED, result=tree, error=None)
        return
    try:
        tree = codec.encode(definition.fn(context, *args, **kwargs), where=where)
    except Exception as exc:
        metrics.activity(definition.name, "failed", time.perf_counter() - began)
        with db.atomic():
            _failed(claimed, owner, definition, exc, describe(exc))
        return
    metrics.activity(definition.name, "completed", time.perf_counter() - began)
    with db.atomic():
        _ended(claimed, owner, status=StepStatus.COMPLETED, result=tree, error=None)


def _failed(claimed: journal.ClaimedStep, owner: str, definition: Any, exc: BaseException, error: dict) -> None:
    """Record a failed attempt: due again after the policy's backoff, or failed for good."""
    moment = db.now()
    failures = [
        *(claimed.failures or []),
        {"attempt": claimed.attempt, "type": error["type"], "message": error["message"], "at": moment.isoformat()},
    ]
    if not isinstance(exc, EncodingError) and definition.retry.retries(exc, claimed.attempt):
        retry_at = moment + dt.timedelta(seconds=definition.retry.delay(claimed.attempt))
        fields = {"status": StepStatus.RETRYING, "error": error, "failures": failures, "retry_at": retry_at}
        if not journal.end_step(claimed.pk, owner, moment, attempt=claimed.attempt + 1, due_at=retry_at, **fields):
            raise _Lost()
        return
    _ended(claimed, owner, status=StepStatus.FAILED, error=error, failures=failures, retry_at=None)


def _ended(claimed: journal.ClaimedStep, owner: str, **fields: Any) -> None:
    """Record the step's end and wake its instance if that decides what it waits for."""
    moment = db.now()
    # The instance row first, as runs, cancels and deliveries lock it: no deadlock, and the
    # decision below sees the wait the instance committed.
    leases.lock_instances([claimed.instance_id])
    if not journal.end_step(claimed.pk, owner, moment, **fields):
        raise _Lost()
    joins.position_ended(claimed.instance_id, claimed.position, moment)
