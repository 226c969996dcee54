"""Database faults at every statement of a run: no instance fails, takes a wrong branch, sticks or repeats.

The sweep runs the representative workflow once to count the statements its run issues, then,
for every statement index k, runs a fresh instance whose k-th statement raises the database's
operational error, and lets the system recover as a worker would (the failed run is retried
after its backoff, the timer loop retries its pass, the recovery sweep redelivers events).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, OperationalError, connection

import durable
from durable import timers
from durable.models import HistoryStep, Status, WorkflowInstance
from durable.run import executor
from tests import fault_workflows
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)

EXPECTED = {"first": "first", "doubled": 42, "event": None, "timed_out": True, "last": "last"}
ENDED = {Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.PAUSED}


class Injector:
    """An execute wrapper that counts the statements of the armed sections and fails the k-th."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.count = 0
        self.armed = False
        self.fired: str | None = None

    def __call__(self, execute: Callable, sql: str, params, many: bool, context) -> object:
        if self.armed:
            index = self.count
            self.count += 1
            if index == self.fail_at:
                self.fired = sql
                raise OperationalError(f"injected fault at statement {index}")
        return execute(sql, params, many, context)

    @contextmanager
    def section(self):
        self.armed = True
        try:
            yield
        finally:
            self.armed = False


def settle(instance_id: str, injector: Injector, timeout: float = 30.0) -> str:
    """Work as durable_worker does until the instance ends: drain, timer loop, recovery sweep."""
    deadline = time.monotonic() + timeout
    while True:
        with injector.section():
            executor.run_due(max_seconds=2)
            for sweep in (timers.fire_due, timers.recover):
                try:
                    sweep()
                except DatabaseError:
                    pass  # the timer loop logs it and tries again on its next pass
        status = WorkflowInstance.objects.filter(id=instance_id).values_list("status", flat=True).get()
        if status in ENDED:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"{instance_id} still {status} after {timeout} s (fault at {injector.fail_at})")
        time.sleep(0.01)


def run_tour(instance_id: str, injector: Injector) -> str:
    durable.start(fault_workflows.fault_tour, instance_id, instance_id=instance_id)
    with connection.execute_wrapper(injector):
        return settle(instance_id, injector)


@pytest.fixture
def fast_recovery(settings, monkeypatch):
    settings.DURABLE_FAILED_RUN_BACKOFF = 0.01
    settings.DURABLE_FAILED_RUN_MAX_BACKOFF = 0.05
    settings.DURABLE_LEASE_SECONDS = 0.5
    settings.DURABLE_PAUSE_AFTER_FAILED_RUNS = 10
    # Re-deliver stored events as soon as the sweep looks (a dead process's leftovers).
    monkeypatch.setattr(timers, "RECOVERY_GRACE", dt.timedelta(0))


def check(instance_id: str, fault: str) -> None:
    row = WorkflowInstance.objects.get(id=instance_id)
    assert row.status == Status.COMPLETED, f"{fault}: {row.status} {row.status_reason} {row.error}"
    assert durable.get_handle(instance_id).result() == {**EXPECTED, "event": instance_id}, fault
    assert row.lease_owner is None, fault
    writes = sorted(Ledger.objects.filter(instance_id=instance_id).values_list("step", flat=True))
    assert writes == ["first", "last"], f"{fault}: transactional writes {writes}"
    positions = list(
        HistoryStep.objects.filter(instance_id=instance_id).order_by("position").values_list("position", flat=True)
    )
    assert positions == list(range(len(positions))), f"{fault}: history gap {positions}"


