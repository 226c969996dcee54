"""The durable database: its alias, transactions, commit hooks, the clock, and the wake-up request."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from django.db import connections, router, transaction
from django.utils import timezone

from durable.models import WorkflowInstance

_waker: Callable[..., object] | None = None
# How far the database's clock is ahead of this machine's, and when (monotonic) that was measured.
_clock: dict[str, tuple[dt.timedelta, float]] = {}
CLOCK_REFRESH_SECONDS = 60.0
# Readings of the database's clock per measurement; the one with the shortest round trip counts.
CLOCK_SAMPLES = 3
# How far a test's virtual clock is ahead of the real one (durable.testing.WorkflowEnvironment
# moves it); zero outside such an environment.
_virtual = dt.timedelta(0)


def alias() -> str:
    return router.db_for_write(WorkflowInstance)


def atomic() -> transaction.Atomic:
    """A transaction on the durable database (IMMEDIATE on SQLite, via the project's OPTIONS)."""
    return transaction.atomic(using=alias())


def on_commit(fn: Callable[[], object]) -> None:
    transaction.on_commit(fn, using=alias(), robust=True)


def in_transaction() -> bool:
    return transaction.get_connection(alias()).in_atomic_block


def is_postgres() -> bool:
    return connections[alias()].vendor == "postgresql"


def sends_statements_together() -> bool:
    """Whether this PostgreSQL connection takes several statements in one execute and hands
    back each one's rows (psycopg 3 with client-side binding, Django's default): psycopg2 keeps
    only the last one's, and server-side binding takes one statement per message."""
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    connection = connections[alias()]
    return (
        connection.vendor == "postgresql"
        and is_psycopg3
        and connection.settings_dict.get("OPTIONS", {}).get("server_side_binding") is not True
    )


def now() -> dt.datetime:
    """The database's time, read from this machine's clock corrected by its measured offset.

    Every time durable stores (creation, arrival, leases, due times, wake-ups) comes from here,
    so machines whose clocks disagree still compare on one clock. The offset is measured once a
    minute on PostgreSQL; SQLite lives on this machine, whose clock is the database's. Inside a
    test's WorkflowEnvironment it is that many seconds ahead (`virtual_offset`).
    """
    local = timezone.now()
    if _virtual:
        local += _virtual
    name = alias()
    if connections[name].vendor != "postgresql":
        return local
    offset, measured = _clock.get(name, (dt.timedelta(0), -CLOCK_REFRESH_SECONDS))
    if time.monotonic() - measured >= CLOCK_REFRESH_SECONDS:
        offset = sync_clock()
    return local + offset


def virtual_offset() -> dt.timedelta:
    """How far the virtual clock of a test (durable.testing.WorkflowEnvironment) is ahead; zero outside one."""
    return _virtual


def set_virtual_offset(offset: dt.timedelta) -> None:
    """Move the clock `now()` reads to `offset` ahead of the real one: a test's virtual clock.

    Only durable.testing.WorkflowEnvironment calls it, and it restores the previous offset when it
    ends. Never in production: times stored ahead would fire timers and leases out of turn.
    """
    global _virtual
    _virtual = offset


def sync_clock() -> dt.timedelta:
    """Measure how far the database's clock is ahead of this machine's.

    A reading is precise to half its round trip, and one slow round trip (a busy machine, a
    stalled socket) would skew every time this process stores for a minute, enough for a runner
    to find an instance an event just woke "not due yet". So it reads CLOCK_SAMPLES times and
    keeps the reading with the shortest round trip.
    """
    connection = connections[alias()]
    best: tuple[dt.timedelta, dt.timedelta] | None = None
    with connection.cursor() as cursor:
        for _ in range(CLOCK_SAMPLES):
            before = timezone.now()
            database = _database_clock(cursor)
            after = timezone.now()
            trip = after - before
            if best is None or trip < best[0]:
                best = (trip, database - (before + trip / 2))
    assert best is not None
    offset = best[1]
    _clock[alias()] = (offset, time.monotonic())
    return offset


def _database_clock(cursor) -> dt.datetime:
    cursor.execute("SELECT clock_timestamp()")
    return cursor.fetchone()[0]


def set_waker(fn: Callable[..., object] | None) -> None:
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


def request_steps(count: int) -> None:
    """Ask workers to run `count` parallel steps made due, once the current transaction commits."""
    waker = _waker
    if waker is not None:
        transaction.on_commit(lambda: waker(steps=count), using=alias(), robust=True)


def request_hooks() -> None:
    """Ask a worker to run due hooks once the current transaction commits (at once outside one)."""
    waker = _waker
    if waker is not None:
        transaction.on_commit(lambda: waker(hooks=True), using=alias(), robust=True)


def release_connection() -> None:
    """Close this thread's connection to the durable database; the next query opens a new one."""
    connections[alias()].close()
