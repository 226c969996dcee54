"""Run the chosen scenarios against real workers, repeat them, and collect every figure."""

from __future__ import annotations

import importlib
import json
import os
import tempfile
import time
from io import TextIOBase
from pathlib import Path
from typing import Any, TextIO

from django.db import connections

from project.bench import harness, machine, report
from project.bench.harness import Bench, BenchError, Options

# In the order they run: the replay runs in this process with the workers stopped, and the
# memory and idle scenarios start workers of their own.
SCENARIOS = (
    "throughput",
    "saga",
    "children",
    "fanout",
    "events",
    "values",
    "timers",
    "scale",
    "queues",
    "replay",
    "replay_check",
    "memory",
    "idle",
    "schedules",
)


def module(name: str):
    return importlib.import_module(f"project.bench.{name}")


def figures(names) -> dict[str, dict[str, tuple[str, str]]]:
    return {name: module(name).FIGURES for name in names}


def run(options: Options, out: TextIO | TextIOBase, *, force: bool = False) -> dict[str, Any]:
    """Run every chosen scenario `options.repeat` times; returns the results document."""
    importlib.import_module("project.bench.workflows")
    unknown = [name for name in options.scenarios if name not in SCENARIOS]
    if unknown:
        raise BenchError(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    others = harness.other_active_instances()
    if others and not force:
        raise BenchError(
            f"the database holds {others} active workflow instance(s) that the benchmark did not make. "
            "The benchmark's workers would run them too (and pause those whose code they lack), and "
            "their work would skew the figures. Use an empty database, or --force."
        )
    leftovers = harness.cleanup()
    if leftovers:
        out.write(f"removed {leftovers} instance(s) left by an earlier benchmark run\n")
    log_dir = Path(tempfile.mkdtemp(prefix="durable-bench-"))
    results: dict[str, Any] = {
        "machine": machine.context(options.workers),
        "options": {k: v for k, v in vars(options).items()},
        "logs": str(log_dir),
        "scenarios": {},
    }
    bench = Bench(options, log_dir, out)
    chosen = [name for name in SCENARIOS if name in options.scenarios]
    try:
        for name in chosen:
            scenario = module(name)
            if not scenario.NEEDS_WORKERS:
                bench.stop_workers()
            runs = []
            for attempt in range(options.repeat):
                bench.label = name if options.repeat == 1 else f"{name} {attempt + 1}/{options.repeat}"
                began = time.monotonic()
                figures_of_run = scenario.run(bench)
                harness.cleanup()
                check(name, figures_of_run, scenario.FIGURES)
                runs.append(figures_of_run)
                bench.progress.done(
                    f"[{bench.label}] done in {time.monotonic() - began:.1f} s: {summary(figures_of_run)}"
                )
            results["scenarios"][name] = {"median": report_medians(runs), "runs": runs}
    finally:
        # Stop the processes before deleting their instances; a signal may have interrupted a
        # query, so start from a fresh connection.
        bench.close()
        connections.close_all()
        harness.cleanup()
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def report_medians(runs: list[dict[str, float]]) -> dict[str, float]:
    from project.bench.stats import median_figures

    return median_figures(runs)


def check(name: str, figures_of_run: dict[str, float], expected: dict[str, Any]) -> None:
    """Every figure a scenario declares is present and a finite number."""
    missing = [key for key in expected if not isinstance(figures_of_run.get(key), int | float)]
    if missing or set(figures_of_run) != set(expected):
        raise BenchError(f"scenario {name} reported {sorted(figures_of_run)}, expected {sorted(expected)}")


def summary(figures_of_run: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:g}" for key, value in figures_of_run.items())


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def render(results: dict[str, Any]) -> str:
    return (
        report.context_line(results["machine"], results["options"]["repeat"])
        + "\n\n"
        + report.table(results, figures(results["scenarios"]))
    )
