"""Run instances: claim -> load history -> replay -> persist the outcome -> release."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, connections

from durable import db, journal, leases, metrics, tracing, transitions
from durable.conf import settings
from durable.engine import codec, replay, retry, saga
from durable.engine.context import WorkflowContext
from durable.engine.registry import registry
from durable.exceptions import DurableError, LeaseLost, Rewind, StorageFault
from durable.models import Status
from durable.run.backend import OrmBackend

logger = logging.getLogger(__name__)

MAX_REWINDS = 20

_owner: tuple[int, str] | None = None


def owner_id() -> str:
    """This process's lease owner name, new after a fork."""
    global _owner
    pid = os.getpid()
    if _owner is None or _owner[0] != pid:
        _owner = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}")
    return _owner[1]


class Heartbeat:
    """Renews the leases this process holds while long activities run."""

    def __init__(self) -> None:
        self.held: set[str] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.pid = 0

    def hold(self, ids: list[str]) -> None:
        with self.lock:
            self.held.update(ids)
        if self.thread is None or not self.thread.is_alive() or self.pid != os.getpid():
            self.pid = os.getpid()
            self.thread = threading.Thread(target=self._beat, name="durable-heartbeat", daemon=True)
            self.thread.start()

    def drop(self, instance_id: str) -> None:
        with self.lock:
            self.held.discard(instance_id)

    def _beat(self) -> None:
        while True:
            time.sleep(max(float(settings.LEASE_SECONDS) / 3, 0.1))
            with self.lock:
                ids = list(self.held)
            if not ids:
                continue
            try:
                leases.renew(ids, owner_id(), float(settings.LEASE_SECONDS))
            except Exception:
                logger.exception("lease renewal failed", extra={"instance_ids": ids})
            finally:
                # Nothing closes a thread's connection for it (CONN_MAX_AGE works per request),
                # and an idle one left open blocks DROP DATABASE and holds a server slot.
                connections.close_all()


heartbeat = Heartbeat()


def run_due(
    *,
    max_seconds: float | None = None,
    batch_size: int | None = None,
    only: str | None = None,
    stopping: Callable[[], bool] | None = None,
) -> int:
    """Claim and run due instances until none are left or `max_seconds` pass; returns how many ran.

    A full batch means more may be waiting, so it asks (once) for another worker to join in.
    `stopping` returning True (the worker is shutting down) hands over after the current batch.
    """
    limit = batch_size or settings.BATCH_SIZE
    deadline = time.monotonic() + (max_seconds if max_seconds is not None else settings.DRAIN_SECONDS)
    owner = owner_id()
    ran = 0
    asked = False
    while time.monotonic() < deadline and not (stopping is not None and stopping()):
        try:
            rows = leases.claim(owner, limit, float(settings.LEASE_SECONDS), only=only)
        except DatabaseError as exc:
            # Nothing was claimed; the instances stay due and the recovery sweep asks again.
            logger.warning("claiming instances failed: %s", exc, extra={"owner": owner})
            _drop_broken_connection()
            return ran
        if not rows:
            return ran
        if len(rows) == limit and not asked:
            # Once per drain: the drain that answers asks again in turn, so a backlog fans
            # out over every worker without a wake-up request per claimed instance.
            db.request_run()
            asked = True
        heartbeat.hold([row["id"] for row in rows])
        for row in rows:
            try:
                run_claimed(row, owner)
            finally:
                heartbeat.drop(row["id"])
        ran += len(rows)
    db.request_run()
    return ran


def run_claimed(row: dict[str, Any], owner: str) -> None:
    """Run one claimed instance until it waits or ends; a database fault retries it later."""
    instance_id, workflow_name = row["id"], row["workflow_name"]
    where = {"instance_id": instance_id, "workflow": workflow_name}
    began = time.perf_counter()
    outcome = "error"
    try:
        outcome = _run(row, owner, where)
    except LeaseLost:
        outcome = "lease_lost"
        logger.info("lease lost: instance taken over; run abandoned", extra={**where, "owner": owner})
    except (StorageFault, DatabaseError) as exc:
        error = exc.error if isinstance(exc, StorageFault) else exc
        _failed_run(row, owner, where, f"{type(error).__name__}: {error}")
    except Exception as exc:
        logger.exception("running the instance failed; retrying later", extra=where)
        _failed_run(row, owner, where, f"{type(exc).__name__}: {exc}")
    finally:
        metrics.segment(workflow_name, outcome, time.perf_counter() - began)


def _run(row: dict[str, Any], owner: str, where: dict[str, str]) -> str:
    """Run the instance; returns how the segment ended (an outcome kind, "paused" or "rewound")."""
    instance_id, workflow_name = row["id"], row["workflow_name"]
    try:
        definition = registry.workflow(workflow_name)
    except DurableError as exc:
        _pause(row, owner, where, f"{exc} This worker ({owner}) cannot run it; resume after deploying the code.")
        return "paused"
    limit = int(settings.PAUSE_AFTER_FAILED_RUNS)
    if definition.pause_after_errors is not None:
        limit = min(limit, definition.pause_after_errors)
    if row["failed_runs"] > limit:
        # The claim counted this run too: the ones before it recorded nothing.
        last = row["status_reason"] or "the worker running it stopped (a crash, out of memory, killed or timed out)"
        _pause(
            row,
            owner,
            where,
            f"Paused after {row['failed_runs'] - 1} runs in a row that recorded nothing; the last failed with: "
            f"{last}. Fix the cause, then resume the instance.",
        )
        return "paused"
    inputs = codec.decode(row["input"])
    args, kwargs = list(inputs.get("args", [])), dict(inputs.get("kwargs", {}))
    # The timer loop loads it in the transaction that fired the timer and claimed the instance.
    history, failures = row.pop("history", None) or journal.load_history(instance_id)
    with tracing.segment(instance_id, workflow_name, row.get("trace"), tracing.woken_by(history)) as span:
        kind = _replay(row, owner, definition, args, kwargs, history, failures)
        tracing.outcome(span, kind)
        return kind


