"""Pinned query counts for the hot paths, so a regression fails here (speed itself is durable_bench's job).

Counted with real autocommit transactions (transactional_db), as in production. The counts differ
by vendor: SQLite's BEGIN IMMEDIATE is a statement Django runs and captures; PostgreSQL takes a
transaction-scoped advisory lock per event type.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import durable
from durable import db, timers
from durable.models import Status
from durable.run import executor
from tests import event_workflows as ew
from tests import workflows

pytestmark = pytest.mark.django_db(transaction=True)


def counted(fn) -> int:
    with CaptureQueriesContext(connection) as queries:
        fn()
    return len(queries)


def expect(sqlite: int, postgresql: int) -> int:
    return {"sqlite": sqlite, "postgresql": postgresql}[connection.vendor]


@pytest.fixture(autouse=True)
def no_wake_ups(monkeypatch):
    # The django-q2 wake-up is counted on its own below.
    monkeypatch.setattr(db, "_waker", None)


@pytest.fixture(autouse=True)
def clock_measured():
    # On PostgreSQL db.now() measures the database's clock once a minute: not inside a count.
    if connection.vendor == "postgresql":
        db.sync_clock()


def test_queries__start(report):
    report("start", counted(lambda: durable.start(workflows.three_steps, 1)), expect(1, 1))


def test_queries__wake_up_when_one_is_already_on_its_way(report, monkeypatch):
    from durable.worker import wakeup

    monkeypatch.setattr(wakeup, "enqueue", lambda: None)
    wakeup.request()  # raises the flag (and looks for the row)
    report("wake-up, flag already up", counted(wakeup.request), expect(1, 1))


def test_queries__run_with_activities(report):
    # Claim, load the history, one segment (BEGIN, 3 x savepoint + the activity's INSERT, the
    # history rows in one INSERT, the completing UPDATE, COMMIT), then the claim that finds nothing.
    durable.start(workflows.ledger_three)
    report("run of 3 activities to completion", counted(executor.run_due), expect(16, 16))


def test_queries__each_further_activity(report):
    def run(n: int) -> int:
        durable.start(workflows.n_activities, n)
        return counted(executor.run_due)

    # Each transactional activity costs its savepoint (2) and its own Ledger INSERT (1); its
    # history row joins the one bulk INSERT at the segment's commit.
    report("4 activities minus 1", run(4) - run(1), expect(9, 9))


def test_queries__delivering_to_one_of_many_waiting(report, drain, listening_known):
    handles = [durable.start(ew.waits_once, f"qc-{i}") for i in range(40)]
    drain()
    assert all(h.status == Status.WAITING_FOR_EVENT for h in handles)
    deliveries = []
    count = counted(lambda: deliveries.append(durable.send_event("thing.happened", "/qc", {"key": "qc-7"})))
    # Both store the event with one upsert that counts a repeat itself. SQLite then reads the
    # type's wait shapes, keys the event, reads the waits, resolves the wait in three (its delete,
    # the history step, the delivery) and wakes the instance. PostgreSQL, between its BEGIN and
    # COMMIT, takes the event type's advisory lock (a statement of its own, sent in one round trip
    # with the upsert: see routing.send) and folds the rest into three: the upsert returns the
    # shapes, the keys' INSERT rides in the waits' SELECT (which locks their instance rows), and
    # one statement resolves the wait, wakes the instance and offers it to an idle runner by
    # pg_notify. (Once a second the receiver also reads whether a runner listens, to hand the
    # woken instance over: `listening_known` has read it already.)
    report("event delivered to 1 of 40 waiting", count, expect(10, 5))
    assert deliveries[0].resumed == [handles[7].instance_id]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the lock is PostgreSQL's")
def test_queries__delivering_where_statements_go_one_at_a_time(report, drain, listening_known, monkeypatch):
    # psycopg2, or psycopg 3 with server-side binding: the lock is sent on its own first.
    monkeypatch.setattr(db, "sends_statements_together", lambda: False)
    handles = [durable.start(ew.waits_once, f"qs-{i}") for i in range(5)]
    drain()
    deliveries = []
    count = counted(lambda: deliveries.append(durable.send_event("thing.happened", "/qs", {"key": "qs-3"})))
    report("event delivered to 1 of 5 waiting, statements one at a time", count, expect(0, 6))
    assert deliveries[0].resumed == [handles[3].instance_id]


def test_queries__firing_a_timer(report, drain):
    handle = durable.start(workflows.sleeper, 0.2)
    drain(lambda: handle.status == Status.WAITING_FOR_TIMER)
    time.sleep(0.25)
    report("one due timer fired", counted(timers.fire_due), expect(6, 7))


@pytest.fixture
def report(request):
    def check(what: str, actual: int, pinned: int) -> None:
        assert actual == pinned, f"{what}: {actual} queries on {connection.vendor}, pinned at {pinned}"

    return check
