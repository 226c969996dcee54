"""Route events to waits: match keys, indexed lookup of the waits an event resolves, dispatch."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, F, OuterRef, Q

from durable import signals, store
from durable.engine import codec
from durable.engine.registry import registry
from durable.engine.types import COMPLETED, WAIT_EVENT, ReceivedEvent, WaitSpec
from durable.models import TERMINAL, Delivery, Event, HistoryStep, Status, Timer, Wait, WaitShape, WorkflowInstance

logger = logging.getLogger(__name__)

SUBJECT_PATH = "@subject"
STARTER_NAMESPACE = uuid.UUID("0b6d8f3e-51a4-4c1e-8e4f-2d7c9a6b5e30")
MISSING = object()


@dataclass
class Routed:
    """Which instances one event resumed and which it started."""

    resumed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)


# Match keys ------------------------------------------------------------------------------------


def _canon(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canon(v) for v in value]
    return value


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def shape_of(match: dict[str, Any], subject: str | None) -> tuple[str, list[str]]:
    paths = sorted(match) + ([SUBJECT_PATH] if subject is not None else [])
    return _digest(paths), paths


def key_of(match: dict[str, Any], subject: str | None) -> str:
    pairs = [[path, _canon(match[path])] for path in sorted(match)]
    if subject is not None:
        pairs.append([SUBJECT_PATH, subject])
    return _digest(pairs)


def extract(data: Any, path: str) -> Any:
    """The value at a dotted path of an event's data tree, or MISSING."""
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and node.get(codec.TAG) == "dict":
            node = node[codec.VALUE]
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def event_key(paths: list[str], data: Any, subject: str | None) -> str | None:
    values = {}
    for path in paths:
        if path == SUBJECT_PATH:
            continue
        value = extract(data, path)
        if value is MISSING:
            return None
        values[path] = value
    if SUBJECT_PATH in paths:
        if subject is None:
            return None
        return key_of(values, subject)
    return key_of(values, None)


def matches(match: dict[str, Any], wanted_subject: str | None, data: Any, subject: str | None) -> bool:
    if wanted_subject is not None and wanted_subject != subject:
        return False
    return all(_canon(extract(data, path)) == _canon(value) for path, value in match.items())


# Records ---------------------------------------------------------------------------------------


def record_of(event: Event) -> dict[str, Any]:
    """The ReceivedEvent record stored in the history for a delivered event."""
    return {
        "id": event.event_id,
        "type": event.type,
        "source": event.source,
        "subject": event.subject,
        "time": event.time.isoformat() if event.time else None,
        "data": event.data,
        "datacontenttype": event.datacontenttype,
        "extensions": event.extensions or {},
    }


# The waiting side ------------------------------------------------------------------------------


def add_wait(instance_id: str, spec: WaitSpec) -> None:
    """Create the wait rows (one per type) and register their match shape."""
    shape, paths = shape_of(spec.match, spec.subject)
    key = key_of(spec.match, spec.subject)
    WaitShape.objects.bulk_create(
        [WaitShape(event_type=t, shape=shape, paths=paths) for t in spec.types], ignore_conflicts=True
    )
    Wait.objects.bulk_create(
        [
            Wait(
                instance_id=instance_id,
                position=spec.position,
                name=spec.name,
                event_type=t,
                match=spec.match,
                subject=spec.subject,
                shape=shape,
                match_key=key,
                timeout_at=spec.timeout_at,
            )
            for t in dict.fromkeys(spec.types)
        ],
        ignore_conflicts=True,
    )


def find_stored_event(instance_id: str, created_at: dt.datetime, spec: WaitSpec, cutoff: dt.datetime) -> Event | None:
    """The first event, in arrival order, kept for this instance that the wait accepts."""
    since = max(created_at, cutoff)
    rows = Event.objects.filter(type__in=spec.types, received_at__gte=since).filter(
        Q(target__isnull=True) | Q(target_id=instance_id)
    )
    rows = rows.filter(~Exists(Delivery.objects.filter(instance_id=instance_id, event=OuterRef("pk"))))
    if spec.subject is not None:
        rows = rows.filter(subject=spec.subject)
    for path, value in spec.match.items():
        parts = path.split(".")
        if isinstance(value, str | int | float | bool) and all(p and "__" not in p for p in parts):
            rows = rows.filter(**{"data__" + "__".join(parts): value})
    for event in rows.order_by("seq")[:50]:
        if matches(spec.match, spec.subject, event.data, event.subject):
            return event
    return None


# The sending side ------------------------------------------------------------------------------


