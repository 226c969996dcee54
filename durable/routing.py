"""Route events to waits: match keys, indexed lookup of the waits an event resolves, dispatch."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from durable import db, health, journal, leases, notify, statements, transitions
from durable.engine import codec, matching
from durable.engine.registry import registry
from durable.engine.types import ReceivedEvent
from durable.models import TERMINAL, Delivery, Event, HistoryStep, Wait, WaitShape, WorkflowInstance

STARTER_NAMESPACE = uuid.UUID("0b6d8f3e-51a4-4c1e-8e4f-2d7c9a6b5e30")


@dataclass
class Routed:
    """Which instances one event resumed and which it started."""

    resumed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    # Whether the statement that resolved the one wait offered its instance to a runner already
    # (see `_route`), and whether it said no worker was asked for it.
    offered: bool = False
    handed: bool = False


# The sending side ------------------------------------------------------------------------------


def dispatch(seq: int) -> Routed:
    """Deliver one stored event (left undelivered by a dead process) to the waits it resolves.

    Runs once per event (the dispatched_at claim), atomically with the wake-ups it causes.
    """
    event = Event.objects.filter(seq=seq, dispatched_at__isnull=True).first()
    if event is None:
        return Routed()
    moment = db.now()
    with db.atomic():
        leases.lock_event_types([event.type])
        if not journal.claim_dispatch(seq, moment):
            return Routed()
        return _route(event, moment)


def _route(event: Event, moment: dt.datetime, shapes: list | None = None, *, offer: bool = False) -> Routed:
    """Resolve the waits an event matches and start its on_event workflows (in a transaction).

    On PostgreSQL the statement resolving a wait also wakes its instance; with `offer` (send),
    when the event can wake one instance only, it offers that instance to an idle runner too.

    Args:
        shapes: the (shape, paths) pairs registered for the event's type, read under its lock,
            if the caller has them already (send reads them with the event's INSERT).
        offer: whether the caller offers what the event wakes to a runner (see `send`).
    """
    routed = Routed()
    record = journal.record_of(event)
    waits = _resolvable(event, shapes)
    starters = registry.starters(event.type) if event.target_id is None else []
    folded = db.is_postgres()
    offering = None
    if offer and folded and len(waits) == 1 and not starters:
        routed.handed = _hand_over([waits[0][0]])
        offering = notify.offering(waits[0][0], handed=routed.handed)
    for instance_id, position, name, has_timeout, branch in waits:
        then = [leases.waking(instance_id, moment, waiting_for=None)] if folded else []
        if offering is not None:
            then.append(offering)
        resolved = journal.resolve(
            instance_id, position, name, event, record, moment, has_timeout=has_timeout, branch=branch, then=then
        )
        if resolved:
            routed.resumed.append(instance_id)
            routed.offered = offering is not None
    if not folded:
        leases.wake(routed.resumed, moment, waiting_for=None)
    if starters:
        routed.started = _start_subscribers(event, record, moment, starters)
    return routed


def _resolvable(event: Event, shapes: list | None) -> list[tuple[str, int, str, bool, int | None]]:
    """The waits this event resolves, one per instance: (instance, position, name, has a timeout,
    item index in a first).

    Also keys the event by every shape registered for its type, for waits that come later (on
    PostgreSQL in the statement that reads the waits).
    """
    if shapes is None:
        shapes = list(WaitShape.objects.filter(event_type=event.type).values_list("shape", "paths"))
    keys = {shape: k for shape, paths in shapes if (k := matching.event_key(paths, event.data, event.subject))}
    if event.target_id is None and not keys:
        return []
    rows = journal.key_event(event, keys, then=_open_waits(event, set(keys.values())))
    found: dict[str, tuple[str, int, str, bool, int | None]] = {}
    for instance_id, position, name, match, subject, timeout_at, branch in rows:
        # Both backends hand JSON columns over as text (Django decodes them itself, as here).
        match = json.loads(match) if isinstance(match, str) else match
        if matching.matches(match, subject, event.data, event.subject):
            found.setdefault(instance_id, (instance_id, position, name, timeout_at is not None, branch))
    return list(found.values())


def _open_waits(event: Event, keys: set[str]) -> statements.Part:
    """The SELECT of the open waits for this event's type under one of `keys` (or on its target
    instance), of instances that existed when it arrived and have not ended, in instance id
    order: (instance, position, name, match, subject, timeout_at, branch).

    On PostgreSQL the same statement locks their instance rows, in id order: instance rows before
    wait rows, as cancel and the timer sweep lock them. (A row whose instance ended meanwhile drops
    out; a wait resolved meanwhile is caught by journal.resolve.)

    Hand-written SQL: this runs on every event, and building the same statement through the ORM
    (a join and two NOT EXISTS) took longer than the database took to answer it.
    """
    connection = connections[db.alias()]
    ops = connection.ops
    wait, instance = ops.quote_name(Wait._meta.db_table), ops.quote_name(WorkflowInstance._meta.db_table)
    history, delivery = ops.quote_name(HistoryStep._meta.db_table), ops.quote_name(Delivery._meta.db_table)
    params: list[Any] = [event.type]
    if event.target_id is not None:
        which = "w.instance_id = %s"
        params.append(event.target_id)
    else:
        which = f"w.match_key IN ({', '.join(['%s'] * len(keys))})"
        params += sorted(keys)
    ended = sorted(TERMINAL)
    params += [ops.adapt_datetimefield_value(event.received_at), *ended, event.seq]
    sql = (
        f"SELECT w.instance_id, w.{ops.quote_name('position')}, w.name, w.{ops.quote_name('match')}, w.subject, "
        f"w.timeout_at, w.branch FROM {wait} w JOIN {instance} i ON i.id = w.instance_id "
        f"WHERE w.event_type = %s AND {which} AND i.created_at <= %s "
        f"AND i.status NOT IN ({', '.join(['%s'] * len(ended))}) "
        # A position recorded meanwhile (a wait left from older code) is never resolved again,
        # and an instance that took this event already (a later wait consumed it) gets no repeat.
        f"AND NOT EXISTS (SELECT 1 FROM {history} h WHERE h.instance_id = w.instance_id "
        f"AND h.{ops.quote_name('position')} = w.{ops.quote_name('position')} AND h.run = 0) "
        f"AND NOT EXISTS (SELECT 1 FROM {delivery} d WHERE d.instance_id = w.instance_id AND d.event_id = %s) "
        "ORDER BY w.instance_id"
    )
    if connection.vendor == "postgresql":
        sql += " FOR UPDATE OF i"
    return statements.Part(sql, params)


def _shapes_read(event_type: str) -> statements.Part:
    """The (shape, paths) pairs registered for a type, as one JSON array (PostgreSQL)."""
    connection = connections[db.alias()]
    shape, paths = (statements.column(WaitShape, name, connection) for name in ("shape", "paths"))
    return statements.Part(
        f"(SELECT json_agg(json_build_array(s.{shape}, s.{paths})) FROM {statements.table(WaitShape, connection)} s "
        f"WHERE s.{statements.column(WaitShape, 'event_type', connection)} = %s)",
        [event_type],
    )


def _start_subscribers(event: Event, record: dict, moment: dt.datetime, starters: list) -> list[str]:
    started = []
    for definition in starters:
        instance_id = str(uuid.uuid5(STARTER_NAMESPACE, f"{definition.name}\n{event.source}\n{event.event_id}"))
        argument = codec.encode(ReceivedEvent.from_record(record), where=f"event {event.event_id}")
        inputs = {"args": [argument], "kwargs": {}}
        if transitions.start(instance_id, definition.name, inputs, moment, trace_parent=event.extensions):
            journal.record_start(event, instance_id, moment)
            started.append(instance_id)
    return started


# Accepting events ------------------------------------------------------------------------------


@dataclass
class Accepted:
    """What storing one event did: its row (None for a duplicate) and where it went."""

    seq: int | None
    duplicate: bool
    routed: Routed = field(default_factory=Routed)


def send(record: dict[str, Any], *, target_id: str | None = None) -> Accepted:
    """Store a validated event once per (source, id) and deliver it, in one transaction.

    Inside the caller's transaction the delivery joins it: nothing is visible before the
    commit and a rollback undoes both. Workers are asked to run once it commits, unless
    the one instance it woke is handed to a listening runner (see `_hand_over`).
    """
    moment = db.now()
    with db.atomic():
        # Senders of one type queue on its lock, so a repeat is seen here, not as a unique
        # violation. (The same source and id under two types racing each other: on SQLite one
        # writer at a time sees the other's row; on PostgreSQL the insert counts a repeat on it.)
        # The lock is a statement of its own: a statement that waits for it still reads the
        # database as it was before the lock's holder (a waiter registering a new shape) committed.
        # On PostgreSQL the lock and the INSERT go in one round trip, and the type's wait shapes
        # come back with the INSERT, read after the lock was granted.
        shapes = None
        if db.is_postgres():
            event, found = journal.store_event_returning(
                record,
                _shapes_read(record["type"]),
                received_at=moment,
                target_id=target_id,
                dispatched_at=moment,
                after=leases.event_type_lock(record["type"]),
            )
            shapes = json.loads(found) if isinstance(found, str) else found or []
        else:
            leases.lock_event_types([record["type"]])
            event = journal.store_event(record, received_at=moment, target_id=target_id, dispatched_at=moment)
        if event is None:
            return Accepted(seq=None, duplicate=True)
        routed = _route(event, moment, shapes, offer=True)
        woken = routed.resumed + routed.started
        handed = routed.handed if routed.offered else _hand_over(woken)
        if woken and not routed.offered:
            # Heard at the commit by an idle runner, which may take one before any worker does.
            notify.runnable(woken, handed=handed)
    if woken and not handed:
        db.request_run()
    return Accepted(seq=event.seq, duplicate=False, routed=routed)


def _hand_over(woken: list[str]) -> bool:
    """Whether to leave the one instance an event woke to a runner alone, asking no django-q2 worker.

    A drain task asked for beside the runner finds nothing, but costs the receiver a queue write
    and the worker a look, on the same cores, while the event's round trip is measured. Only on
    PostgreSQL, where the notification reaches a live listener with the commit; a runner that is
    busy asks a worker itself, and the recovery sweep asks one for anything left due after all.
    """
    return len(woken) == 1 and notify.transport() == "postgresql" and health.runner_listening()


def deliver(seq: int) -> Routed:
    """Dispatch a stored event and ask for a worker if it resumed or started anything."""
    routed = dispatch(seq)
    if routed.resumed or routed.started:
        db.request_run()
    return routed
