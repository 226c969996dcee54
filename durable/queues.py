"""Flow control (SPEC 14): the limits of DURABLE_QUEUES, each limited queue's line, and admission.

An instance of a queue with limits is inserted in line (`queue_state` "waiting", `run_after`
NULL), so it is not in the runnable index at all: the claim never sees it, however long the line.
Admission, under a transaction-scoped lock on the queue, counts the slots held (as many rows as
the limits allow) and the starts of the rate window, takes the first of the line by priority and
start order, and makes them runnable ("admitted", holding a slot until they end). It runs when an
instance starts, when one of the queue ends (so the next in line starts at once), when a delayed
start falls due, and from the timer loop when a rate window opens again.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from django.db.models import Count, Q

from durable import db, leases
from durable.conf import settings
from durable.engine.registry import parse_rate, registry
from durable.exceptions import InvalidArgument
from durable.models import TERMINAL, Status, WorkflowInstance

logger = logging.getLogger(__name__)

DEFAULT = "default"
LIMIT_KEYS = ("concurrency", "per_key", "rate")
PRIORITY_MIN, PRIORITY_MAX = -100, 100
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
WAITING, ADMITTED, DELAYED = "waiting", "admitted", "delayed"
# Most instances one admission starts, and most waiting rows it reads to get past keys at their limit.
BATCH = 500
SCAN = 1000
SCAN_CHUNK = 200
EXAMPLE = 'DURABLE_QUEUES = {"emails": {"concurrency": 10, "per_key": 1, "rate": "100/m"}}'


@dataclass(frozen=True)
class Limits:
    """One queue's limits; None for a limit it does not have."""

    name: str
    concurrency: int | None = None
    per_key: int | None = None
    rate: tuple[int, float] | None = None  # (starts, per seconds)
    rate_text: str | None = None

    @property
    def limited(self) -> bool:
        return self.concurrency is not None or self.per_key is not None or self.rate is not None


def problems(value: object) -> list[tuple[str, str]]:
    """What is wrong with a DURABLE_QUEUES value, as (message naming the key, what to do) pairs."""
    if not isinstance(value, dict):
        return [(f"DURABLE_QUEUES must be a dict of limits by queue name, not {value!r}.", f"Set {EXAMPLE}.")]
    found: list[tuple[str, str]] = []
    for name, limits in value.items():
        if not isinstance(name, str) or not NAME.match(name):
            found.append(
                (
                    f"DURABLE_QUEUES has the queue name {name!r}, which is not 1-100 letters, digits and . _ : -.",
                    "Rename the queue, e.g. 'emails'.",
                )
            )
            continue
        if not isinstance(limits, dict):
            found.append((f"DURABLE_QUEUES[{name!r}] must be a dict of limits, not {limits!r}.", f"Set {EXAMPLE}."))
            continue
        for key, limit in limits.items():
            where = f"DURABLE_QUEUES[{name!r}][{key!r}]"
            if key not in LIMIT_KEYS:
                found.append(
                    (f"{where}: {key!r} is not a queue limit.", f"Use only {', '.join(LIMIT_KEYS)} (all optional).")
                )
            elif key == "rate":
                if parse_rate(limit) is None:
                    found.append((f"{where} is {limit!r}, not a rate.", 'Write "N/s", "N/m" or "N/h", e.g. "100/m".'))
            elif isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                found.append(
                    (
                        f"{where} is {limit!r}, not a whole number of at least 0.",
                        f"Set {key} to how many may be in progress at once, e.g. 10 (0 holds the queue).",
                    )
                )
    return found


_parsed: list[Any] = []  # [(the setting's repr, singleton workflows), Limits by name]


