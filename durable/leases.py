"""Claims and leases on instance rows: claim, fence, renew, release, wake; and the event-type locks.

The vendor SQL of the run queue lives here: the claim is one UPDATE ... RETURNING through the
runnable index (FOR UPDATE SKIP LOCKED on PostgreSQL), and senders and waiters of one event type
serialise on a transaction-scoped advisory lock on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections
from django.db.models import F, Field

from durable import db, statements
from durable.exceptions import LeaseLost, Rewind
from durable.models import CLAIMABLE, HELD, TERMINAL, Status, WorkflowInstance

# What a claim returns: the fields a run needs from its instance row.
CLAIM_COLUMNS = (
    "id",
    "workflow_name",
    "status",
    "input",
    "created_at",
    "wake_seq",
    "error_streak",
    "failed_runs",
    "status_reason",
    "compensation",
    "business_key",  # for ctx.business_key: returned by the claim, so a run reads it for free
    "scheduled_at",  # for ctx.scheduled_at, likewise
    "trace",  # the instance's trace context, the parent of its segments' spans
    "queue",  # its end admits the next of its queue's line (durable.queues), if the queue has limits
    "parent_id",  # a child's end wakes its parent in the transaction that ends it
    "run",  # the run number, one more at each continue_as_new
)
# A claimed instance is running, unless its compensations are: it stays `compensating`.
CLAIMED_STATUS = "status = CASE WHEN status = %s THEN status ELSE %s END"
ADVISORY_NAMESPACE = 0x0D0AB1E
QUEUE_NAMESPACE = 0x0D0AB1F


def lock_event_types(types: Iterable[str]) -> None:
    """Serialise senders and waiters of the same event type, so no wake-up falls between them.

    SQLite needs nothing: IMMEDIATE transactions already run one writer at a time.
    """
    if not db.is_postgres():
        return
    with connections[db.alias()].cursor() as cursor:
        for event_type in sorted(set(types)):
            cursor.execute(*event_type_lock(event_type))


def event_type_lock(event_type: str) -> statements.Part:
    """The statement of lock_event_types for one type (PostgreSQL), to send ahead of another in
    one round trip: a statement of its own, so the one after it reads what was committed before
    the lock was granted."""
    return statements.Part(
        "SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_NAMESPACE, zlib.crc32(event_type.encode()) - 2**31]
    )


def lock_queue(name: str) -> None:
    """Serialise the admissions of one queue (durable.queues) across workers, until the transaction ends.

    SQLite needs nothing: IMMEDIATE transactions already run one writer at a time.
    """
    if not db.is_postgres():
        return
    with connections[db.alias()].cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [QUEUE_NAMESPACE, zlib.crc32(name.encode()) - 2**31])


def lock_instances(instance_ids: Iterable[str], *, skip_locked: bool = False) -> set[str]:
    """Lock instance rows in id order (PostgreSQL) before touching their waits and timers.

    Cancel, dispatch and the timer sweep all lock in this order, so they cannot deadlock.
    Returns the ids locked (all of them on SQLite, whose writers run one at a time).
    """
    ids = sorted(set(instance_ids))
    if not ids or not db.is_postgres():
        return set(ids)
    rows = WorkflowInstance.objects.filter(id__in=ids).order_by("id").select_for_update(skip_locked=skip_locked)
    return set(rows.values_list("id", flat=True))


def _due_sql(moment: dt.datetime, *, before: dt.datetime | None = None, only: str | None = None) -> tuple[str, list]:
    """SELECT id of claimable instances, oldest due first, always through the runnable index.

    Without statistics SQLite's planner prefers the status index and then sorts every waiting
    instance (100,000 of them cost 11 ms per claim); INDEXED BY pins the partial run_after index,
    which holds only the few due rows. PostgreSQL picks it by itself.
    """
    connection = connections[db.alias()]
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
    Each claim counts in `failed_runs` until the run records something (its first commit
    resets it): a worker that dies mid-run leaves the count standing.
    """
    moment = db.now()
    connection = connections[db.alias()]
    inner, inner_params = _due_sql(moment, only=only)
    inner += f" LIMIT {int(limit)}"
    if connection.vendor == "postgresql":
        # Rows another worker is claiming right now are skipped, not waited for.
        inner += " FOR UPDATE SKIP LOCKED"
    ops, table = connection.ops, connection.ops.quote_name(WorkflowInstance._meta.db_table)
    returning = ", ".join(ops.quote_name(f) for f in CLAIM_COLUMNS)
    sql = (
        f"UPDATE {table} SET {CLAIMED_STATUS}, lease_owner = %s, lease_expires_at = %s, waiting_for = NULL, "
        f"failed_runs = failed_runs + 1, updated_at = %s WHERE id IN ({inner}) RETURNING {returning}"
    )
    params = [
        Status.COMPENSATING,
        Status.RUNNING,
        owner,
        ops.adapt_datetimefield_value(moment + dt.timedelta(seconds=lease_seconds)),
        ops.adapt_datetimefield_value(moment),
        *inner_params,
    ]
    rows = WorkflowInstance.objects.raw(sql, params)
    return [{field: getattr(row, field) for field in CLAIM_COLUMNS} for row in rows]


