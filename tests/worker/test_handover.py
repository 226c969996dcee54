"""The worker heartbeat, and the receiver handing a woken instance to a listening runner: no django-q2
drain is asked for then, and whatever the runner cannot take still reaches a worker."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

import durable
from durable import db, health
from durable.models import Status, WakeSignal, WorkerHeartbeat, WorkflowInstance
from durable.run import executor
from tests import wakeup_workflows as ww
from tests.worker.test_loop import hear, listening_loop, rows, send, waiting

pytestmark = pytest.mark.django_db(transaction=True)

POSTGRES = connection.vendor == "postgresql"


def beating_loop():
    loop = listening_loop()
    loop.beat()
    health.forget_listening()
    return loop


def drain_asked() -> bool:
    return WakeSignal.objects.filter(name="default", pending=True).exists()


def lower_flag() -> None:
    WakeSignal.objects.update_or_create(name="default", defaults={"pending": False})


def test_heartbeat__a_loop_beats_a_row_that_says_what_it_runs_and_deletes_it_as_it_stops():
    loop = beating_loop()
    try:
        beat = WorkerHeartbeat.objects.get(id=health.identity())
        assert beat.runs["runner"] is True
        assert beat.listening is POSTGRES, "only a PostgreSQL listener takes handed instances"
        first = beat.last_seen_at
        loop._beat_at = 0.0
        loop.beat()
        assert WorkerHeartbeat.objects.get(id=health.identity()).last_seen_at >= first
        assert WorkerHeartbeat.objects.count() == 1, "renewed, not written again"
    finally:
        loop.close()
    assert not WorkerHeartbeat.objects.exists()


def test_handover__one_woken_instance_goes_to_the_listening_runner_without_a_drain():
    loop = beating_loop()
    try:
        key = waiting("handed")
        lower_flag()
        send(key)
        asked = drain_asked()
        hear(loop, key)
    finally:
        loop.close()
    assert durable.get_handle(key).status == Status.COMPLETED and rows(key) == 1
    # SQLite's datagrams may be dropped under load: a worker is asked there as before.
    assert asked is not POSTGRES


@pytest.mark.skipif(not POSTGRES, reason="instances are handed over on PostgreSQL only")
def test_handover__a_busy_runner_asks_a_worker_for_what_it_was_handed(monkeypatch):
    loop = beating_loop()
    monkeypatch.setattr(type(loop.runner), "idle", property(lambda self: False))
    try:
        key = waiting("handed-busy")
        lower_flag()
        send(key)
        assert not drain_asked(), "handed to the runner"
        hear(loop, key, seconds=0.5)
        assert drain_asked(), "the busy runner asked a worker"
    finally:
        loop.close()
    executor.run_due(max_seconds=2, only=key)
    assert durable.get_handle(key).status == Status.COMPLETED and rows(key) == 1


@pytest.mark.skipif(not POSTGRES, reason="instances are handed over on PostgreSQL only")
def test_handover__a_runner_whose_clock_lags_the_receivers_asks_a_worker_for_the_instance(monkeypatch):
    loop = beating_loop()
    try:
        key = waiting("handed-skew")
        lower_flag()
        # The receiver measured the database's clock a second ahead of where the runner did: the
        # instance it woke looks "not due yet" to the runner for that second.
        offset, measured = db._clock[db.alias()]
        monkeypatch.setitem(db._clock, db.alias(), (offset + dt.timedelta(seconds=1), measured))
        send(key)
        assert not drain_asked(), "handed to the runner"
        monkeypatch.setitem(db._clock, db.alias(), (offset, measured))
        hear(loop, key, seconds=0.5)
        assert durable.get_handle(key).status != Status.COMPLETED, "the runner could not claim it"
        assert drain_asked(), "so it asked a worker instead of leaving it to the recovery sweep"
    finally:
        loop.close()
    monkeypatch.setitem(db._clock, db.alias(), (offset + dt.timedelta(seconds=1.5), measured))
    executor.run_due(max_seconds=2, only=key)
    assert durable.get_handle(key).status == Status.COMPLETED and rows(key) == 1


@pytest.mark.skipif(not POSTGRES, reason="instances are handed over on PostgreSQL only")
def test_handover__a_stale_heartbeat_or_two_woken_instances_ask_a_worker():
    loop = beating_loop()
    try:
        # Two instances woken by one event: the runner takes one, a worker the other.
        for instance_id in ("pair-a", "pair-b"):
            durable.start(ww.woken, "pair", instance_id=instance_id)
            executor.run_due(max_seconds=2, only=instance_id)
        lower_flag()
        send("pair")
        assert drain_asked()

        key = waiting("handed-stale")
        WorkerHeartbeat.objects.update(last_seen_at=db.now() - dt.timedelta(minutes=5))
        health.forget_listening()
        lower_flag()
        send(key)
        assert drain_asked(), "no runner has been seen lately: a worker is asked"
        hear(loop, key)
    finally:
        loop.close()
    executor.run_due(max_seconds=2)
    for instance_id in ("pair-a", "pair-b", key):
        assert WorkflowInstance.objects.get(id=instance_id).status == Status.COMPLETED
    assert rows("pair") == 2 and rows(key) == 1


@pytest.mark.skipif(not POSTGRES, reason="instances are handed over on PostgreSQL only")
def test_handover__a_deaf_listener_is_not_counted_on(monkeypatch):
    loop = listening_loop()
    monkeypatch.setattr(loop.listener, "healthy", False)
    try:
        loop.beat()
        health.forget_listening()
        assert WorkerHeartbeat.objects.get(id=health.identity()).listening is False
        key = waiting("handed-deaf")
        lower_flag()
        send(key)
        assert drain_asked()
    finally:
        loop.close()
