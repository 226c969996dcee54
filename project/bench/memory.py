"""Worker memory: resident size of the worker processes before and after many workflows.

It starts workers of its own, runs a warm-up batch (imports, caches and connections settle),
reads the RSS of every process in each durable_worker's process group (the main process with
the timer loop, and django-q2's sentinel, pusher, monitor and workers), runs the workflows, and
reads it again.
"""

from __future__ import annotations

import time

from django.db.models import Max

import durable
from durable import db
from durable.models import Status, WorkflowInstance
from project.bench import workflows
from project.bench.harness import Bench, cleanup

NAME = "memory"
NEEDS_WORKERS = True
FIGURES = {
    "workflows": ("", "workflows of 3 activities between the readings"),
    "rss_idle_mb": ("MiB", "all worker processes, just started"),
    "rss_before_mb": ("MiB", "after a warm-up batch"),
    "rss_after_mb": ("MiB", "after the workflows"),
    "growth_mb": ("MiB", "after minus before"),
    "largest_process_mb": ("MiB", "the largest single process, after"),
    "processes": ("", "processes measured, after"),
    "replaced_processes": ("", "processes gone between the readings (recycled)"),
    "workflows_per_s": ("/s", "the batch: start in chunks to last completion"),
}
MiB = 1024 * 1024
CHUNK = 500


def run(bench: Bench) -> dict[str, float]:
    count = bench.options.memory_workflows
    bench.stop_workers()
    pool = bench.workers()
    time.sleep(1.0)
    idle = pool.rss()
    bench.say("warming up")
    start_batch(bench, "mw", min(200, count))
    cleanup()
    time.sleep(0.5)
    before = pool.rss()
    began = time.time()
    prefix = start_batch(bench, "mm", count)
    last = WorkflowInstance.objects.filter(id__startswith=prefix).aggregate(last=Max("finished_at"))["last"]
    time.sleep(0.5)
    after = pool.rss()
    bench.stop_workers()
    return {
        "workflows": count,
        "rss_idle_mb": mib(sum(idle.values())),
        "rss_before_mb": mib(sum(before.values())),
        "rss_after_mb": mib(sum(after.values())),
        "growth_mb": mib(sum(after.values()) - sum(before.values())),
        "largest_process_mb": mib(max(after.values())),
        "processes": len(after),
        "replaced_processes": len(set(before) - set(after)),
        "workflows_per_s": round(count / (last.timestamp() - began), 1),
    }


def start_batch(bench: Bench, tag: str, count: int) -> str:
    """Start `count` workflows in chunks of one transaction each; wait for all; returns their prefix."""
    ids = bench.ids(tag, count)
    prefix = ids[0].rsplit("-", 1)[0] + "-"
    for first in range(0, count, CHUNK):
        with db.atomic():
            for i, instance_id in enumerate(ids[first : first + CHUNK], start=first):
                durable.start(workflows.three_activities, i, instance_id=instance_id)
        bench.tick(f"started {min(first + CHUNK, count)}/{count}")
    bench.wait_for(prefix, count, Status.COMPLETED, "running")
    return prefix


def mib(size: int) -> float:
    return round(size / MiB, 1)