def wake_and_claim(instance_id: str, owner: str, lease_seconds: float, moment: dt.datetime) -> dict[str, Any] | None:
    """Wake an instance and claim it for `owner` in one statement (the timer loop taking the
    instance its timer woke, inside the firing transaction); None if it is not claimable."""
    return _claim_by_id(instance_id, owner, lease_seconds, moment, wake=True)


def claim_one(instance_id: str, owner: str, lease_seconds: float) -> dict[str, Any] | None:
    """Claim one instance by id if it is due and nobody holds it (the timer loop's runner taking
    an instance an event woke); None if a worker has it, it ran already or it is not due."""
    return _claim_by_id(instance_id, owner, lease_seconds, db.now(), wake=False)


def _claim_by_id(
    instance_id: str, owner: str, lease_seconds: float, moment: dt.datetime, *, wake: bool
) -> dict[str, Any] | None:
    connection = connections[db.alias()]
    ops, table = connection.ops, connection.ops.quote_name(WorkflowInstance._meta.db_table)
    statuses = sorted(CLAIMABLE)
    stamp = ops.adapt_datetimefield_value(moment)
    returning = ", ".join(ops.quote_name(f) for f in CLAIM_COLUMNS)
    woken = "run_after = %s, wake_seq = wake_seq + 1, " if wake else ""
    due = "" if wake else "AND run_after IS NOT NULL AND run_after <= %s "
    sql = (
        f"UPDATE {table} SET {woken}updated_at = %s, waiting_for = NULL, {CLAIMED_STATUS}, lease_owner = %s, "
        f"lease_expires_at = %s, failed_runs = failed_runs + 1 WHERE id = %s {due}"
        f"AND status IN ({', '.join(['%s'] * len(statuses))}) "
        f"AND (lease_expires_at IS NULL OR lease_expires_at < %s) RETURNING {returning}"
    )
    params = [
        *([stamp] if wake else []),
        stamp,
        Status.COMPENSATING,
        Status.RUNNING,
        owner,
        ops.adapt_datetimefield_value(moment + dt.timedelta(seconds=lease_seconds)),
        instance_id,
        *([] if wake else [stamp]),
        *statuses,
        stamp,
    ]
    for row in WorkflowInstance.objects.raw(sql, params):
        return {field: getattr(row, field) for field in CLAIM_COLUMNS}
    return None


