"""Schedules: how late a per-second cron fires under a real durable_worker, and what a timer-loop look costs
with 10 schedules against 10,000 (none due), to show the work follows due slots, not schedules."""

from __future__ import annotations

import datetime as dt
import statistics
import time

from django.db import connections
from django.test.utils import CaptureQueriesContext

from durable import db, schedules, slots
from durable.models import Schedule, Status, WorkflowInstance
from project.bench import fixtures, workflows
from project.bench.harness import PREFIX, Bench
from project.bench.stats import percentile

NAME = "schedules"
NEEDS_WORKERS = True
LOOKS = 50
FIGURES = {
    "firings": ("", "slots of a per-second cron fired by the worker's timer loop"),
    "p50_ms": ("ms", "firing lateness: the instance's insert after its slot"),
    "p99_ms": ("ms", "firing lateness, 99th percentile"),
    "look_ms_10": ("ms", "one look for due slots with 10 schedules defined (median)"),
    "look_ms_10000": ("ms", "the same with 10,000 schedules defined"),
    "look_queries_10": ("", "queries of that look, 10 schedules"),
    "look_queries_10000": ("", "queries of that look, 10,000 schedules"),
}


def run(bench: Bench) -> dict[str, float]:
    count = max(3, min(bench.options.timers, 30))
    bench.workers()
    name = f"{PREFIX}every-second-{int(time.time())}"
    try:
        schedules.create(name, workflows.scheduled, cron="* * * * * *", overlap="allow")
        runs = WorkflowInstance.objects.filter(schedule_name=name)
        deadline = time.monotonic() + bench.options.timeout
        while runs.count() < count and time.monotonic() < deadline:
            time.sleep(0.2)
        schedules.pause(name)
        fired = list(runs.order_by("scheduled_at")[:count])
        late = [(r.created_at - r.scheduled_at).total_seconds() * 1000 for r in fired]
        bench.wait_for(name, len(fired), Status.COMPLETED, "the scheduled runs")
        small_ms, small_queries = _look_cost(10)
        large_ms, large_queries = _look_cost(10_000)
    finally:
        Schedule.objects.filter(name__startswith=PREFIX).delete()
    return {
        "firings": len(late),
        "p50_ms": round(statistics.median(late), 1),
        "p99_ms": round(percentile(late, 99), 1),
        "look_ms_10": small_ms,
        "look_ms_10000": large_ms,
        "look_queries_10": small_queries,
        "look_queries_10000": large_queries,
    }


def _look_cost(defined: int) -> tuple[float, int]:
    """The median time and the queries of the loop's look for slots, with `defined` idle schedules."""
    now = db.now()
    later = now + dt.timedelta(days=1)
    Schedule.objects.filter(name__startswith=f"{PREFIX}idle-").delete()
    rows = [
        Schedule(name=f"{PREFIX}idle-{n}", workflow_name=workflows.scheduled.name, cron="0 3 * * *", next_slot_at=later)
        for n in range(defined)
    ]
    Schedule.objects.bulk_create(rows, batch_size=1000)
    # As autovacuum would soon after such an insert: without statistics PostgreSQL's planner
    # reads the whole table instead of the next_slot_at index.
    fixtures.analyze((Schedule,))
    times = []
    with CaptureQueriesContext(connections[db.alias()]) as queries:
        for _ in range(LOOKS):
            began = time.perf_counter()
            slots.look(now)
            times.append((time.perf_counter() - began) * 1000)
    Schedule.objects.filter(name__startswith=f"{PREFIX}idle-").delete()
    return round(statistics.median(times), 3), len(queries.captured_queries) // LOOKS
