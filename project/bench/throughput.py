"""Throughput: N workflows of three activities, from the first start to the last completion."""

from __future__ import annotations

import time

from durable.models import Status
from project.bench import workflows
from project.bench.harness import Bench

NAME = "throughput"
NEEDS_WORKERS = True
FIGURES = {
    "workflows": ("", "workflows started"),
    "workflows_per_s": ("/s", "first start to last completion"),
    "starts_per_s": ("/s", "durable.start calls, one transaction each"),
    "seconds": ("s", "first start to last completion"),
}


def run(bench: Bench) -> dict[str, float]:
    count = bench.options.workflows
    bench.workers()
    prefix, began = bench.start_all(workflows.three_activities, bench.ids("tp", count))
    started = time.time()
    bench.wait_for(prefix, count, Status.COMPLETED, "running")
    seconds = bench.last_finished(prefix) - began
    return {
        "workflows": count,
        "workflows_per_s": round(count / seconds, 1),
        "starts_per_s": round(count / (started - began), 1),
        "seconds": round(seconds, 3),
    }
