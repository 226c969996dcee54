"""Children: N parents that each start one child and wait for it, from the first start to the last parent done."""

from __future__ import annotations

from durable.models import Status, WorkflowInstance
from project.bench import workflows
from project.bench.harness import Bench, BenchError

NAME = "children"
NEEDS_WORKERS = True
FIGURES = {
    "parents": ("", "parents started: each runs one child of one activity (ctx.run_child) and returns its result"),
    "parents_per_s": ("/s", "first start to last parent completed"),
    "instances_per_s": ("/s", "parents and children completed over the same span"),
    "seconds": ("s", "first start to last parent completed"),
}


def run(bench: Bench) -> dict[str, float]:
    count = bench.options.children
    bench.workers()
    prefix, began = bench.start_all(workflows.parent, bench.ids("ch", count))
    # The children's ids are "<parent id>/0": under the same prefix, so both are counted.
    bench.wait_for(prefix, 2 * count, Status.COMPLETED, "parents and children")
    children = WorkflowInstance.objects.filter(id__startswith=prefix, parent_id__isnull=False).count()
    if children != count:
        raise BenchError(f"children: {children} children for {count} parents")
    seconds = bench.last_finished(prefix) - began
    return {
        "parents": count,
        "parents_per_s": round(count / seconds, 1),
        "instances_per_s": round(2 * count / seconds, 1),
        "seconds": round(seconds, 3),
    }
