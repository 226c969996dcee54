"""The ORM side of the engine: transactions, claims and leases, history rows, timers, values."""

from __future__ import annotations

import datetime as dt
import logging
import zlib
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import F
from django.utils import timezone

from durable.engine.types import SEND_EVENT, SET_EVENT, NewStep, Step
from durable.exceptions import LeaseLost, Rewind
from durable.models import (
    CLAIMABLE,
    TERMINAL,
    Event,
    HistoryStep,
    PublishedValue,
    Status,
    Timer,
    Wait,
    WorkflowInstance,
)

logger = logging.getLogger(__name__)

# What a claim returns: the fields a run needs from its instance row.
CLAIM_COLUMNS = ("id", "workflow_name", "status", "input", "created_at", "wake_seq", "error_streak")
STEP_FIELDS = ("position", "kind", "name", "status", "result", "error", "attempt", "retry_at", "failures")
ADVISORY_NAMESPACE = 0x0D0AB1E


def alias() -> str:
    return router.db_for_write(WorkflowInstance)


def atomic():
    """A transaction on the durable database (IMMEDIATE on SQLite, via the project's OPTIONS)."""
    return transaction.atomic(using=alias())


def on_commit(fn) -> None:
    transaction.on_commit(fn, using=alias(), robust=True)


_waker = None


def set_waker(fn) -> None:
    """Install what asks the worker to run due instances (the worker layer installs it)."""
    global _waker
    _waker = fn


def request_run(*, force: bool = False) -> None:
    """Ask a worker to run due instances once the current transaction commits.

    `force` enqueues even when a request already seems to be on its way (recovery).
    """
    waker = _waker
    if waker is not None:
        transaction.on_commit(lambda: waker(force=force), using=alias(), robust=True)


def in_transaction() -> bool:
    return transaction.get_connection(alias()).in_atomic_block


def is_postgres() -> bool:
    return connections[alias()].vendor == "postgresql"


def lock_event_types(types: Iterable[str]) -> None:
    """Serialise senders and waiters of the same event type, so no wake-up falls between them.

    SQLite needs nothing: IMMEDIATE transactions already run one writer at a time.
    """
    if not is_postgres():
        return
    with connections[alias()].cursor() as cursor:
        for event_type in sorted(set(types)):
            key = zlib.crc32(event_type.encode()) - 2**31
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_NAMESPACE, key])


def now() -> dt.datetime:
    return timezone.now()


# Claims and leases ---------------------------------------------------------------------------


def _due_sql(moment: dt.datetime, *, before: dt.datetime | None = None, only: str | None = None) -> tuple[str, list]:
    """SELECT id of claimable instances, oldest due first, always through the runnable index.

    Without statistics SQLite's planner prefers the status index and then sorts every waiting
    instance (100,000 of them cost 11 ms per claim); INDEXED BY pins the partial run_after index,
    which holds only the few due rows. PostgreSQL picks it by itself.
    """
    connection = connections[alias()]
    ops = connection.ops
    table = ops.quote_name(WorkflowInstance._meta.db_table)
    hint = " INDEXED BY durable_inst_runnable" if connection.vendor == "sqlite" else ""
    statuses = sorted(CLAIMABLE)
    stamp = ops.adapt_datetimefield_value(moment)
    sql = (
        f"SELECT id FROM {table}{hint} WHERE run_after IS NOT NULL AND run_after <= %s "
        f"AND status IN ({', '.join(['%s'] * len(statuses))}) "
        "AND (lease_expires_at IS NULL OR lease_expires_at < %s)"
    )
    params: list = [stamp, *statuses, stamp]
    if before is not None:
        sql += " AND run_after < %s"
        params.append(ops.adapt_datetimefield_value(before))
    if only is not None:
        sql += " AND id = %s"
        params.append(only)
    return sql + " ORDER BY run_after", params


