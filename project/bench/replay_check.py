"""Replay check: how long `durable_replay` takes over 10,000 completed instances of 3 steps each.

The instances (--replay-check-instances sets how many) and their histories are written directly
(bulk inserts, as the fixtures of the scale scenario are), then the real command replays them all
in this process, in batches, with no worker.
"""

from __future__ import annotations

import datetime as dt
import time
from io import StringIO

from django.core.management import call_command
from django.test.utils import override_settings

from durable.engine import codec
from durable.models import HistoryStep, Status, WorkflowInstance
from project.bench.harness import Bench, BenchError

NAME = "replay_check"
NEEDS_WORKERS = False
STEPS = 3
WORKFLOW = "bench_three_activities"
FIGURES = {
    "instances": ("", "completed instances replayed"),
    "seconds": ("s", "durable_replay over all of them"),
    "per_second": ("/s", "instances replayed per second"),
}


def create(bench: Bench, count: int) -> None:
    moment = dt.datetime.now(dt.UTC)
    ids = bench.ids("rc", count)
    for start in range(0, count, 1000):
        chunk = ids[start : start + 1000]
        WorkflowInstance.objects.bulk_create(
            WorkflowInstance(
                id=pk,
                workflow_name=WORKFLOW,
                status=Status.COMPLETED,
                input=codec.encode({"args": [0], "kwargs": {}}),
                result=STEPS,
                created_at=moment,
                updated_at=moment,
                finished_at=moment,
            )
            for pk in chunk
        )
        HistoryStep.objects.bulk_create(
            HistoryStep(instance_id=pk, position=p, kind="activity", name="bench_step", result=p + 1)
            for pk in chunk
            for p in range(STEPS)
        )
        bench.tick(f"created {start + len(chunk)}/{count}")


def run(bench: Bench) -> dict[str, float]:
    count = bench.options.replay_check_instances
    create(bench, count)
    out, err = StringIO(), StringIO()
    with override_settings(DEBUG=False):
        began = time.perf_counter()
        call_command("durable_replay", "--workflow", WORKFLOW, "--status", "completed", stdout=out, stderr=err)
        seconds = time.perf_counter() - began
    if f"{count} match, 0 mismatched" not in out.getvalue():
        raise BenchError(f"durable_replay did not find {count} matching instances: {out.getvalue()[-500:]}")
    return {"instances": count, "seconds": round(seconds, 2), "per_second": round(count / seconds)}
