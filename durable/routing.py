"""Route events to waits: match keys, indexed lookup of the waits an event resolves, dispatch."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef

from durable import db, journal, leases, transitions
from durable.engine import codec, matching
from durable.engine.registry import registry
from durable.engine.types import ReceivedEvent
from durable.models import TERMINAL, Delivery, Event, HistoryStep, Wait, WaitShape

STARTER_NAMESPACE = uuid.UUID("0b6d8f3e-51a4-4c1e-8e4f-2d7c9a6b5e30")


@dataclass
class Routed:
    """Which instances one event resumed and which it started."""

    resumed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)


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


def _route(event: Event, moment: dt.datetime) -> Routed:
    """Resolve the waits an event matches and start its on_event workflows (in a transaction)."""
    routed = Routed()
    record = journal.record_of(event)
    for instance_id, position, name, has_timeout in _resolvable(event):
        if journal.resolve(instance_id, position, name, event, record, moment, has_timeout=has_timeout):
            routed.resumed.append(instance_id)
    leases.wake(routed.resumed, moment, waiting_for=None)
    if event.target_id is None:
        routed.started = _start_subscribers(event, record, moment)
    return routed


def _resolvable(event: Event) -> list[tuple[str, int, str, bool]]:
    """The waits this event resolves, one per instance: (instance, position, name, has a timeout).

    Also keys the event by every shape registered for its type, for waits that come later.
    """
    shapes = WaitShape.objects.filter(event_type=event.type).values_list("shape", "paths")
    keys = {shape: k for shape, paths in shapes if (k := matching.event_key(paths, event.data, event.subject))}
    journal.key_event(event, keys)
    if event.target_id is not None:
        waits = Wait.objects.filter(instance_id=event.target_id, event_type=event.type)
    elif keys:
        waits = Wait.objects.filter(event_type=event.type, match_key__in=set(keys.values()))
    else:
        return []
    rows = (
        waits.filter(instance__created_at__lte=event.received_at)
        .exclude(instance__status__in=TERMINAL)
        # A position recorded meanwhile (a wait left from older code) is never resolved again,
        # and an instance that took this event already (a later wait consumed it) gets no repeat.
        .filter(~Exists(HistoryStep.objects.filter(instance_id=OuterRef("instance_id"), position=OuterRef("position"))))
        .filter(~Exists(Delivery.objects.filter(instance_id=OuterRef("instance_id"), event_id=event.seq)))
    )
    found: dict[str, tuple[str, int, str, bool]] = {}
    for instance_id, position, name, match, subject, timeout_at in rows.order_by("instance_id").values_list(
        "instance_id", "position", "name", "match", "subject", "timeout_at"
    ):
        if matching.matches(match, subject, event.data, event.subject):
            found.setdefault(instance_id, (instance_id, position, name, timeout_at is not None))
    if found:
        # Instance rows before wait rows, in id order, as cancel and the timer sweep lock them.
        leases.lock_instances(found)
    return list(found.values())


def _start_subscribers(event: Event, record: dict, moment: dt.datetime) -> list[str]:
    started = []
    for definition in registry.starters(event.type):
        instance_id = str(uuid.uuid5(STARTER_NAMESPACE, f"{definition.name}\n{event.source}\n{event.event_id}"))
        argument = codec.encode(ReceivedEvent.from_record(record), where=f"event {event.event_id}")
        if transitions.start(instance_id, definition.name, {"args": [argument], "kwargs": {}}, moment):
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
    commit and a rollback undoes both. Workers are asked to run once it commits.
    """
    moment = db.now()
    with db.atomic():
        # Senders of one type queue on its lock, so a repeat is seen here, not as a unique
        # violation. (The same source and id under two types racing each other fail one of
        # them with IntegrityError: nothing is stored for it, and its retry is a duplicate.)
        leases.lock_event_types([record["type"]])
        if journal.count_duplicate(record["source"], record["id"]):
            return Accepted(seq=None, duplicate=True)
        event = journal.record_event(record, received_at=moment, target_id=target_id, dispatched_at=moment)
        routed = _route(event, moment)
    if routed.resumed or routed.started:
        db.request_run()
    return Accepted(seq=event.seq, duplicate=False, routed=routed)


def deliver(seq: int) -> Routed:
    """Dispatch a stored event and ask for a worker if it resumed or started anything."""
    routed = dispatch(seq)
    if routed.resumed or routed.started:
        db.request_run()
    return routed