def dispatch(seq: int) -> Routed:
    """Deliver one stored event (left undelivered by a dead process) to the waits it resolves.

    Runs once per event (the dispatched_at claim), atomically with the wake-ups it causes.
    """
    event = Event.objects.filter(seq=seq, dispatched_at__isnull=True).first()
    if event is None:
        return Routed()
    moment = store.now()
    with store.atomic():
        store.lock_event_types([event.type])
        if Event.objects.filter(seq=seq, dispatched_at__isnull=True).update(dispatched_at=moment) != 1:
            return Routed()
        return _route(event, moment)


def _route(event: Event, moment: dt.datetime) -> Routed:
    """Resolve the waits an event matches and start its on_event workflows (in a transaction)."""
    routed = Routed()
    record = record_of(event)
    for instance_id, position, name in _resolvable(event):
        if resolve(instance_id, position, name, event, record, moment):
            routed.resumed.append(instance_id)
    store.wake(routed.resumed, moment, waiting_for=None)
    if event.target_id is None:
        routed.started = _start_subscribers(event, record, moment)
    return routed


def _resolvable(event: Event) -> list[tuple[str, int, str]]:
    if event.target_id is not None:
        waits = Wait.objects.filter(instance_id=event.target_id, event_type=event.type)
    else:
        shapes = WaitShape.objects.filter(event_type=event.type).values_list("paths", flat=True)
        keys = {k for paths in shapes if (k := event_key(paths, event.data, event.subject)) is not None}
        if not keys:
            return []
        waits = Wait.objects.filter(event_type=event.type, match_key__in=keys)
    rows = waits.filter(instance__created_at__lte=event.received_at).exclude(instance__status__in=TERMINAL)
    found: dict[str, tuple[str, int, str]] = {}
    for instance_id, position, name, match, subject in rows.order_by("instance_id").values_list(
        "instance_id", "position", "name", "match", "subject"
    ):
        if matches(match, subject, event.data, event.subject):
            found.setdefault(instance_id, (instance_id, position, name))
    if found and store.is_postgres():
        # Lock instance rows before wait rows, in id order, as cancel and the timer sweep do.
        list(WorkflowInstance.objects.filter(id__in=found).order_by("id").select_for_update().values_list("id"))
    return list(found.values())


def resolve(instance_id: str, position: int, name: str, event: Event, record: dict, moment: dt.datetime) -> bool:
    """Resolve one wait with an event, unless a timeout or another event resolved it first."""
    deleted, _ = Wait.objects.filter(instance_id=instance_id, position=position).delete()
    if not deleted:
        return False
    Timer.objects.filter(instance_id=instance_id, position=position).delete()
    HistoryStep.objects.create(
        instance_id=instance_id,
        position=position,
        kind=WAIT_EVENT,
        name=name,
        status=COMPLETED,
        result=record,
        recorded_at=moment,
    )
    Delivery.objects.create(
        event=event, instance_id=instance_id, position=position, kind=Delivery.Kind.RESUMED, delivered_at=moment
    )
    return True


def _start_subscribers(event: Event, record: dict, moment: dt.datetime) -> list[str]:
    started = []
    for definition in registry.starters(event.type):
        instance_id = str(uuid.uuid5(STARTER_NAMESPACE, f"{definition.name}\n{event.source}\n{event.event_id}"))
        argument = codec.encode(ReceivedEvent.from_record(record), where=f"event {event.event_id}")
        created = store.create_instance(instance_id, definition.name, {"args": [argument], "kwargs": {}}, moment)
        if created:
            Delivery.objects.create(
                event=event, instance_id=instance_id, kind=Delivery.Kind.STARTED, delivered_at=moment
            )
            signals.send_on_commit(signals.workflow_started, definition.name, instance_id, Status.PENDING)
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
    moment = store.now()
    with store.atomic():
        # Senders of one type queue on its lock, so a repeat is seen here, not as a unique
        # violation. (The same source and id under two types racing each other fail one of
        # them with IntegrityError: nothing is stored for it, and its retry is a duplicate.)
        store.lock_event_types([record["type"]])
        repeat = Event.objects.filter(source=record["source"], event_id=record["id"])
        if repeat.update(duplicates=F("duplicates") + 1):
            return Accepted(seq=None, duplicate=True)
        event = store.store_event(record, received_at=moment, target_id=target_id, dispatched_at=moment)
        routed = _route(event, moment)
    if routed.resumed or routed.started:
        store.request_run()
    return Accepted(seq=event.seq, duplicate=False, routed=routed)


def deliver(seq: int) -> Routed:
    """Dispatch a stored event and ask for a worker if it resumed or started anything."""
    routed = dispatch(seq)
    if routed.resumed or routed.started:
        store.request_run()
    return routed
