"""The one table printed at the end, with SPEC section 10's bars beside the figures."""

from __future__ import annotations

from typing import Any

# (scenario, figure) -> (comparison, bar): the performance bars of SPEC section 10.
BARS: dict[tuple[str, str], tuple[str, float]] = {
    ("throughput", "workflows_per_s"): (">=", 150),
    ("events", "p50_ms"): ("<=", 50),
    ("events", "p99_ms"): ("<=", 100),
    ("timers", "p50_ms"): ("<=", 50),
    ("timers", "p99_ms"): ("<=", 200),
    ("scale", "event_p50_ms"): ("<=", 50),
    ("scale", "event_p99_ms"): ("<=", 100),
    ("scale", "timer_p50_ms"): ("<=", 50),
    ("scale", "timer_p99_ms"): ("<=", 200),
    ("replay", "resume_ms"): ("<=", 100),
}


def verdict(scenario: str, figure: str, value: float) -> tuple[str, str]:
    """The bar as text and whether the value meets it ("", "" for figures without a bar)."""
    bar = BARS.get((scenario, figure))
    if bar is None:
        return "", ""
    op, limit = bar
    ok = value >= limit if op == ">=" else value <= limit
    return f"{op} {limit:g}", "ok" if ok else "MISSED"


def table(results: dict[str, Any], figures: dict[str, dict[str, tuple[str, str]]]) -> str:
    """A plain-text table: scenario, figure, median value with its unit, bar, verdict, what it measures."""
    rows = [("scenario", "figure", "value", "bar", "", "measured")]
    for scenario, outcome in results["scenarios"].items():
        for figure, value in outcome["median"].items():
            unit, what = figures[scenario][figure]
            bar, ok = verdict(scenario, figure, value)
            shown = f"{value:g} {unit}".strip() if isinstance(value, float | int) else str(value)
            rows.append((scenario, figure, shown, bar, ok, what))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def context_line(machine: dict[str, Any], repeat: int) -> str:
    db, worker = machine["database"], machine["worker"]
    load = " ".join(f"{x:g}" for x in machine["load_average"])
    return (
        f"{db['version']}, {machine['cpu_count']} CPUs ({machine['cpu_model']}), load {load} at start, "
        f"Python {machine['python']}, Django {machine['django']}, django-q2 {machine['django_q2']}, "
        f"{worker['durable_worker_processes']} durable_worker x {worker['q2_workers_per_process']} q2 workers, "
        f"poll {worker['q2_poll']} s, planner statistics: {db.get('planner_statistics')}; medians of {repeat} run(s)"
    )
