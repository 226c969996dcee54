"""Races with real concurrent transactions (threads, each with its own connection)."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import pytest
from django.db import connection, connections

import durable
from durable import db, journal, leases, timers
from durable.engine import matching
from durable.engine.types import WaitSpec
from durable.models import Delivery, Event, EventKey, HistoryStep, Status, Timer, Wait, WorkflowInstance
from durable.run import executor
from tests import event_workflows as ew

pytestmark = pytest.mark.django_db(transaction=True)


def in_threads(*targets) -> None:
    errors: list[BaseException] = []

    def guarded(target):
        def run():
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - reported to the test below
                errors.append(exc)
            finally:
                connections.close_all()

        return run

    threads = [threading.Thread(target=guarded(t)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors


def run_until_settled(handles, deadline: float) -> None:
    ids = [h.instance_id for h in handles]
    while time.monotonic() < deadline:
        executor.run_due(max_seconds=2)
        timers.fire_due()
        if not WorkflowInstance.objects.filter(id__in=ids).exclude(status=Status.COMPLETED).exists():
            return
        time.sleep(0.005)


def test_race__event_versus_timeout_resolves_each_wait_exactly_once():
    handles = [durable.start(ew.waits_once, f"race-{i}", timeout=0.5 + i * 0.03) for i in range(40)]
    executor.run_due()
    start = time.monotonic()
    # Aim each event at its own wait's deadline, a little before or after it.
    offset = time.time() - time.monotonic()
    deadlines = {t.instance_id: t.due_at.timestamp() - offset for t in Timer.objects.all()}
    plan = sorted((deadlines[h.instance_id] + random.uniform(-0.02, 0.02), i) for i, h in enumerate(handles))

    def sender():
        for moment, i in plan:
            time.sleep(max(0.0, moment - time.monotonic()))
            durable.send_event("thing.happened", "/race", {"key": f"race-{i}"}, id=f"r{i}")

    def timer_loop():
        while time.monotonic() - start < 3:
            timers.fire_due()
            time.sleep(0.001)

    in_threads(sender, timer_loop, lambda: run_until_settled(handles, time.monotonic() + 30))
    outcomes = {"event": 0, "timeout": 0}
    for handle in handles:
        result = handle.result(timeout=0)
        outcomes[result["outcome"]] += 1
        step = HistoryStep.objects.get(instance_id=handle.instance_id, kind="wait_event")
        resumed = Delivery.objects.filter(instance_id=handle.instance_id).count()
        if result["outcome"] == "event":
            assert step.status == "completed" and resumed == 1
        else:
            assert step.status == "timed_out" and resumed == 0
    assert sum(outcomes.values()) == 40
    print(f"\n[report] event versus timeout: {outcomes}")


def test_race__concurrent_senders_and_waiters_lose_no_wake_up():
    handles = [durable.start(ew.waits_twice, f"cw-{i}") for i in range(30)]
    order = [(i, n) for i in range(30) for n in (1, 2)]
    random.shuffle(order)
    halves = order[::2], order[1::2]

    def sender(part):
        def send():
            for i, n in part:
                durable.send_event("tick", f"/sender/{n}", {"key": f"cw-{i}", "n": n}, id=f"{i}-{n}")
                time.sleep(random.random() * 0.004)

        return send

    deadline = time.monotonic() + 60
    in_threads(
        sender(halves[0]),
        sender(halves[1]),
        lambda: run_until_settled(handles, deadline),
        lambda: run_until_settled(handles, deadline),
    )
    for handle in handles:
        assert handle.status == Status.COMPLETED, f"{handle.instance_id} lost a wake-up: {handle.status}"
        assert sorted(handle.result()) == [1, 2]


def test_race__a_sender_queued_on_the_type_lock_sees_the_shape_its_holder_registered():
    """A waiter registers a new wait shape and opens its wait under the type's lock while a sender
    of that type queues on the lock: the sender reads the type's shapes after the lock is granted,
    so it keys its event by the new shape and resolves the wait. (A statement that waits for the
    lock itself reads the database as it was before the waiter committed: taking the lock inside
    the event's INSERT, which reads the shapes, would lose this wake-up.)"""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time: a sender cannot queue behind a waiter mid-transaction")
    handle = durable.start(ew.waits_once, "snap-1")
    instance = WorkflowInstance.objects.get(id=handle.instance_id)
    spec = WaitSpec(position=0, name="w", types=["snap.type"], match={"order": "o-1"}, subject=None, timeout_at=None)
    locked, delivered = threading.Event(), []

    def waiter():
        with db.atomic():
            leases.lock_event_types(["snap.type"])
            locked.set()
            deadline = time.monotonic() + 10
            with connections[db.alias()].cursor() as cursor:
                while True:
                    cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                    if cursor.fetchone()[0]:
                        break
                    assert time.monotonic() < deadline, "the sender never queued on the type's lock"
                    time.sleep(0.01)
            assert journal.take_stored_event(instance.id, instance.created_at, spec, db.now() - dt.timedelta(1)) is None
            journal.open_wait(instance.id, spec)

    def sender():
        assert locked.wait(10)
        delivered.append(durable.send_event("snap.type", "/snap", {"order": "o-1"}, id="snap-e"))

    in_threads(waiter, sender)
    assert delivered[0].resumed == [instance.id]
    event = Event.objects.get(event_id="snap-e")
    assert EventKey.objects.filter(event=event, shape=matching.shape_of(spec.match, spec.subject)[0]).exists()
    assert not Wait.objects.filter(instance_id=instance.id).exists()
    assert Delivery.objects.filter(instance_id=instance.id, event=event, kind=Delivery.Kind.RESUMED).exists()
