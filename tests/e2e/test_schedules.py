"""Schedules through real durable_worker processes: slots fired on time, never twice by two workers, and
caught up after downtime by each catchup rule."""

from __future__ import annotations

import datetime as dt
import statistics
import time

import pytest

from durable import db, schedules
from durable.models import Schedule, Status, WorkflowInstance
from tests.conftest import is_postgres, wait_for
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]
EVERY_SECOND = "* * * * * *"


def _runs(name: str):
    return WorkflowInstance.objects.filter(schedule_name=name).order_by("scheduled_at")


def _lateness_ms(name: str) -> list[float]:
    return [(r.created_at - r.scheduled_at).total_seconds() * 1000 for r in _runs(name)]


def test_schedule__fires_each_slot_on_time_while_a_real_worker_runs(worker):
    schedules.create("every-second", "scheduled_report", cron=EVERY_SECOND, overlap="allow")
    wait_for(lambda: _runs("every-second").filter(status=Status.COMPLETED).count() >= 5, timeout=30, what="5 runs")
    schedules.pause("every-second")
    runs = list(_runs("every-second"))
    late = _lateness_ms("every-second")
    print(f"\nlateness of {len(late)} firings (ms): {[round(x, 1) for x in late]}")
    print(f"p50 {statistics.median(late):.1f} ms, max {max(late):.1f} ms")
    # Consecutive seconds, each its own instance "<name>@<slot>", each run with its slot as ctx.scheduled_at.
    for before, after in zip(runs, runs[1:], strict=False):
        assert after.scheduled_at - before.scheduled_at == dt.timedelta(seconds=1)
    for run in runs:
        assert run.id == f"every-second@{run.scheduled_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        assert run.created_at >= run.scheduled_at
    done = [r for r in runs if r.status == Status.COMPLETED]
    assert {r.result for r in done} == {r.scheduled_at.isoformat() for r in done}


def test_schedule__two_workers_never_start_or_run_a_slot_twice(worker_factory):
    if not is_postgres():
        pytest.skip("two workers against one database: PostgreSQL (SQLite runs one writer at a time anyway)")
    worker_factory()
    worker_factory()
    schedules.create("race", "scheduled_report", cron=EVERY_SECOND, overlap="allow")
    wait_for(lambda: _runs("race").filter(status=Status.COMPLETED).count() >= 8, timeout=40, what="8 runs")
    schedules.pause("race")
    wait_for(lambda: not _runs("race").exclude(status=Status.COMPLETED).exists(), timeout=30, what="runs to end")
    runs = list(_runs("race"))
    slots = [r.scheduled_at for r in runs]
    assert len(slots) == len(set(slots))
    # Each slot's activity ran exactly once, whichever worker fired and ran it.
    steps = list(Ledger.objects.filter(instance_id__startswith="race@").values_list("instance_id", flat=True))
    assert sorted(steps) == sorted(r.id for r in runs)
    print(f"\ntwo workers: {len(runs)} slots, lateness (ms) {[round(x, 1) for x in _lateness_ms('race')]}")


def test_schedule__a_worker_down_for_three_slots_catches_up_by_rule(worker_factory):
    # Hourly at the minute of half an hour ago; the worker stopped before three of its slots, so
    # the latest missed one is 30 minutes old (late for catchup "none") and the next is to come.
    last = (db.now() - dt.timedelta(minutes=30)).replace(second=0, microsecond=0)
    hourly = f"{last.minute} * * * *"
    for catchup in ("latest", "all", "none"):
        schedules.create(f"down-{catchup}", "scheduled_report", cron=hourly, catchup=catchup, overlap="allow")
    first = last - dt.timedelta(hours=2)
    Schedule.objects.update(next_slot_at=first)
    worker_factory()
    wait_for(lambda: _runs("down-latest").exists() and _runs("down-all").count() == 3, timeout=30, what="catch-up")
    time.sleep(1.0)  # a look or two more: nothing else may start
    assert [r.scheduled_at for r in _runs("down-latest")] == [first + dt.timedelta(hours=2)]
    assert [r.scheduled_at for r in _runs("down-all")] == [first + dt.timedelta(hours=h) for h in range(3)]
    assert not _runs("down-none").exists()
    for catchup in ("latest", "all", "none"):
        assert schedules.get(f"down-{catchup}").next_slot_at == first + dt.timedelta(hours=3)
