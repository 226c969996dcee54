"""The timer loop's runner takes an instance an event woke, once, and leaves it to the workers when
it cannot: busy, failing, or beaten to it by another loop; timers read ahead still fire on time."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

import durable
from durable import db, leases, timers
from durable.models import HistoryStep, Status, Timer, WorkflowInstance
from durable.run import executor
from durable.worker.loop import TimerLoop
from tests import wakeup_workflows as ww
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def waiting(key: str) -> str:
    handle = durable.start(ww.woken, key, instance_id=key)
    executor.run_due(max_seconds=2, only=key)
    assert handle.status == Status.WAITING_FOR_EVENT
    return key


def send(key: str) -> None:
    durable.send_event(ww.EVENT_TYPE, ww.EVENT_SOURCE, {"key": key}, id=f"{key}-go")


def listening_loop() -> TimerLoop:
    loop = TimerLoop()
    loop.listener = loop.open_listener()
    assert loop.listener is not None, "a wake-up channel on this database"
    return loop


def hear(loop: TimerLoop, instance_id: str, seconds: float = 2.0) -> None:
    """Let the loop wait (and hear what it hears) until the runner has run `instance_id` or time is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        loop.sleep(0.05)
        if WorkflowInstance.objects.get(id=instance_id).status == Status.COMPLETED:
            return


def rows(key: str) -> int:
    return Ledger.objects.filter(step=f"{key}:woken").count()


def test_loop__an_idle_runner_runs_the_instance_an_event_woke_without_any_worker():
    loop = listening_loop()
    try:
        key = waiting("runner-takes")
        send(key)
        hear(loop, key)
    finally:
        loop.close()
    # No django-q2 worker runs in this test: only the loop's runner can have run it.
    assert durable.get_handle(key).status == Status.COMPLETED
    assert rows(key) == 1


def test_loop__a_busy_runner_leaves_the_instance_to_the_workers(monkeypatch):
    loop = listening_loop()
    monkeypatch.setattr(type(loop.runner), "idle", property(lambda self: False))
    try:
        key = waiting("runner-busy")
        send(key)
        hear(loop, key, seconds=0.5)
    finally:
        loop.close()
    instance = WorkflowInstance.objects.get(id=key)
    assert instance.status == Status.WAITING_FOR_EVENT and instance.run_after is not None, "due, for a worker"
    executor.run_due(max_seconds=2, only=key)
    assert durable.get_handle(key).status == Status.COMPLETED and rows(key) == 1


