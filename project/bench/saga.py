"""Sagas: N workflows that arm three compensations and fail, from the first start to the last compensated."""

from __future__ import annotations

from durable.models import Status, WorkflowInstance
from project.bench import workflows
from project.bench.harness import Bench, BenchError

NAME = "saga"
NEEDS_WORKERS = True
FIGURES = {
    "workflows": ("", "sagas started: 3 activities arming a compensation each, then one that fails"),
    "workflows_per_s": ("/s", "first start to last compensated (failed, compensated: true)"),
    "compensations_per_s": ("/s", "compensation steps run over the same span"),
    "seconds": ("s", "first start to last compensated"),
}


def run(bench: Bench) -> dict[str, float]:
    count = bench.options.sagas
    bench.workers()
    prefix, began = bench.start_all(workflows.saga, bench.ids("sg", count))
    bench.wait_for(prefix, count, Status.FAILED, "unwinding")
    compensated = WorkflowInstance.objects.filter(id__startswith=prefix, compensated=True).count()
    if compensated != count:
        raise BenchError(f"saga: {count - compensated} of {count} instances failed without compensating")
    seconds = bench.last_finished(prefix) - began
    return {
        "workflows": count,
        "workflows_per_s": round(count / seconds, 1),
        "compensations_per_s": round(3 * count / seconds, 1),
        "seconds": round(seconds, 3),
    }