def configured() -> dict[str, Limits]:
    """DURABLE_QUEUES read now, as Limits by queue name ("default" always among them).

    Raises:
        ImproperlyConfigured: the setting is malformed (the system check says so too).
    """
    value = settings.QUEUES
    singletons = tuple(d.name for d in registry.workflows.values() if d.singleton == "queue")
    # Read on every start and end: parsed again only when the setting or the singletons change.
    key = (repr(value), singletons)
    if _parsed and _parsed[0] == key:
        return _parsed[1]
    if found := problems(value):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(" ".join(" ".join(p) for p in found))
    queues = {DEFAULT: Limits(DEFAULT)}
    for name in singletons:
        queues[singleton_queue(name)] = Limits(singleton_queue(name), per_key=1)
    for name, limits in value.items():
        rate = limits.get("rate")
        queues[name] = Limits(
            name,
            concurrency=limits.get("concurrency"),
            per_key=limits.get("per_key"),
            rate=parse_rate(rate) if rate is not None else None,
            rate_text=rate.strip() if isinstance(rate, str) else None,
        )
    _parsed[:] = [key, queues]
    return queues


def any_limited() -> bool:
    """Whether some queue has limits (when none has, nothing here costs a query)."""
    return any(q.limited for q in configured().values())


def limits_of(name: str) -> Limits:
    """The queue's limits; no limits for a queue no longer configured (its line drains freely)."""
    return configured().get(name) or Limits(name)


def check(queue: object, priority: object) -> str:
    """The queue's name, after refusing an unknown queue or a priority outside -100..100.

    Raises:
        InvalidArgument: as said; nothing is stored.
    """
    if isinstance(priority, bool) or not isinstance(priority, int) or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise InvalidArgument(
            f"priority must be a whole number from {PRIORITY_MIN} to {PRIORITY_MAX} (higher runs first), "
            f"not {priority!r}."
        )
    queues = configured()
    if not isinstance(queue, str) or queue not in queues:
        known = ", ".join(sorted(queues))
        raise InvalidArgument(
            f"There is no queue {queue!r} (known: {known}). Add it to DURABLE_QUEUES, or use one of those."
        )
    return queue


def entry_state(queue: str, delayed: bool) -> str | None:
    """The queue_state a new instance of `queue` starts in: None outside limits (runnable at once)."""
    if not limits_of(queue).limited:
        return None
    return DELAYED if delayed else WAITING


def in_line(queue: str, priority: int) -> dict[str, Any]:
    """The `waiting_for` summary of an instance in line (the read model adds the live numbers)."""
    return {"kind": "queue", "queue": queue, "priority": priority}


# Admission --------------------------------------------------------------------------------------


def admit(queue: str, key: str | None = None, *, wake: bool = True) -> int:
    """Start as many of the queue's line as its limits allow now; returns how many.

    `key`: the business key of an instance of the queue that just ended, whose own line is looked
    at too (it may be further back than one admission reads). `wake=False` when the caller asks a
    worker itself (a start does).
    """
    limits = limits_of(queue)
    # Inside the caller's transaction when there is one (no savepoint: nothing here is retried).
    with transaction.atomic(using=db.alias(), savepoint=False):
        leases.lock_queue(queue)
        moment = db.now()
        free = _free(limits, moment)
        if free <= 0:
            return 0
        changes = {
            "queue_state": ADMITTED,
            "admitted_at": moment,
            "run_after": moment,
            "waiting_for": None,
            "updated_at": moment,
        }
        if limits.per_key is None:
            admitted = _admit_first(queue, free, moment)
        else:
            picked = _pick(limits, free, key)
            admitted = (
                WorkflowInstance.objects.filter(id__in=picked, queue_state=WAITING, status=Status.PENDING).update(
                    **changes
                )
                if picked
                else 0
            )
        if admitted:
            if wake:
                db.request_run()
            logger.debug("queue admitted", extra={"queue": queue, "count": admitted})
        return admitted


def _line_sql(queue: str, limit: int) -> tuple[str, list[Any]]:
    """SELECT id of the first `limit` of the line, pinned to the line's index on SQLite (whose
    planner, without statistics, otherwise walks every pending instance through the status index)."""
    connection = connections[db.alias()]
    table = connection.ops.quote_name(WorkflowInstance._meta.db_table)
    hint = " INDEXED BY durable_inst_queue_line" if connection.vendor == "sqlite" else ""
    sql = (
        f"SELECT id FROM {table}{hint} WHERE queue = %s AND queue_state = '{WAITING}' AND status = %s "
        f"ORDER BY priority DESC, created_at, id LIMIT {int(limit)}"
    )
    return sql, [queue, Status.PENDING]


