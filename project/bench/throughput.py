"""Throughput: N workflows of three activities, from the first start to the last completion."""

from __future__ import annotations

import time

from django.db.models import Max

import durable
from durable.models import Status, WorkflowInstance
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
    ids = bench.ids("tp", count)
    prefix = ids[0].rsplit("-", 1)[0] + "-"
    began = time.time()
    for i, instance_id in enumerate(ids):
        durable.start(workflows.three_activities, i, instance_id=instance_id)
        if i % 20 == 0:
            bench.tick(f"starting {i}/{count}")
    started = time.time()
    bench.wait_for(prefix, count, Status.COMPLETED, "running")
    last = WorkflowInstance.objects.filter(id__startswith=prefix).aggregate(last=Max("finished_at"))["last"]
    seconds = last.timestamp() - began
    return {
        "workflows": count,
        "workflows_per_s": round(count / seconds, 1),
        "starts_per_s": round(count / (started - began), 1),
        "seconds": round(seconds, 3),
    }