def test_fault_sweep__every_statement_of_a_run(fast_recovery, capsys):
    clean = Injector()
    assert run_tour("tour-clean", clean) == Status.COMPLETED
    check("tour-clean", "no fault")
    statements = clean.count
    assert statements > 20, "the tour is representative only if its run issues many statements"
    missed = []
    for k in range(statements):
        injector = Injector(fail_at=k)
        instance_id = f"tour-{k}"
        run_tour(instance_id, injector)
        if injector.fired is None:
            missed.append(k)
        check(instance_id, f"fault at statement {k} ({(injector.fired or '')[:60]})")
    assert timers.recover().failed == 0
    assert not WorkflowInstance.objects.filter(status=Status.RUNNING).exists()
    with capsys.disabled():
        print(
            f"\nfault sweep ({connection.vendor}): {statements - len(missed)} of {statements} statement indexes "
            "failed once, each in a fresh run; every instance completed, each effect once"
        )
    # A few indexes can go unreached: whether a timer is due yet on a given pass depends on the
    # clock, so a recovered run's statements need not line up with the clean run's to the end.
    assert len(missed) <= max(10, statements // 10), missed


def test_fault_sweep__every_statement_of_a_saga_unwinding(fast_recovery, capsys):
    """Three armed compensations and a failure: a fault at any statement still ends the instance
    failed and compensated, each compensation's write made exactly once, newest first."""
    from tests import saga_workflows as sw

    def unwind(instance_id: str, injector: Injector) -> str:
        durable.start(sw.three_then_fail, instance_id=instance_id)
        with connection.execute_wrapper(injector):
            return settle(instance_id, injector)

    clean = Injector()
    assert unwind("saga-clean", clean) == Status.FAILED
    statements = clean.count
    missed = 0
    for k in range(statements):
        instance_id = f"saga-{k}"
        injector = Injector(fail_at=k)
        unwind(instance_id, injector)
        missed += injector.fired is None
        row = WorkflowInstance.objects.get(id=instance_id)
        fault = f"fault at statement {k}"
        assert (row.status, row.compensated) == (Status.FAILED, True), f"{fault}: {row.status} {row.status_reason}"
        assert sw.ledger(instance_id) == sw.EXPECTED["saga.three_then_fail"], fault
    with capsys.disabled():
        print(
            f"\nsaga fault sweep ({connection.vendor}): {statements - missed} of {statements} statements failed once, "
            "each in a fresh run; every instance failed compensated, each compensation once"
        )
    assert missed <= max(3, statements // 10), f"{missed} of {statements} faults never fired"


def test_fault_sweep__the_receiver_stores_all_or_nothing(fast_recovery, settings, capsys):
    """A fault at any statement of a POSTed event: a retryable 503 and nothing stored, or a 202;
    the sender's retry then delivers it, and the waiting instance takes it exactly once."""
    import json

    from rest_framework.test import APIClient

    from durable.models import Event
    from tests import event_workflows as ew

    settings.DURABLE_EVENT_TOKEN = "sweep-token"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer sweep-token")

    def post(key: str, event_id: str):
        body = {
            "specversion": "1.0",
            "id": event_id,
            "source": "/sweep",
            "type": "thing.happened",
            "data": {"key": key},
        }
        return api.generic("POST", "/durable/", json.dumps(body).encode(), content_type="application/cloudevents+json")

    def waiting(key: str) -> str:
        handle = durable.start(ew.waits_once, key, instance_id=key)
        settle_until_waiting(key)
        return handle.instance_id

    def settle_until_waiting(key: str) -> None:
        deadline = time.monotonic() + 10
        while WorkflowInstance.objects.get(id=key).status != Status.WAITING_FOR_EVENT:
            executor.run_due(max_seconds=1)
            assert time.monotonic() < deadline

    clean = Injector()
    waiting("r-clean")
    with connection.execute_wrapper(clean), clean.section():
        assert post("r-clean", "e-clean").status_code == 202
    statements, refused = clean.count, 0
    for k in range(statements):
        key = f"r-{k}"
        waiting(key)
        injector = Injector(fail_at=k)
        with connection.execute_wrapper(injector), injector.section():
            response = post(key, f"e-{k}")
        if response.status_code != 202:
            refused += 1
            assert response.status_code == 503 and response.json()["retryable"] is True, response.content
            assert not Event.objects.filter(event_id=f"e-{k}").exists(), f"fault at {k}: stored though refused"
            assert post(key, f"e-{k}").status_code == 202
        assert Event.objects.filter(event_id=f"e-{k}").count() == 1
        assert settle(key, Injector()) == Status.COMPLETED
        assert durable.get_handle(key).result() == {"outcome": "event", "id": f"e-{k}"}, f"fault at {k}"
    with capsys.disabled():
        print(f"\nreceiver fault sweep ({connection.vendor}): {statements} statements, {refused} refused with 503")
    assert refused > 0


def test_fault_sweep__the_timer_loop_fires_each_timer_once(fast_recovery, capsys):
    from durable.worker.loop import TimerLoop
    from tests import workflows

    def sleeping(instance_id: str) -> None:
        durable.start(workflows.sleeper, 0.05, instance_id=instance_id)
        executor.run_due(max_seconds=1)
        time.sleep(0.06)

    clean = Injector()
    sleeping("t-clean")
    loop = TimerLoop()
    with connection.execute_wrapper(clean), clean.section():
        loop.tick()
    loop.close()  # the loop runs the woken instance on a thread of its own: let it finish
    statements = clean.count
    for k in range(statements):
        instance_id = f"t-{k}"
        sleeping(instance_id)
        injector = Injector(fail_at=k)
        loop = TimerLoop()
        with connection.execute_wrapper(injector), injector.section():
            for _ in range(3):  # the loop's next passes after the one that failed
                try:
                    loop.tick()
                except DatabaseError:
                    pass
        loop.close()
        assert settle(instance_id, Injector()) == Status.COMPLETED
        sleeps = HistoryStep.objects.filter(instance_id=instance_id, kind="sleep").count()
        assert sleeps == 1, f"fault at {k}: {sleeps} sleeps recorded"
    with capsys.disabled():
        print(f"\ntimer loop fault sweep ({connection.vendor}): {statements} statements of a firing pass")