def test_loop__a_failing_claim_is_logged_and_the_workers_run_the_instance(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise DatabaseError("connection reset")

    loop = listening_loop()
    try:
        key = waiting("runner-fails")
        monkeypatch.setattr(leases, "claim_one", broken)
        send(key)
        hear(loop, key, seconds=0.5)
    finally:
        loop.close()
    assert "a worker runs it" in caplog.text
    monkeypatch.undo()
    executor.run_due(max_seconds=2, only=key)
    assert durable.get_handle(key).status == Status.COMPLETED and rows(key) == 1


def test_loop__two_loops_hear_the_same_event_and_it_runs_once():
    first, second = listening_loop(), listening_loop()
    try:
        keys = [waiting(f"runner-race-{i}") for i in range(3)]
        for key in keys:
            send(key)
            # Both hear it; whichever claims first runs it, the other finds it leased or done.
            second.sleep(0.02)
            hear(first, key)
        for key in keys:
            hear(second, key, seconds=0.2)
    finally:
        first.close()
        second.close()
    assert [durable.get_handle(k).status for k in keys] == [Status.COMPLETED] * 3
    assert [rows(k) for k in keys] == [1, 1, 1]


def sleeping(instance_id: str, seconds: float) -> dt.datetime:
    durable.start(ww.punctual, seconds, instance_id=instance_id)
    executor.run_due(max_seconds=2, only=instance_id)
    due = Timer.objects.get(instance_id=instance_id).due_at
    return due


def test_loop__timers_read_ahead_fire_at_their_due_time_never_before():
    due = sleeping("ahead-direct", 0.3)
    while (due - db.now()).total_seconds() > 0.02:
        time.sleep(0.005)
    fired = timers.fire_and_take(at=due).fired
    if connection.vendor == "postgresql":
        # Read and locked 20 ms early, fired once the due time came.
        assert fired == 1 and db.now() >= due
        step = HistoryStep.objects.get(instance_id="ahead-direct", kind="sleep")
        assert step.recorded_at >= due
    else:
        assert fired == 0, "SQLite holds its one writer for no more than a few milliseconds"

    keys = [f"ahead-loop-{i}" for i in range(5)]
    for i, key in enumerate(keys):
        sleeping(key, 0.2 + i * 0.05)
    loop = listening_loop()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(durable.get_handle(k).status == Status.COMPLETED for k in keys):
            loop.sleep(loop.tick())
            executor.run_due(max_seconds=1)  # those the busy runner left to the workers
    finally:
        loop.close()
    for key in keys:
        result = durable.get_handle(key).result()
        assert result["resumed_at"] >= result["due_at"], f"{key} resumed before its due time"


def test_loop__a_firing_held_a_few_milliseconds_commits_at_the_due_time_on_both_databases():
    due = sleeping("ahead-near", 0.3)
    while (due - db.now()).total_seconds() > timers.SQLITE_HOLD_SECONDS * 0.6:
        time.sleep(0.0005)
    firing = timers.fire_and_take(at=due)
    assert firing.fired == 1 and db.now() >= due
    assert firing.slack is not None and firing.slack <= timers.SQLITE_HOLD_SECONDS
    assert HistoryStep.objects.get(instance_id="ahead-near", kind="sleep").recorded_at >= due


def test_loop__the_instance_a_timer_woke_is_claimed_with_its_history_and_runs_without_reloading_it():
    due = sleeping("preloaded", 0.05)
    while db.now() < due:
        time.sleep(0.005)
    owner = executor.owner_id()
    firing = timers.fire_and_take(owner=owner)
    assert firing.fired == 1 and firing.taken is not None
    steps, _ = firing.taken["history"]
    assert [s.kind for s in steps][-1] == "sleep", "loaded after the firing recorded the sleep"
    with CaptureQueriesContext(connection) as queries:
        executor.run_claimed(firing.taken, owner)
    history_reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "durable_history" in q["sql"]]
    assert history_reads == []
    result = durable.get_handle("preloaded").result()
    assert result["resumed_at"] >= result["due_at"]


@pytest.mark.parametrize("vendor_most", ["postgresql", "sqlite"])
def test_loop__the_lead_grows_by_what_a_firing_came_late_and_shrinks_slowly_within_its_bounds(monkeypatch, vendor_most):
    from durable.worker import loop as loop_module

    monkeypatch.setattr(db, "is_postgres", lambda: vendor_most == "postgresql")
    most = loop_module.MAX_LEAD_SECONDS if vendor_most == "postgresql" else timers.SQLITE_HOLD_SECONDS
    loop = TimerLoop(run_woken=False)
    assert loop.lead == loop_module.LEAD_SECONDS
    loop.learn(None)  # nothing waited: nothing learnt
    assert loop.lead == loop_module.LEAD_SECONDS
    loop.learn(-0.0015)  # done 1.5 ms after the due time: start that much (and the spare) earlier
    assert loop.lead == pytest.approx(min(most, loop_module.LEAD_SECONDS + 0.0015 + loop_module.SPARE_SECONDS))
    loop.learn(-1.0)
    assert loop.lead == most
    before = loop.lead
    loop.learn(0.0025)  # 2.5 ms to spare: a quarter of the surplus comes off
    assert loop.lead == pytest.approx(max(loop_module.LEAD_SECONDS, before - 0.0005))
    for _ in range(200):
        loop.learn(0.01)
    assert loop.lead == loop_module.LEAD_SECONDS
