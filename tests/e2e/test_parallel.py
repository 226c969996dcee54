"""Parallel steps and first of several through real durable_worker subprocesses (several django-q2
workers): activities that overlap in time, a failure raised once all ended, a worker SIGKILLed
while ten transactional steps run, and first(event, timer) decided once, even when both come at
the same moment under load."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

import pytest
from django.db import connections

import durable
from durable import db
from durable.models import Delivery, HistoryStep, Status, Timer, Wait, WorkflowInstance
from tests import parallel_workflows as pw
from tests.conftest import wait_for
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

WORKERS = "5"
TIMER = 8.0


def spans(instance_id: str, prefix: str) -> list[tuple[float, float]]:
    rows = Ledger.objects.filter(instance_id=instance_id, step__startswith=prefix).order_by("started")
    return list(rows.values_list("started", "finished"))


def test_gather__five_one_second_activities_run_side_by_side_results_in_order(worker_factory):
    worker_factory(DURABLE_Q_WORKERS=WORKERS)
    began = time.monotonic()
    handle = durable.start(pw.naps, 5, 1.0)
    assert handle.result(timeout=60) == [f"nap:{i}" for i in range(5)]
    took = time.monotonic() - began
    times = spans(handle.instance_id, "nap:")
    assert len(times) == 5
    # Overlapping: at the busiest moment several naps were running at once.
    peak = max(sum(1 for s, e in times if s <= start < e) for start, _ in times)
    assert peak >= 2, f"the naps ran one after another: {times}"
    pids = set(Ledger.objects.filter(instance_id=handle.instance_id).values_list("pid", flat=True))
    wall = max(e for _, e in times) - min(s for s, _ in times)
    print(
        f"\n[report] gather of 5 x 1 s activities: {wall:.2f} s from first start to last end, "
        f"{took:.2f} s start to result, up to {peak} at once, on {len(pids)} worker process(es) "
        f"({WORKERS} q2 workers)"
    )


def test_gather__one_failing_raises_activity_error_after_all_have_ended(worker_factory):
    worker_factory(DURABLE_Q_WORKERS=WORKERS)
    handle = durable.start(pw.one_fails, 0.5)
    result = handle.result(timeout=60)
    assert result["failed"] == "par.broken" and result["attempts"] == pw.QUICK.max_attempts
    raised_at = dt.datetime.fromisoformat(result["at"]).timestamp()
    ends = [e for _, e in spans(handle.instance_id, "nap:")]
    assert len(ends) == 2 and all(end <= raised_at for end in ends), "the error came before every step ended"
    steps = HistoryStep.objects.filter(instance_id=handle.instance_id, kind="parallel").order_by("position")
    assert list(steps.values_list("status", flat=True)) == ["completed", "failed", "completed"]


def test_sigkill__ten_transactional_steps_each_run_exactly_once_and_the_parent_completes(worker_factory, tmp_path):
    marker = tmp_path / "attempts.txt"
    first = worker_factory(DURABLE_Q_WORKERS=WORKERS, DURABLE_LEASE_SECONDS="2")
    handle = durable.start(pw.bookings, 10, 1.0, str(marker))
    wait_for(lambda: len(pw.marker_lines(str(marker))) >= 4, timeout=60, what="some transactional steps to be running")
    first.kill()
    killed_with = HistoryStep.objects.filter(instance_id=handle.instance_id, status="completed").count()
    worker_factory(DURABLE_Q_WORKERS=WORKERS, DURABLE_LEASE_SECONDS="2")
    assert handle.result(timeout=120) == sum(i * 10 for i in range(10))
    rows = Counter(Ledger.objects.filter(instance_id=handle.instance_id).values_list("step", flat=True))
    assert rows == {f"book:{i}": 1 for i in range(10)}, "each transactional step's writes exist exactly once"
    attempts = Counter(line.split()[0] for line in pw.marker_lines(str(marker)))
    lost = HistoryStep.objects.filter(instance_id=handle.instance_id, kind="parallel")
    worker_lost = sum(1 for f in lost.values_list("failures", flat=True) for e in f if e["type"] == "WorkerLost")
    print(
        f"\n[report] SIGKILL during 10 transactional parallel steps: {killed_with} had completed, "
        f"{sum(attempts.values()) - 10} attempt(s) rolled back and run again ({worker_lost} counted as WorkerLost); "
        "10 ledger rows, one per step"
    )


def _decided(instance_id: str) -> None:
    decisions = HistoryStep.objects.filter(instance_id=instance_id, kind="first")
    assert decisions.count() == 1
    assert not Wait.objects.filter(instance_id=instance_id).exists(), "a stray wait"
    assert not Timer.objects.filter(instance_id=instance_id).exists(), "a stray timer"


def test_first__the_event_first_and_the_timer_first(worker_factory):
    worker_factory(DURABLE_Q_WORKERS=WORKERS)
    event_first = durable.start(pw.approval, "e2e-event", 60)
    timer_first = durable.start(pw.approval, "e2e-timer", 0.5)
    wait_for(lambda: event_first.status == Status.WAITING_FOR_EVENT, timeout=30, what="the first to wait")
    durable.send_event("approval.decision", "/approvals", {"request_id": "e2e-event", "approved": True})
    assert event_first.result(timeout=30) == {"outcome": "decided", "approved": True}
    assert timer_first.result(timeout=30) == {"outcome": "reminded"}
    for handle in (event_first, timer_first):
        _decided(handle.instance_id)


def test_first__event_and_timer_at_the_same_moment_under_load_exactly_one_outcome(worker_factory):
    worker_factory(DURABLE_Q_WORKERS=WORKERS)
    count = 40
    # A timer long enough that all of them wait before the first is due, even on a busy machine.
    handles = [durable.start(pw.approval, f"race-{i}", TIMER) for i in range(count)]
    ids = [h.instance_id for h in handles]
    wait_for(lambda: Timer.objects.filter(instance_id__in=ids).count() == count, timeout=60, what="every first to wait")
    due = {t.instance_id: t.due_at for t in Timer.objects.filter(instance_id__in=[h.instance_id for h in handles])}

    def send(handle: durable.WorkflowHandle, index: int) -> None:
        # Each event lands at its instance's timer's due moment, while the timer fires.
        try:
            pause = (due[handle.instance_id] - db.now()).total_seconds()
            time.sleep(max(pause, 0))
            durable.send_event("approval.decision", "/approvals", {"request_id": f"race-{index}", "approved": True})
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(h, i)) for i, h in enumerate(handles)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = Counter()
    for handle in handles:
        result = handle.result(timeout=60)
        outcomes[result["outcome"]] += 1
        _decided(handle.instance_id)
        index = HistoryStep.objects.get(instance_id=handle.instance_id, kind="first").result["index"]
        delivered = Delivery.objects.filter(instance_id=handle.instance_id).exists()
        # The recorded winner is the outcome the workflow saw, and an event was taken only when it won.
        assert (index == 0) == (result["outcome"] == "decided") == delivered
    assert WorkflowInstance.objects.filter(id__in=[h.instance_id for h in handles], status="completed").count() == count
    print(
        f"\n[report] first(event, {TIMER:g} s timer) x {count}, the event sent at the timer's due moment: "
        f"{outcomes['decided']} decided by the event, {outcomes['reminded']} by the timer; one outcome each, "
        "no stray wait or timer"
    )
