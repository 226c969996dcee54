"""Replay: how long resuming an instance with a long recorded history takes, timed in this process.

Each repeat makes a fresh instance, runs it here until it has recorded `replay_steps` steps and
sleeps, fires its timer through the real timer code, then times one resume: the claim, loading
the history (one query), replaying every step, and recording the completion. The workers are
stopped meanwhile so nobody else claims the instance; no wake-up task is enqueued for it.
"""

from __future__ import annotations

import contextlib
import statistics
import time

from django.test.utils import override_settings

from durable import db, journal, leases, timers, transitions
from durable.engine import codec
from durable.models import Status, Timer, WorkflowInstance
from durable.run import executor
from project.bench import workflows
from project.bench.harness import Bench, BenchError

NAME = "replay"
NEEDS_WORKERS = False
FIGURES = {
    "steps": ("", "recorded steps replayed"),
    "resume_ms": ("ms", "median: claim, load, replay, complete"),
    "resume_min_ms": ("ms", "fastest resume"),
    "resume_max_ms": ("ms", "slowest resume"),
    "load_history_ms": ("ms", "median: loading the history alone"),
    "record_ms": ("ms", "median: the first run, recording the steps"),
}


def run(bench: Bench) -> dict[str, float]:
    steps, repeats = bench.options.replay_steps, bench.options.replay_repeats
    resume, load, record = [], [], []
    with no_wakeups(), override_settings(DEBUG=False):
        for index, instance_id in enumerate(bench.ids("rp", repeats)):
            bench.tick(f"resume {index + 1}/{repeats}")
            record.append(timed(lambda i=instance_id: first_run(i, steps)))
            wake(instance_id)
            resume.append(timed(lambda i=instance_id: run_once(i)))
            row = WorkflowInstance.objects.values("status", "result").get(id=instance_id)
            if row["status"] != Status.COMPLETED or codec.decode(row["result"]) != steps:
                raise BenchError(f"the replayed instance {instance_id} ended {row['status']} with {row['result']!r}")
            load.append(timed(lambda i=instance_id: journal.load_history(i)))
    return {
        "steps": steps,
        "resume_ms": round(statistics.median(resume), 1),
        "resume_min_ms": round(min(resume), 1),
        "resume_max_ms": round(max(resume), 1),
        "load_history_ms": round(statistics.median(load), 1),
        "record_ms": round(statistics.median(record), 1),
    }


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return (time.perf_counter() - began) * 1000


def first_run(instance_id: str, steps: int) -> None:
    inputs = codec.encode({"args": [steps], "kwargs": {}})
    transitions.start(instance_id, workflows.replay.name, inputs, db.now())
    run_once(instance_id)
    if not Timer.objects.filter(instance_id=instance_id).exists():
        raise BenchError(f"the replay instance {instance_id} did not reach its sleep")


def wake(instance_id: str) -> None:
    """Make the sleep due now and fire it as the timer loop would."""
    Timer.objects.filter(instance_id=instance_id).update(due_at=db.now())
    timers.fire_due()


def run_once(instance_id: str) -> None:
    owner = executor.owner_id()
    rows = leases.claim(owner, 1, 60.0, only=instance_id)
    if not rows:
        raise BenchError(f"could not claim the replay instance {instance_id}")
    executor.run_claimed(rows[0], owner)


@contextlib.contextmanager
def no_wakeups():
    """Run instances here without asking workers to: the benchmark runs them itself."""
    from durable.worker import wakeup

    db.set_waker(None)
    try:
        yield
    finally:
        db.set_waker(wakeup.request)
