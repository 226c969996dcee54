"""Timer lateness: sleeping workflows, from each one's due time to its code running again."""

from __future__ import annotations

import durable
from durable.models import Status
from project.bench import workflows
from project.bench.harness import Bench, BenchError, decode_results
from project.bench.stats import latency_figures

NAME = "timers"
NEEDS_WORKERS = True
FIGURES = {
    "timers": ("", "sleeping workflows"),
    "p50_ms": ("ms", "due time to ctx.now() after the sleep"),
    "p99_ms": ("ms", "due time to ctx.now() after the sleep"),
    "max_ms": ("ms", "due time to ctx.now() after the sleep"),
}


def run(bench: Bench) -> dict[str, float]:
    return lateness(bench, bench.options.timers, "tm")


def lateness(bench: Bench, count: int, tag: str) -> dict[str, float]:
    """Start `count` sleepers due `timer_base` to `timer_base + timer_spread` seconds after they start."""
    bench.workers()
    base, spread = bench.options.timer_base, bench.options.timer_spread
    ids = bench.ids(tag, count)
    prefix = ids[0].rsplit("-", 1)[0] + "-"
    for i, instance_id in enumerate(ids):
        durable.start(workflows.sleep, base + spread * i / max(count, 1), instance_id=instance_id)
        if i % 20 == 0:
            bench.tick(f"starting sleepers {i}/{count}")
    bench.wait_for(prefix, count, Status.COMPLETED, "sleeping")
    results = decode_results(prefix)
    millis = [(r["resumed_at"] - r["due_at"]).total_seconds() * 1000 for r in results.values()]
    early = [m for m in millis if m < 0]
    if early:
        raise BenchError(f"{len(early)} timer(s) fired early, by up to {-min(early):.1f} ms")
    return {"timers": count, **latency_figures(millis)}