def has_line(queue: str) -> bool:
    """Whether anyone waits in the queue's line (an index lookup)."""
    sql, params = _line_sql(queue, 1)
    with connections[db.alias()].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def _admit_first(queue: str, free: int, moment: dt.datetime) -> int:
    """Admit the first `free` of the line in one statement; returns how many.

    The outer conditions are checked again: a cancel or pause racing this (it takes no queue
    lock) wins.
    """
    connection = connections[db.alias()]
    ops, table = connection.ops, connection.ops.quote_name(WorkflowInstance._meta.db_table)
    inner, params = _line_sql(queue, free)
    stamp = ops.adapt_datetimefield_value(moment)
    sql = (
        f"UPDATE {table} SET queue_state = '{ADMITTED}', admitted_at = %s, run_after = %s, waiting_for = NULL, "
        f"updated_at = %s WHERE id IN ({inner})"
    )
    params = [stamp, stamp, stamp, *params]
    if connection.vendor == "postgresql":
        # Re-checked on each row once it is locked; SQLite runs one writer at a time and, given
        # these terms, would walk the whole line instead of taking the ids.
        sql += f" AND queue_state = '{WAITING}' AND status = %s"
        params.append(Status.PENDING)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _free(limits: Limits, moment: dt.datetime) -> int:
    """How many more may start now (BATCH when nothing caps it): the slots held and the starts
    in the rate window, counted in one statement through their partial indexes."""
    parts: list[str] = []
    params: list[Any] = []
    table = connections[db.alias()].ops.quote_name(WorkflowInstance._meta.db_table)
    if limits.concurrency is not None:
        # The state as a literal, for SQLite's planner (see _in_state).
        parts.append(f"(SELECT COUNT(*) FROM {table} WHERE queue = %s AND queue_state = '{ADMITTED}')")
        params += [limits.name]
    if limits.rate is not None:
        since = moment - dt.timedelta(seconds=limits.rate[1])
        parts.append(f"(SELECT COUNT(*) FROM {table} WHERE queue = %s AND admitted_at > %s)")
        params += [limits.name, connections[db.alias()].ops.adapt_datetimefield_value(since)]
    free = BATCH
    if not parts:
        return free
    with connections[db.alias()].cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        counts = list(cursor.fetchone())
    if limits.concurrency is not None:
        free = min(free, limits.concurrency - counts.pop(0))
    if limits.rate is not None:
        free = min(free, limits.rate[0] - counts.pop(0))
    return free


def busy(queue: str) -> int:
    """Instances of the queue holding a slot (started and not ended)."""
    return _in_state(queue, ADMITTED).count()


def rate_used(queue: str, seconds: float, moment: dt.datetime) -> int:
    """Starts of the queue in the rate window ending at `moment`."""
    since = moment - dt.timedelta(seconds=seconds)
    return WorkflowInstance.objects.filter(queue=queue, admitted_at__gt=since).count()


def _in_state(queue: str, state: str):
    """The queue's instances in `state`, through the partial index of that state.

    The state is written into the SQL as a literal: SQLite uses a partial index only when the
    query's WHERE names its condition's value, not a bound parameter (without it the planner
    scans every pending instance through the status index).
    """
    assert state in (WAITING, ADMITTED, DELAYED)
    return WorkflowInstance.objects.filter(queue=queue).extra(where=[f"queue_state = '{state}'"])


def _line(queue: str):
    return _in_state(queue, WAITING).filter(status=Status.PENDING).order_by("-priority", "created_at", "id")


