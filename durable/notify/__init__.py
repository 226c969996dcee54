"""Wake-ups through the database's own channel: LISTEN/NOTIFY on PostgreSQL, local sockets beside SQLite.

A wake-up only ever says "look now": whoever receives one reads the database, which stays the
source of truth. So a lost or repeated notification costs time, never correctness, and every
listener still looks on its own every DURABLE_LISTEN_POLL seconds (or at the old polling
intervals while its channel is down).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from django.db import connections

from durable import db, statements
from durable.conf import settings

logger = logging.getLogger(__name__)

# The channels: django-q2 tasks enqueued, timers written, values instances published, and
# instances an event made runnable (the ids, for a timer loop's idle runner to claim at once).
TASKS = "tasks"
TIMERS = "timers"
INSTANCES = "instances"
RUNNABLE = "runnable"
# PostgreSQL takes payloads under 8000 bytes; a value bigger than this is read, not carried.
MAX_PAYLOAD_BYTES = 7000
UNSENT = object()


class Listener(Protocol):
    """What the broker, the timer loop and the get_event hub wait on."""

    healthy: bool

    def wait(self, timeout: float) -> list[tuple[str, str]]:
        """(channel, payload) pairs received within `timeout` seconds; [] when none came.

        After a reconnect it returns ("", "") once: whatever was sent meanwhile is lost, so look.
        """

    def close(self) -> None: ...


def transport() -> str | None:
    """ "postgresql", "local" (a SQLite file on this machine) or None (notifications are off)."""
    if not settings.NOTIFY:
        return None
    connection = connections[db.alias()]
    if connection.vendor == "postgresql":
        return "postgresql"
    if connection.vendor == "sqlite":
        from durable.notify import local

        return "local" if local.directory() is not None else None
    return None


def send(channel: str, payload: str = "") -> None:
    """Notify `channel` once the current transaction commits (at once outside one)."""
    kind = transport()
    if kind == "postgresql":
        from durable.notify import postgres

        postgres.send(channel, payload)
    elif kind == "local":
        from durable.notify import local

        db.on_commit(lambda: local.send(channel, payload))


def listen(channels: list[str]) -> Listener | None:
    """A listener on these channels for this thread, or None when there is no channel to use."""
    kind = transport()
    if kind == "postgresql":
        from durable.notify import postgres

        return postgres.PostgresListener(channels)
    if kind == "local":
        from durable.notify import local

        return local.LocalListener(channels)
    return None


def poll_interval(listener: Listener | None, fallback: float) -> float:
    """How long to wait before looking anyway: long while the channel is up, `fallback` otherwise."""
    if listener is not None and listener.healthy:
        return max(float(settings.LISTEN_POLL), fallback)
    return fallback


def timer_set(due_at: dt.datetime) -> None:
    """Tell timer loops about a timer due before their next look of their own would find it."""
    if (due_at - db.now()).total_seconds() < 2 * float(settings.LISTEN_POLL) + 1:
        send(TIMERS, f"{due_at.timestamp():.6f}")


# Leads a runnable payload when no worker was asked for its instances: the runner that cannot take
# them asks one. (Instance ids never hold a control character, so it cannot be an id.)
HANDED = "\x06"


def runnable(instance_ids: list[str], *, handed: bool = False) -> None:
    """Offer instances just made due to an idle runner.

    Args:
        instance_ids: the instances, in the order to try them.
        handed: no worker was asked for them, so a runner that cannot take them all must ask one.
    """
    payload = _runnable_payload(instance_ids, handed)
    if payload:
        send(RUNNABLE, payload)


def offering(instance_id: str, *, handed: bool = False) -> Callable[[str], statements.Part] | None:
    """`runnable` for one instance as a part of another statement, sent only when that
    statement's condition holds (journal.resolve, when it took the instance's wait); None
    unless the transport is PostgreSQL's, whose pg_notify a statement can carry."""
    if transport() != "postgresql":
        return None
    from durable.notify import postgres

    payload = _runnable_payload([instance_id], handed)
    if not payload:
        return None

    def build(condition: str) -> statements.Part:
        return postgres.sending(RUNNABLE, payload, condition)

    return build


def _runnable_payload(instance_ids: list[str], handed: bool) -> str:
    payload, size = [HANDED] if handed else [], 0
    for instance_id in instance_ids:
        size += len(instance_id.encode()) + 1
        if size > MAX_PAYLOAD_BYTES:
            break
        payload.append(instance_id)
    return "\n".join(payload)


def instance_changed(instance_id: str, key: str | None = None, value: Any = UNSENT) -> None:
    """Wake get_event waiters of an instance: it published `key` (and `value`, when small)."""
    message: dict[str, Any] = {"i": instance_id}
    if key is not None:
        message["k"] = key
        if value is not UNSENT:
            message["v"] = value
    payload = json.dumps(message, separators=(",", ":"))
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        # Too big to carry: the waiter reads the value itself.
        payload = json.dumps({k: v for k, v in message.items() if k != "v"}, separators=(",", ":"))
    send(INSTANCES, payload)