def has_stale_work(stale: dt.datetime) -> bool:
    """Whether some instance has been due since before `stale` and nobody holds it."""
    sql, params = _due_sql(db.now(), before=stale)
    with connections[db.alias()].cursor() as cursor:
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
    moment = db.now()
    held = WorkflowInstance.objects.filter(id=instance_id, lease_owner=owner, status__in=HELD)
    rows = held.filter(wake_seq=wake_seq) if wake_seq is not None else held
    changes.setdefault("lease_expires_at", moment + dt.timedelta(seconds=lease_seconds))
    changes.setdefault("updated_at", moment)
    if rows.update(**changes) == 1:
        return
    if wake_seq is not None and held.exists():
        raise Rewind()
    raise LeaseLost()


def release(instance_id: str, owner: str, **changes: Any) -> int:
    """Give the instance up (after an unexpected error or a rewind limit)."""
    changes.setdefault("updated_at", db.now())
    return WorkflowInstance.objects.filter(id=instance_id, lease_owner=owner).update(
        lease_owner=None, lease_expires_at=None, **changes
    )


def renew(instance_ids: Iterable[str], owner: str, lease_seconds: float) -> int:
    """Extend the leases this worker holds; the heartbeat calls it while activities run."""
    ids = list(instance_ids)
    if not ids:
        return 0
    until = db.now() + dt.timedelta(seconds=lease_seconds)
    return WorkflowInstance.objects.filter(id__in=ids, lease_owner=owner).update(lease_expires_at=until)


def wake(instance_ids: Iterable[str], moment: dt.datetime, **changes: Any) -> int:
    """Mark instances due now: the worker that claims them replays past whatever just happened.

    Hand-written: every event and timer that wakes an instance runs it, and the ORM's UPDATE
    took longer to build than to run. `changes` are further fields set with it.
    """
    ids = list(instance_ids)
    if not ids:
        return 0
    with connections[db.alias()].cursor() as cursor:
        cursor.execute(*_wake_statement(ids, moment, changes))
        return cursor.rowcount


def waking(instance_id: str, moment: dt.datetime, **changes: Any) -> Callable[[str], statements.Part]:
    """The `wake` of one instance as a part of another statement, done only when that
    statement's condition holds (journal.resolve, when it took the instance's wait); returns a
    row if it woke the instance. The caller holds the instance row's lock already."""

    def build(condition: str) -> statements.Part:
        sql, params = _wake_statement([instance_id], moment, changes)
        return statements.Part(f"{sql} AND {condition} RETURNING 1", params)

    return build


def _wake_statement(ids: list[str], moment: dt.datetime, changes: dict[str, Any]) -> statements.Part:
    connection = connections[db.alias()]
    ops = connection.ops
    stamp = ops.adapt_datetimefield_value(moment)
    sets, params = ["run_after = %s", "wake_seq = wake_seq + 1", "updated_at = %s"], [stamp, stamp]
    for name, value in changes.items():
        field = WorkflowInstance._meta.get_field(name)
        assert isinstance(field, Field)
        sets.append(f"{ops.quote_name(str(field.column))} = %s")
        params.append(field.get_db_prep_save(value, connection))
    ended = sorted(TERMINAL)
    sql = (
        f"UPDATE {ops.quote_name(WorkflowInstance._meta.db_table)} SET {', '.join(sets)} "
        f"WHERE id IN ({', '.join(['%s'] * len(ids))}) AND status NOT IN ({', '.join(['%s'] * len(ended))})"
    )
    return statements.Part(sql, [*params, *ids, *ended])


def nudge(instance_id: str) -> int:
    """Count a change a run in progress must see (a parallel step ended): its suspension rewinds."""
    rows = WorkflowInstance.objects.filter(id=instance_id).exclude(status__in=TERMINAL)
    return rows.update(wake_seq=F("wake_seq") + 1)


def wake_seq(instance_id: str) -> int | None:
    """The instance's wake counter now (a run re-reads it after a rewind)."""
    return WorkflowInstance.objects.filter(id=instance_id).values_list("wake_seq", flat=True).first()
