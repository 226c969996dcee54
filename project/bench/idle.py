"""Idle cost: what a durable_worker with nothing due does per second (queries, CPU).

It starts workers of its own with query counting on (see querycount), lets them settle, then
reads every process's query count and CPU time at the start and the end of a quiet window.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from project.bench import querycount
from project.bench.harness import Bench
from project.bench.services import WorkerPool

NAME = "idle"
NEEDS_WORKERS = True
FIGURES = {
    "seconds": ("s", "the quiet window"),
    "queries_per_s": ("/s", "queries of all the worker's processes, per second, nothing due"),
    "cpu_percent": ("%", "CPU of all the worker's processes, of one core"),
}
SETTLE_SECONDS = 3.0


def run(bench: Bench) -> dict[str, float]:
    window = float(bench.options.idle_seconds)
    bench.stop_workers()
    folder = Path(tempfile.mkdtemp(prefix="durable-bench-queries-"))
    pool = WorkerPool(bench.options.workers, bench.log_dir, env={querycount.ENV: str(folder)}).start()
    try:
        bench.tick(f"letting {bench.options.workers} worker(s) settle")
        time.sleep(SETTLE_SECONDS)
        queries_before, cpu_before = querycount.read(folder), cpu_ticks(pool)
        began = time.monotonic()
        while (left := window - (time.monotonic() - began)) > 0:
            bench.tick(f"idle for {window:g} s: {left:.0f} s left")
            time.sleep(min(1.0, left))
        elapsed = time.monotonic() - began
        # Each process writes its count every 0.5 s: wait for a last write after the window.
        time.sleep(0.6)
        queries_after, cpu_after = querycount.read(folder), cpu_ticks(pool)
    finally:
        pool.stop()
    queries = sum(n - queries_before.get(pid, 0) for pid, n in queries_after.items())
    ticks = sum(t - cpu_before.get(pid, 0) for pid, t in cpu_after.items())
    return {
        "seconds": round(elapsed, 1),
        "queries_per_s": round(queries / elapsed, 2),
        "cpu_percent": round(100 * ticks / os.sysconf("SC_CLK_TCK") / elapsed, 2),
    }


def cpu_ticks(pool: WorkerPool) -> dict[int, int]:
    """user + system CPU ticks of every process of every worker's process group (Linux /proc)."""
    ticks = {}
    for pid in pool.pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks
