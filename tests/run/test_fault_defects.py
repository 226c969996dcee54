"""One regression test per fault defect: each failed before the fix and passes now."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from django.db import OperationalError, connection
from django_q.models import Schedule

import durable
from durable import client, db, events, journal, routing, timers
from durable.models import Delivery, Event, HistoryStep, Status, Wait, WorkflowInstance
from durable.worker import schedules
from tests import fault_workflows as fw

pytestmark = pytest.mark.django_db


def test_stale_wait__a_deploy_under_a_paused_waiter_never_poisons_its_event_type(drain, monkeypatch):
    stale = durable.start(fw.redeployed, "a")
    other = durable.start(fw.redeployed, "b")
    drain()
    durable.pause(stale.instance_id)
    monkeypatch.setitem(fw.DEPLOYED, "version", 2)
    durable.resume(stale.instance_id)
    drain(lambda: stale.status == Status.WAITING_FOR_TIMER)
    assert not Wait.objects.filter(instance_id=stale.instance_id).exists(), "the resumed run makes no wait"
    # Events of the type still go where they belong, and nothing is resolved twice.
    assert durable.send_event("order.ready", "/shop", {"key": "a"}).resumed == []
    assert durable.send_event("order.ready", "/shop", {"key": "b"}).resumed == [other.instance_id]
    monkeypatch.setitem(fw.DEPLOYED, "version", 1)
    drain(other)
    assert other.result() == "b"


def test_stale_wait__resolving_a_recorded_position_is_harmless(drain):
    handle = durable.start(fw.takes_two, "k")
    drain()
    wait = Wait.objects.get(instance_id=handle.instance_id)
    # A wait row left behind at a position the history already holds.
    HistoryStep.objects.create(instance_id=handle.instance_id, position=wait.position, kind="now", name="now")
    delivery = durable.send_event("tick.tock", "/t", {"key": "k"})
    assert delivery.resumed == [] and Event.objects.count() == 1


def test_sweep__an_event_a_waiter_consumed_before_it_was_dispatched_delivers_nothing_twice(drain):
    handle = durable.start(fw.takes_two, "k")
    WorkflowInstance.objects.filter(id=handle.instance_id).update(created_at=db.now() - dt.timedelta(minutes=1))
    # Stored by a process that died before dispatching it; the waiter consumes it from the store.
    journal.record_event(
        {"id": "left", "source": "/dead", "type": "tick.tock", "data": {"key": "k"}}, received_at=db.now()
    )
    drain()
    assert Delivery.objects.get(instance_id=handle.instance_id).kind == Delivery.Kind.CONSUMED
    assert Wait.objects.filter(instance_id=handle.instance_id).exists(), "now waiting for the second"
    Event.objects.update(received_at=db.now() - dt.timedelta(seconds=5))
    report = timers.recover()
    assert (report.redelivered, report.failed) == (1, 0)
    assert Delivery.objects.filter(instance_id=handle.instance_id).count() == 1


def test_sweep__one_bad_event_stops_neither_the_others_nor_the_purge(monkeypatch, settings):
    for name in ("bad", "good"):
        journal.record_event(
            {"id": name, "source": "/s", "type": "x.y"}, received_at=db.now() - dt.timedelta(seconds=5)
        )
    settings.DURABLE_EVENT_RETENTION = dt.timedelta(hours=1)
    journal.record_event(
        {"id": "old", "source": "/s", "type": "x.y"},
        received_at=db.now() - dt.timedelta(hours=2),
        dispatched_at=db.now(),
    )
    bad = Event.objects.get(event_id="bad").seq
    real = routing.deliver

    def deliver(seq: int):
        if seq == bad:
            raise OperationalError("this one cannot be delivered")
        return real(seq)

    monkeypatch.setattr(routing, "deliver", deliver)
    report = timers.recover()
    assert (report.redelivered, report.failed, report.purged) == (1, 1, 1)
    assert Event.objects.get(event_id="good").dispatched_at is not None


def test_send_event__ids_are_random_and_a_taken_id_is_a_duplicate_not_a_lost_lease(drain, monkeypatch):
    first, second = durable.start(fw.sends_one, "a.b"), durable.start(fw.sends_one, "a.b")
    drain()
    ids = {first.result(), second.result()}
    assert len(ids) == 2 and all(uuid.UUID(i).version == 4 for i in ids)
    # Someone stored an event with the id the next step will draw: the step still commits.
    taken = uuid.UUID("11111111-2222-4333-8444-555555555555")
    monkeypatch.setattr("durable.engine.context._uuid.uuid4", lambda: taken)
    durable.send_event("a.b", "/faults", {"n": 0}, id=str(taken))
    third = durable.start(fw.sends_one, "a.b")
    drain(third)
    assert third.result() == str(taken)
    assert Event.objects.get(event_id=str(taken)).duplicates == 1


def test_send_event__an_event_the_store_would_refuse_is_refused_at_the_call_site(drain):
    handle = durable.start(fw.sends_one, "t" * 300)
    drain(handle)
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.status == Status.FAILED and row.error["type"] == "InvalidEvent"
    assert "longer than 255" in row.error["message"]


def test_failed_runs__a_persistent_storage_error_pauses_the_instance_with_it(drain, settings):
    settings.DURABLE_FAILED_RUN_BACKOFF = 0.0
    settings.DURABLE_PAUSE_AFTER_FAILED_RUNS = 3

    def refuse_history(execute, sql, params, many, context):
        if sql.startswith('INSERT INTO "durable_history"'):
            raise OperationalError("value too long for the column")
        return execute(sql, params, many, context)

    handle = durable.start(fw.sends_one, "a.b")
    with connection.execute_wrapper(refuse_history):
        drain(handle)
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.status == Status.PAUSED
    assert "Paused after 3 runs in a row that recorded nothing" in row.status_reason
    assert "value too long for the column" in row.status_reason
    durable.resume(handle.instance_id)
    drain(handle)
    assert handle.status == Status.COMPLETED


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_lock_order__two_batches_of_the_same_types_in_opposite_orders_do_not_deadlock():
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite runs one writer at a time")
    durable.start(fw.takes_two, "k")
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def send(types: list[str], tag: str) -> None:
        from django.db import connections

        try:
            for round_ in range(15):
                records = [events.build(t, "/lock", {"key": "z"}, event_id=f"{tag}-{round_}-{t}") for t in types]
                barrier.wait(5)
                client.deliver_many(records)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=send, args=(["a.one", "b.two", "c.three"], "x")),
        threading.Thread(target=send, args=(["c.three", "b.two", "a.one"], "y")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert Event.objects.count() == 90


def test_backstop__migrate_creates_the_schedule():
    from django.core.management.sql import emit_post_migrate_signal

    Schedule.objects.filter(name=schedules.BACKSTOP_NAME).delete()
    emit_post_migrate_signal(verbosity=0, interactive=False, db=db.alias())
    schedule = Schedule.objects.get(name=schedules.BACKSTOP_NAME)
    assert schedule.func == schedules.BACKSTOP_FUNC and schedule.minutes == 1


def test_clock_skew__an_instance_started_on_a_machine_whose_clock_runs_ahead_gets_its_event(drain, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("an SQLite database lives on one machine, whose clock is the database's")
    from django.utils import timezone

    real_now = timezone.now
    # Machine A's clock runs a minute ahead; it measures the database's clock as every process does.
    monkeypatch.setattr(timezone, "now", lambda: real_now() + dt.timedelta(minutes=1))
    db.sync_clock()
    handle = durable.start(fw.takes_two, "skew")
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    # Machine B, on time, sends the events a moment later.
    monkeypatch.setattr(timezone, "now", real_now)
    db.sync_clock()
    durable.send_event("tick.tock", "/b", {"key": "skew"}, id="first")
    assert (
        WorkflowInstance.objects.get(id=handle.instance_id).created_at
        <= Event.objects.get(event_id="first").received_at
    )
    durable.send_event("tick.tock", "/b", {"key": "skew"}, id="second")
    drain(handle)
    assert handle.result() == ["first", "second"]