def _pick(limits: Limits, free: int, key: str | None) -> list[str]:
    """The first `free` of the line that their key's limit lets in."""
    line = _line(limits.name)
    if limits.per_key is None:
        return list(line.values_list("id", flat=True)[:free])
    per_key = limits.per_key
    held: dict[str, int] = {}
    picked: list[str] = []

    def take(rows: list[tuple[str, str | None]]) -> bool:
        _count_keys(limits.name, {k for _, k in rows if k is not None and k not in held}, held)
        for instance_id, row_key in rows:
            if instance_id in picked:
                continue
            if row_key is not None:
                if held[row_key] >= per_key:
                    continue
                held[row_key] += 1
            picked.append(instance_id)
            if len(picked) >= free:
                return True
        return False

    for offset in range(0, SCAN, SCAN_CHUNK):
        rows = list(line.values_list("id", "business_key")[offset : offset + SCAN_CHUNK])
        if take(rows) or len(rows) < SCAN_CHUNK:
            return picked
    if key is not None:
        take(list(line.filter(business_key=key).values_list("id", "business_key")[:free]))
    return picked


def _count_keys(queue: str, keys: set[str], held: dict[str, int]) -> None:
    """Add to `held` the slots each of `keys` holds now (one grouped query over the slots held)."""
    if not keys:
        return
    for key in keys:
        held[key] = 0
    rows = (
        _in_state(queue, ADMITTED)
        .filter(business_key__in=sorted(keys))
        .values("business_key")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        held[str(row["business_key"])] = row["n"]


def ended(instance_id: str, line: tuple[str, str | None] | None = None) -> None:
    """An instance ended (its transaction cleared its queue_state): the next of its queue may start.

    `line` is its (queue, business key) when the caller knows them (no query for a queue without limits).
    """
    if not any_limited():
        return
    if line is None:
        line = WorkflowInstance.objects.filter(id=instance_id).values_list("queue", "business_key").first()
    if line is None or not limits_of(line[0]).limited:
        return
    # Most ends leave no line behind them: the lock (so a start in line now cannot be missed) and
    # one index lookup say so, without counting the slots.
    leases.lock_queue(line[0])
    if has_line(line[0]):
        admit(line[0], line[1])


def enter_line(instance_ids: set[str]) -> set[str]:
    """Delayed starts whose time came: into their queue's line (and admitted if there is room).

    Returns the ids that were in a queue's care, so the caller does not wake them itself.
    """
    if not instance_ids or not any_limited():
        return set()
    rows = list(
        WorkflowInstance.objects.filter(id__in=instance_ids, queue_state=DELAYED).values_list("id", "queue", "priority")
    )
    if not rows:
        return set()
    moment = db.now()
    for instance_id, queue, priority in rows:
        WorkflowInstance.objects.filter(id=instance_id, queue_state=DELAYED).update(
            queue_state=WAITING, run_after=None, waiting_for=in_line(queue, priority), updated_at=moment
        )
    for queue in sorted({queue for _, queue, _ in rows}):
        admit(queue)
    return {instance_id for instance_id, _, _ in rows}


def requeue_fields(row: WorkflowInstance) -> dict[str, Any] | None:
    """The fields that put an instance going back to pending (resumed, retried) into its line, or
    None when it is outside limits or holds its slot still (it just runs on)."""
    if row.queue_state == ADMITTED or not limits_of(row.queue).limited:
        return None
    return {"queue_state": WAITING, "run_after": None, "waiting_for": in_line(row.queue, row.priority)}


def look() -> dt.datetime | None:
    """Admit what each limited queue's limits let in now; return when a rate window next opens
    for a queue that still has a line (None: no line waits on a rate). A query per limited queue
    when no line waits."""
    if not any_limited():
        return None
    soonest: dt.datetime | None = None
    for limits in configured().values():
        if not limits.limited or not has_line(limits.name):
            continue
        admit(limits.name)
        if limits.rate is not None:
            opens = rate_opens(limits)
            if opens is not None and (soonest is None or opens < soonest):
                soonest = opens
    return soonest


def rate_opens(limits: Limits) -> dt.datetime | None:
    """When the rate window lets the next start in, if it is what holds the line now."""
    assert limits.rate is not None
    starts, seconds = limits.rate
    moment = db.now()
    since = moment - dt.timedelta(seconds=seconds)
    window = WorkflowInstance.objects.filter(queue=limits.name, admitted_at__gt=since).order_by("admitted_at")
    used = window.count()
    if used < starts or starts == 0:
        return None
    first = window.values_list("admitted_at", flat=True)[used - starts]
    return first + dt.timedelta(seconds=seconds) if first is not None else None


# Read model -------------------------------------------------------------------------------------


def position(queue: str, priority: int, created_at: dt.datetime, instance_id: str) -> int:
    """The instance's place in its queue's line (1 = next)."""
    ahead = (
        _in_state(queue, WAITING)
        .filter(status=Status.PENDING)
        .filter(
            Q(priority__gt=priority)
            | Q(priority=priority, created_at__lt=created_at)
            | Q(priority=priority, created_at=created_at, id__lt=instance_id)
        )
        .count()
    )
    return ahead + 1


def numbers(queue: str) -> dict[str, Any]:
    """The queue's live numbers for a `waiting_for`: busy of concurrency, rate used of rate."""
    limits = limits_of(queue)
    said: dict[str, Any] = {}
    if limits.concurrency is not None:
        said.update(busy=busy(queue), concurrency=limits.concurrency)
    if limits.rate is not None:
        said.update(rate=limits.rate_text, rate_used=rate_used(queue, limits.rate[1], db.now()))
    return said


def describe(summary: dict[str, Any], instance_id: str, business_key: str | None, created_at: dt.datetime) -> dict:
    """A `waiting_for` of kind "queue" with the live numbers: busy and concurrency, the key's
    slots, the rate used, and the place in line."""
    queue = str(summary.get("queue") or DEFAULT)
    limits = limits_of(queue)
    said = {**summary, **numbers(queue)}
    said["position"] = position(queue, int(summary.get("priority") or 0), created_at, instance_id)
    if limits.per_key is not None and business_key is not None:
        held = _in_state(queue, ADMITTED).filter(business_key=business_key)
        said.update(key=business_key, key_busy=held.count(), per_key=limits.per_key)
    return said


@dataclass(frozen=True)
class QueueView:
    """One queue as the viewer and `durable_queues` show it."""

    name: str
    limits: Limits
    in_progress: int
    pending: int
    oldest_pending_at: dt.datetime | None
    rate_used: int | None


def overview(count_up_to: int | None = None) -> list[QueueView]:
    """Every configured queue (and any other that holds instances in line or in progress); with
    `count_up_to`, each line is counted no further than that (a bounded read for the metrics)."""
    queues = configured()
    moment = db.now()
    held = dict(
        WorkflowInstance.objects.filter(queue_state=ADMITTED)
        .values("queue")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("queue", "n")
    )
    names = sorted(set(queues) | set(held))
    views = []
    for name in names:
        limits = queues.get(name) or Limits(name)
        line = WorkflowInstance.objects.filter(queue=name, queue_state__in=[WAITING, DELAYED])
        oldest = line.order_by("created_at").values_list("created_at", flat=True).first()
        views.append(
            QueueView(
                name=name,
                limits=limits,
                in_progress=held.get(name, 0),
                pending=_count(line, count_up_to) if oldest is not None else 0,
                oldest_pending_at=oldest,
                rate_used=rate_used(name, limits.rate[1], moment) if limits.rate is not None else None,
            )
        )
    return views


def _count(rows: Any, up_to: int | None) -> int:
    return rows.count() if up_to is None else rows.values("pk")[: up_to + 1].count()


# Workflows' queues and singletons ---------------------------------------------------------------

SINGLETON_PREFIX = "singleton:"


def queue_of(workflow_name: str) -> str:
    """The queue a workflow's instances run in when the start names none."""
    definition = registry.workflows.get(workflow_name)
    return (definition.queue if definition is not None else None) or DEFAULT


def singleton_queue(workflow_name: str) -> str:
    """The line of a singleton="queue" workflow: one in progress per business key."""
    return f"{SINGLETON_PREFIX}{workflow_name}"


def singleton_running(definition: Any, key: str) -> list[str]:
    """The workflow's instances for `key` that have not ended, newest first (the business key index)."""
    rows = WorkflowInstance.objects.filter(business_key=key, workflow_name=definition.name).exclude(status__in=TERMINAL)
    return list(rows.order_by("-created_at").values_list("id", flat=True))