def claim(owner: str, limit: int, lease_seconds: float, only: str | None = None) -> list[dict[str, Any]]:
    """Take up to `limit` due instances nobody holds; returns their rows for the executor.

    One statement: UPDATE ... WHERE id IN (due ones, FOR UPDATE SKIP LOCKED on PostgreSQL)
    RETURNING the fields the run needs, so a claim costs one round trip and no transaction.
    """
    moment = now()
    connection = connections[alias()]
    inner, inner_params = _due_sql(moment, only=only)
    inner += f" LIMIT {int(limit)}"
    if connection.vendor == "postgresql":
        # Rows another worker is claiming right now are skipped, not waited for.
        inner += " FOR UPDATE SKIP LOCKED"
    ops, table = connection.ops, connection.ops.quote_name(WorkflowInstance._meta.db_table)
    sql = (
        f"UPDATE {table} SET status = %s, lease_owner = %s, lease_expires_at = %s, waiting_for = NULL, "
        f"updated_at = %s WHERE id IN ({inner}) RETURNING {', '.join(ops.quote_name(f) for f in CLAIM_COLUMNS)}"
    )
    params = [
        Status.RUNNING,
        owner,
        ops.adapt_datetimefield_value(moment + dt.timedelta(seconds=lease_seconds)),
        ops.adapt_datetimefield_value(moment),
        *inner_params,
    ]
    rows = WorkflowInstance.objects.raw(sql, params)
    return [{field: getattr(row, field) for field in CLAIM_COLUMNS} for row in rows]


def has_stale_work(stale: dt.datetime) -> bool:
    """Whether some instance has been due since before `stale` and nobody holds it."""
    sql, params = _due_sql(now(), before=stale)
    with connections[alias()].cursor() as cursor:
        cursor.execute(sql + " LIMIT 1", params)
        return cursor.fetchone() is not None


def fence(
    instance_id: str,
    owner: str,
    lease_seconds: float,
    *,
    wake_seq: int | None = None,
    **changes: Any,
) -> None:
    """Prove inside the current transaction that this worker still holds the instance.

    Extends the lease and applies `changes`. With `wake_seq`, also proves nothing woke the
    instance since it was claimed (raises Rewind), which a suspension needs.

    Raises:
        LeaseLost: an operator cancelled or paused it, or another worker took it over.
        Rewind: it was woken during this run.
    """
    moment = now()
    rows = WorkflowInstance.objects.filter(id=instance_id, lease_owner=owner, status=Status.RUNNING)
    if wake_seq is not None:
        rows = rows.filter(wake_seq=wake_seq)
    changes.setdefault("lease_expires_at", moment + dt.timedelta(seconds=lease_seconds))
    changes.setdefault("updated_at", moment)
    if rows.update(**changes) == 1:
        return
    if (
        wake_seq is not None
        and WorkflowInstance.objects.filter(id=instance_id, lease_owner=owner, status=Status.RUNNING).exists()
    ):
        raise Rewind()
    raise LeaseLost()


def release(instance_id: str, owner: str, **changes: Any) -> int:
    """Give the instance up (after LeaseLost handling or when its code is missing)."""
    changes.setdefault("updated_at", now())
    return WorkflowInstance.objects.filter(id=instance_id, lease_owner=owner).update(
        lease_owner=None, lease_expires_at=None, **changes
    )


def renew(instance_ids: Iterable[str], owner: str, lease_seconds: float) -> int:
    """Extend the leases this worker holds; the heartbeat calls it while activities run."""
    ids = list(instance_ids)
    if not ids:
        return 0
    until = now() + dt.timedelta(seconds=lease_seconds)
    return WorkflowInstance.objects.filter(id__in=ids, lease_owner=owner).update(lease_expires_at=until)


def wake(instance_ids: Iterable[str], moment: dt.datetime, **changes: Any) -> int:
    """Mark instances due now: the worker that claims them replays past whatever just happened."""
    ids = list(instance_ids)
    if not ids:
        return 0
    return (
        WorkflowInstance.objects.filter(id__in=ids)
        .exclude(status__in=TERMINAL)
        .update(run_after=moment, wake_seq=F("wake_seq") + 1, updated_at=moment, **changes)
    )


# History -------------------------------------------------------------------------------------


def load_history(instance_id: str) -> tuple[list[Step], dict[int, list]]:
    """Every recorded step in one query, and the earlier failures of each step by position."""
    rows = HistoryStep.objects.filter(instance_id=instance_id).order_by("position").values_list(*STEP_FIELDS)
    steps, failures = [], {}
    for position, kind, name, status, result, error, attempt, retry_at, failed in rows:
        steps.append(Step(position, kind, name, status, result, error, attempt, retry_at))
        failures[position] = failed
    return steps, failures


