"""Flow control through real durable_worker processes (SPEC 14): limits hold across workers.

On PostgreSQL two worker processes share the queue; in-progress counts are sampled while they
run, and checked again afterwards from the start and end times the activities recorded.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

import durable
from durable.models import TERMINAL, Status, WorkflowInstance
from tests import queue_workflows as qw
from tests.conftest import is_postgres, wait_for
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

STARTED = (Status.RUNNING, Status.WAITING_FOR_EVENT, Status.WAITING_FOR_TIMER, Status.COMPENSATING)


@pytest.fixture
def workers(worker_factory):
    """Two worker processes on PostgreSQL, one on SQLite."""
    return [worker_factory() for _ in range(2 if is_postgres() else 1)]


class Sampler:
    """Counts, every few milliseconds on a thread of its own, the instances of a workflow in progress."""

    def __init__(self, workflow_name: str, *, per_key: bool = False) -> None:
        self.workflow_name, self.per_key = workflow_name, per_key
        self.samples: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                rows = WorkflowInstance.objects.filter(workflow_name=self.workflow_name, status__in=STARTED)
                if self.per_key:
                    keys = list(rows.values_list("business_key", flat=True))
                    self.samples.append(max((keys.count(k) for k in set(keys)), default=0))
                else:
                    self.samples.append(rows.count())
                time.sleep(0.005)
        finally:
            connections.close_all()

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def ended(handles) -> bool:
    ids = [h.instance_id for h in handles]
    return not WorkflowInstance.objects.filter(id__in=ids).exclude(status__in=TERMINAL).exists()


def most_overlapping(ids) -> int:
    """The most instances in progress at one moment, from each one's first step start to last step end."""
    edges = []
    for instance_id in ids:
        rows = list(Ledger.objects.filter(instance_id=instance_id).values_list("started", "finished"))
        edges += [(min(r[0] for r in rows), 1), (max(r[1] for r in rows), -1)]
    most = now = 0
    for _, delta in sorted(edges):
        now += delta
        most = max(most, now)
    return most


def test_queues__concurrency_two_holds_across_workers(workers):
    started = time.monotonic()
    with Sampler(qw.two_at_once.name) as sampler:
        handles = [durable.start(qw.two_at_once, 0.3) for _ in range(20)]
        wait_for(lambda: ended(handles), timeout=120, interval=0.1, what="20 instances of q_two")
    elapsed = time.monotonic() - started
    pids = set(Ledger.objects.values_list("pid", flat=True))
    print(
        f"\n[report] concurrency=2, 20 starts, {len(workers)} worker processes ({len(pids)} ran steps): "
        f"{len(sampler.samples)} samples, most in progress {max(sampler.samples)}, done in {elapsed:.1f} s"
    )
    assert max(sampler.samples) <= 2
    assert {h.status for h in handles} == {Status.COMPLETED}
    assert most_overlapping([h.instance_id for h in handles]) == 2
    assert Ledger.objects.count() == 40, "each step once"


def test_queues__per_key_one_holds_across_workers(workers):
    with Sampler(qw.one_per_key.name, per_key=True) as sampler:
        handles = [durable.start(qw.one_per_key, 0.2, business_key=f"c{k}") for _ in range(5) for k in range(3)]
        wait_for(lambda: ended(handles), timeout=120, interval=0.1, what="15 keyed instances")
    print(f"\n[report] per_key=1, 3 keys x 5: {len(sampler.samples)} samples, most of one key {max(sampler.samples)}")
    assert max(sampler.samples) <= 1
    assert {h.status for h in handles} == {Status.COMPLETED}
    for k in range(3):
        ids = list(WorkflowInstance.objects.filter(business_key=f"c{k}").values_list("id", flat=True))
        assert most_overlapping(ids) == 1
    # Different keys did run side by side: the limit is per key, not per queue.
    assert most_overlapping([h.instance_id for h in handles]) > 1


def test_queues__rate_five_a_second_across_workers(workers):
    handles = [durable.start(qw.rated) for _ in range(30)]
    wait_for(lambda: ended(handles), timeout=120, interval=0.1, what="30 rated instances")
    assert {h.status for h in handles} == {Status.COMPLETED}
    ids = [h.instance_id for h in handles]
    begun = dict(Ledger.objects.filter(instance_id__in=ids, step="begin").values_list("instance_id", "started"))
    assert len(begun) == 30, "none lost, none twice"
    admitted = dict(WorkflowInstance.objects.filter(id__in=ids).values_list("id", "admitted_at"))
    # The database's start times (admissions) keep the rate exactly: any six span a second...
    times = sorted(admitted.values())
    narrowest = min((times[i + 5] - times[i]).total_seconds() for i in range(25))
    assert narrowest >= 0.99
    # ...and no first step ran before its instance's admission, so none ran ahead of the rate.
    lags = [begun[i] - admitted[i].timestamp() for i in ids]
    assert min(lags) >= -0.01
    print(
        f"\n[report] rate 5/s, 30 starts: narrowest six admissions {narrowest:.3f} s, all in "
        f"{(times[-1] - times[0]).total_seconds():.2f} s; first step after admission: "
        f"median {sorted(lags)[15] * 1000:.0f} ms, most {max(lags) * 1000:.0f} ms"
    )


def test_queues__priority_jumps_the_line_on_a_real_worker(workers):
    first = durable.start(qw.one_at_a_time, 1.0)
    wait_for(lambda: first.status == Status.WAITING_FOR_TIMER, timeout=30, what="the slot to be taken")
    low = [durable.start(qw.one_at_a_time, 0.0) for _ in range(3)]
    high = durable.start(qw.one_at_a_time, 0.0, priority=50)
    wait_for(lambda: ended([first, *low, high]), timeout=60, what="the line to drain")
    begun = dict(Ledger.objects.filter(step="begin").values_list("instance_id", "started"))
    order = sorted([*low, high], key=lambda h: begun[h.instance_id])
    assert order[0] == high and order[1:] == low


def test_activity_limits__concurrency_one_never_overlaps_across_two_workers(worker_factory):
    count = 2 if is_postgres() else 1
    for _ in range(count):
        worker_factory()
    handles = [durable.start(qw.uses_fragile_service, 0.15) for _ in range(8)]
    wait_for(lambda: ended(handles), timeout=120, interval=0.1, what="8 instances sharing one service slot")
    assert {h.status for h in handles} == {Status.COMPLETED}
    calls = sorted(Ledger.objects.filter(step="service").values_list("started", "finished", "pid"))
    assert len(calls) == 8, "each call once"
    for (_, finished, _), (started, _, _) in zip(calls, calls[1:], strict=False):
        assert finished <= started, "two executions of the activity overlapped"
    pids = {pid for _, _, pid in calls}
    print(f"\n[report] activity concurrency=1, 8 calls, {count} worker(s): ran in {len(pids)} processes, no overlap")