def _replay(
    row: dict[str, Any], owner: str, definition: Any, args: list, kwargs: dict, history: list, failures: dict
) -> str:
    """Replay the workflow and persist how the segment ended; rewinds (an event that came during
    the run) reload the history and go again."""
    instance_id = row["id"]
    for rewind in range(MAX_REWINDS):
        if rewind:
            history, failures = journal.load_history(instance_id)
        backend = OrmBackend(row, owner, definition, history, failures)
        ctx = WorkflowContext(
            instance_id=instance_id,
            workflow_name=definition.name,
            history=history,
            backend=backend,
            business_key=row.get("business_key"),
            scheduled_at=row.get("scheduled_at"),
        )
        try:
            if (row.get("compensation") or {}).get("after") == saga.CANCELLED:
                # Cancelled with compensate=True: the armed compensations run, the workflow does not.
                outcome = replay.compensate_cancelled(ctx, history)
            else:
                outcome = replay.run(definition, ctx, args, kwargs)
            _persist(outcome, backend, definition)
            return str(outcome.kind)
        except Rewind:
            row["wake_seq"] = leases.wake_seq(instance_id)
        except BaseException as exc:
            backend.segment.rollback(exc)
            raise
    leases.release(instance_id, owner, run_after=db.now(), failed_runs=0)
    return "rewound"


def _pause(row: dict[str, Any], owner: str, where: dict[str, str], reason: str) -> None:
    try:
        with db.atomic():
            transitions.apply(
                row["id"], "pause_run", reason, held_by=owner, workflow_name=row["workflow_name"], run_after=None
            )
    except LeaseLost:
        return
    logger.error("instance paused: %s", reason, extra=where)


def _failed_run(row: dict[str, Any], owner: str, where: dict[str, str], error: str) -> None:
    """Hand a run the database failed back, due again after a backoff that doubles each time."""
    _drop_broken_connection()
    failures = max(int(row["failed_runs"]), 1)
    delay = min(float(settings.FAILED_RUN_BACKOFF) * 2 ** (failures - 1), float(settings.FAILED_RUN_MAX_BACKOFF))
    note = f"Run {failures} in a row failed ({error}); retrying in {delay:g} s."
    logger.warning("run failed, retrying: %s", error, extra={**where, "failed_runs": failures})
    try:
        leases.release(row["id"], owner, run_after=db.now() + dt.timedelta(seconds=delay), status_reason=note[:2000])
    except DatabaseError as exc:
        # The lease runs out instead, and the recovery sweep gives the instance to a worker.
        logger.warning("releasing after a failed run failed too: %s", exc, extra=where)
        _drop_broken_connection()


def _drop_broken_connection() -> None:
    """Close the durable connection if an error left it unusable, so the next query reconnects."""
    connection = connections[db.alias()]
    if connection.in_atomic_block:
        return
    connection.close_if_unusable_or_obsolete()


def _persist(outcome: replay.Outcome, backend: OrmBackend, definition: Any) -> None:
    """Write how the run ended, in the segment that holds its last steps."""
    if outcome.kind == replay.SUSPENDED:
        return
    instance_id, name = backend.instance_id, backend.workflow_name
    where = {"instance_id": instance_id, "workflow": name}
    segment = backend.segment
    segment.open()
    if outcome.kind == replay.COMPLETED:
        segment.commit(
            transition="complete",
            result=outcome.result,
            error=None,
            status_reason="",
            error_streak=0,
        )
        return
    if outcome.kind == replay.CONTINUED:
        # The run's steps (its continue_as_new step last) are kept as run n; run n+1 starts from
        # the top with the new input, on whichever worker claims it.
        run = backend.run_number
        segment.commit(
            archive_run=run,
            run=run + 1,
            input=outcome.result,
            status=Status.PENDING,
            lease_owner=None,
            lease_expires_at=None,
            run_after=db.now(),
            waiting_for=None,
            error_streak=0,
            compensation=None,
        )
        db.request_run()
        logger.info("workflow continued as new", extra={**where, "run": run + 1})
        return
    if outcome.kind == replay.CANCELLED:
        reason = str((backend.phase or {}).get("reason", ""))
        segment.commit(
            transition="cancel_run",
            reason=reason,
            status_reason=reason,  # over the run's own clearing of an earlier note
            compensated=bool(outcome.compensated),
            compensation=backend.phase,
        )
        return
    error = outcome.error or {}
    if outcome.kind == replay.FAILED and outcome.compensated is not None:
        # The saga unwound: the failure stands, whatever pause_after_errors says (it was asked before).
        segment.commit(
            transition="fail",
            error=error,
            error_streak=backend.streak + 1,
            compensated=outcome.compensated,
            compensation=backend.phase,
        )
        logger.warning("workflow failed, compensated: %s", error.get("type"), extra=where)
        return
    if outcome.kind == replay.FAILED:
        streak = backend.streak + 1
        if not retry.pauses(definition.pause_after_errors, streak):
            segment.commit(transition="fail", error=error, error_streak=streak)
            logger.warning("workflow failed: %s: %s", error.get("type"), error.get("message"), extra=where)
            return
        reason = retry.workflow_pause_reason(streak, error)
    else:
        streak, reason = backend.streak, error["message"]
    segment.commit(
        transition="pause_run", reason=reason, error=error, waiting_for=None, run_after=None, error_streak=streak
    )
    if outcome.kind == replay.NONDETERMINISTIC:
        logger.error("instance paused for non-determinism: %s", reason, extra=where)