def write_steps(instance_id: str, steps: list[NewStep]) -> list[int]:
    """Insert new history rows and apply their effects; returns seqs of events to dispatch."""
    if not steps:
        return []
    moment = now()
    HistoryStep.objects.bulk_create(
        [
            HistoryStep(
                instance_id=instance_id,
                position=s.position,
                kind=s.kind,
                name=s.name,
                status=s.status,
                input=s.input,
                result=s.result,
                started_at=s.started_at,
                recorded_at=moment,
                **s.extra,
            )
            for s in steps
        ]
    )
    values = {s.name: s for s in steps if s.kind == SET_EVENT}
    if values:
        PublishedValue.objects.bulk_create(
            [
                PublishedValue(instance_id=instance_id, key=k, value=s.result, position=s.position, updated_at=moment)
                for k, s in values.items()
            ],
            update_conflicts=True,
            unique_fields=["instance", "key"],
            update_fields=["value", "position", "updated_at"],
        )
    sent = [s.result for s in steps if s.kind == SEND_EVENT]
    return [store_event(record, received_at=moment).seq for record in sent]


def store_event(
    record: dict[str, Any],
    *,
    received_at: dt.datetime,
    target_id: str | None = None,
    dispatched_at: dt.datetime | None = None,
) -> Event:
    """Insert one validated event row; the caller has checked (source, id) is new."""
    time = record.get("time")
    if isinstance(time, str):
        time = dt.datetime.fromisoformat(time)
    return Event.objects.create(
        event_id=record["id"],
        source=record["source"],
        type=record["type"],
        subject=record.get("subject"),
        time=time or received_at,
        datacontenttype=record.get("datacontenttype") or "application/json",
        dataschema=record.get("dataschema"),
        data=record.get("data"),
        extensions=record.get("extensions") or {},
        target_id=target_id,
        received_at=received_at,
        dispatched_at=dispatched_at,
    )


def update_step(instance_id: str, position: int, **changes: Any) -> int:
    return HistoryStep.objects.filter(instance_id=instance_id, position=position).update(**changes)


# Timers ---------------------------------------------------------------------------------------


def existing_timer(instance_id: str, position: int) -> dt.datetime | None:
    return Timer.objects.filter(instance_id=instance_id, position=position).values_list("due_at", flat=True).first()


def add_timer(instance_id: str, position: int, purpose: str, name: str, due_at: dt.datetime) -> None:
    Timer.objects.bulk_create(
        [Timer(instance_id=instance_id, position=position, purpose=purpose, name=name, due_at=due_at)],
        ignore_conflicts=True,
    )


def drop_waiting(instance_ids: Iterable[str]) -> None:
    """Withdraw every wait and timer of these instances (cancel, completion)."""
    ids = list(instance_ids)
    Wait.objects.filter(instance_id__in=ids).delete()
    Timer.objects.filter(instance_id__in=ids).delete()


# Instances -----------------------------------------------------------------------------------


def create_instance(instance_id: str, workflow_name: str, input_tree: dict, moment: dt.datetime) -> bool:
    """Insert a pending, due instance; False when the id is taken (idempotent start)."""
    row = WorkflowInstance(
        id=instance_id,
        workflow_name=workflow_name,
        status=Status.PENDING,
        input=input_tree,
        run_after=moment,
        created_at=moment,
        updated_at=moment,
    )
    try:
        if in_transaction():
            # A savepoint, so a taken id leaves the caller's transaction usable.
            with atomic():
                row.save(force_insert=True)
        else:
            row.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def append_incident(instance_id: str, entry: dict[str, Any]) -> None:
    """Add to the instance's operations log, inside the caller's transaction."""
    log = WorkflowInstance.objects.filter(id=instance_id).values_list("incidents", flat=True).first() or []
    WorkflowInstance.objects.filter(id=instance_id).update(incidents=[*log, entry][-200:])


def incident(kind: str, moment: dt.datetime, **details: Any) -> dict[str, Any]:
    """One entry of an instance's operations log (pause, resume, retry, cancel, failure)."""
    return {"kind": kind, "at": moment.isoformat(), **details}
