"""The timer loop's runner: two runs at once on its threads, so one busy run does not send the
next wake-up on a trip through django-q2."""

from __future__ import annotations

import pytest

import durable
from durable import leases
from durable.models import Status
from durable.run import executor
from durable.worker.loop import Runner
from tests import wakeup_workflows as ww
from tests.conftest import wait_for
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def test_runner__two_runs_at_once_and_busy_when_both_threads_are():
    runner = Runner(threads=2)
    owner = executor.owner_id()
    first, second = durable.start(ww.naps, 0.2), durable.start(ww.naps, 0.2)
    try:
        assert runner.idle
        runner.start(leases.claim_one(first.instance_id, owner, 30), owner)
        assert runner.idle, "one thread is still free"
        runner.start(leases.claim_one(second.instance_id, owner, 30), owner)
        assert not runner.idle, "both threads are busy: the loop sends the next one to the cluster"
        for handle in (first, second):
            wait_for(lambda h=handle: h.status == Status.COMPLETED, timeout=30, what=f"{handle.instance_id} to end")
        wait_for(lambda: runner.idle, timeout=5, what="the runner to be idle again")
    finally:
        runner.finish(5)
    rows = list(Ledger.objects.order_by("finished").values_list("instance_id", flat=True))
    assert sorted(rows) == sorted([first.instance_id] * 3 + [second.instance_id] * 3), "each nap ran once"
    # Run one after the other, all of one instance's naps would come before the other's.
    assert rows[:3] != [rows[0]] * 3 or rows[3:] != [rows[3]] * 3, f"the two runs did not overlap: {rows}"


def test_runner__threads_come_from_the_setting(settings):
    settings.DURABLE_RUNNER_THREADS = 3
    assert Runner().threads == 3
    settings.DURABLE_RUNNER_THREADS = 1
    assert Runner().threads == 1
