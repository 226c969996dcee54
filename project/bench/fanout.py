"""Fan-out: one instance starts N parallel activities and gathers them, from its start to its end."""

from __future__ import annotations

import time

import durable
from durable.models import HistoryStep, Status
from project.bench import workflows
from project.bench.harness import Bench, BenchError

NAME = "fanout"
NEEDS_WORKERS = True
FIGURES = {
    "steps": ("", "parallel activities started by one instance, then gathered"),
    "seconds": ("s", "start of the instance to its end"),
    "steps_per_s": ("/s", "parallel steps run per second over that span"),
    "at_once": ("", "most parallel steps running at the same moment"),
}


def run(bench: Bench) -> dict[str, float]:
    count = bench.options.fanout
    bench.workers()
    (instance_id,) = bench.ids("fo", 1)
    prefix = instance_id.rsplit("-", 1)[0] + "-"
    began = time.time()
    durable.start(workflows.fanout, count, instance_id=instance_id)
    bench.wait_for(prefix, 1, Status.COMPLETED, "fanning out")
    seconds = bench.last_finished(prefix) - began
    spans = list(
        HistoryStep.objects.filter(instance_id=instance_id, kind="parallel").values_list("started_at", "recorded_at")
    )
    if len(spans) != count:
        raise BenchError(f"fanout: {len(spans)} parallel steps recorded, not {count}")
    at_once = max(sum(1 for begin, end in spans if begin <= start < end) for start, _ in spans)
    return {
        "steps": count,
        "seconds": round(seconds, 3),
        "steps_per_s": round(count / seconds, 1),
        "at_once": at_once,
    }
