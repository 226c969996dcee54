"""Queues: with many instances pending behind a full queue, another queue's throughput and the event
round trip; and throughput in a queue with limits (that never bind) against the same without.

The line is bulk-created as durable.start leaves it (durable/queues.py): one instance holding the
only slot of "bench_full" (sleeping for weeks), and the others `pending` in line behind it
(queue_state "waiting", run_after NULL, their `waiting_for` saying so). They are not in the
runnable index, so the claim never reads them; the figures show whether anything else does.
"""

from __future__ import annotations

import datetime as dt
import time

import durable
from durable import db, queues
from durable.engine import codec
from durable.engine.types import StepKind, TimerPurpose
from durable.models import Status, Timer, WorkflowInstance
from durable.run.backend import waiting_summary
from project.bench import fixtures, workflows
from project.bench.events import round_trips
from project.bench.harness import PREFIX, Bench

NAME = "queues"
NEEDS_WORKERS = True
FULL, LIMITED = "bench_full", "bench_limited"
FIGURES = {
    "pending": ("", "instances pending behind the full queue"),
    "fixture_s": ("s", "bulk-creating them"),
    "workflows": ("", "workflows of 3 activities per throughput run"),
    "default_per_s": ("/s", "throughput of the default queue beside the line (best of 2, alternated)"),
    "limited_per_s": ("/s", f"throughput of queue {LIMITED} (limits that never bind; best of 2)"),
    "event_p50_ms": ("ms", "event round trip beside the line"),
    "event_p99_ms": ("ms", "event round trip beside the line"),
    "event_max_ms": ("ms", "event round trip beside the line"),
    "position_ms": ("ms", "reading the last one's place in line (the read model)"),
}


def run(bench: Bench) -> dict[str, float]:
    count = bench.options.queue_pending
    bench.workers()
    began = time.monotonic()
    create_line(f"{PREFIX}ql-", count, lambda made: bench.tick(f"creating the line {made}/{count}"))
    made_in = time.monotonic() - began
    fixtures.analyze((WorkflowInstance, Timer))
    bench.say(f"{count} instances pending behind queue {FULL} (created in {made_in:.1f} s)")
    # Alternated, so the machine's drift (load, autovacuum after the bulk insert) falls on both.
    runs: dict[str | None, list[float]] = {None: [], LIMITED: []}
    for order in ((LIMITED, None), (None, LIMITED)):
        for queue in order:
            runs[queue].append(throughput(bench, f"q{len(runs[queue])}{'l' if queue else 'd'}", queue))
    default, limited = max(runs[None]), max(runs[LIMITED])
    events = round_trips(bench, bench.options.scale_events, "q-ev")
    last = f"{PREFIX}ql-{count:07d}"
    read_began = time.perf_counter()
    from durable import inspect

    said = inspect.summary(last).waiting_for
    position_ms = (time.perf_counter() - read_began) * 1000
    bench.say(f"the last in line: {said}")
    return {
        "pending": count,
        "fixture_s": round(made_in, 2),
        "workflows": bench.options.workflows,
        "default_per_s": default,
        "limited_per_s": limited,
        **{f"event_{k}": v for k, v in events.items() if k in ("p50_ms", "p99_ms", "max_ms")},
        "position_ms": round(position_ms, 2),
    }


def throughput(bench: Bench, tag: str, queue: str | None) -> float:
    """Workflows of three activities per second, first start to last completion, in `queue`."""
    count = bench.options.workflows
    ids = bench.ids(tag, count)
    prefix = ids[0].rsplit("-", 1)[0] + "-"
    began = time.time()
    for i, instance_id in enumerate(ids):
        durable.start(workflows.three_activities, i, instance_id=instance_id, queue=queue)
        if i % 20 == 0:
            bench.tick(f"starting {i}/{count} in {queue or 'default'}")
    bench.wait_for(prefix, count, Status.COMPLETED, f"running in {queue or 'default'}")
    return round(count / (bench.last_finished(prefix) - began), 1)


def create_line(prefix: str, count: int, progress) -> None:
    """The slot holder (asleep for weeks) and `count` instances in line behind it, in bulk."""
    moment = db.now()
    due = moment + fixtures.FAR
    holder = f"{prefix}holder"
    with db.atomic():
        WorkflowInstance.objects.create(
            id=holder,
            workflow_name=workflows.far_sleep.name,
            status=Status.WAITING_FOR_TIMER,
            input=codec.encode({"args": [fixtures.FAR.total_seconds()], "kwargs": {}}),
            waiting_for=waiting_summary("timer", name=StepKind.SLEEP, due_at=due),
            queue=FULL,
            queue_state=queues.ADMITTED,
            admitted_at=moment,
            created_at=moment,
            updated_at=moment,
        )
        Timer.objects.create(
            instance_id=holder, position=0, purpose=TimerPurpose.SLEEP, name=StepKind.SLEEP, due_at=due
        )
    made = 0
    for start in range(1, count + 1, fixtures.BATCH):
        numbers = range(start, min(start + fixtures.BATCH, count + 1))
        rows = [
            WorkflowInstance(
                id=f"{prefix}{n:07d}",
                workflow_name=workflows.three_activities.name,
                status=Status.PENDING,
                input=codec.encode({"args": [n], "kwargs": {}}),
                waiting_for=queues.in_line(FULL, 0),
                run_after=None,
                queue=FULL,
                queue_state=queues.WAITING,
                created_at=moment + dt.timedelta(microseconds=n),
                updated_at=moment,
            )
            for n in numbers
        ]
        with db.atomic():
            WorkflowInstance.objects.bulk_create(rows)
        made += len(rows)
        progress(made)
