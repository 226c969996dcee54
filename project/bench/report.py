"""The one table printed at the end, with SPEC section 10's bars beside the figures."""

from __future__ import annotations

from typing import Any

# (scenario, figure) -> (comparison, bar): the performance bars of SPEC section 10. A bar that
# differs by database is a dict by vendor; a vendor missing from it has no bar for that figure.
Bar = tuple[str, float]
BARS: dict[tuple[str, str], Bar | dict[str, Bar]] = {
    ("throughput", "workflows_per_s"): (">=", 150),
    ("events", "p50_ms"): {"postgresql": ("<=", 10), "sqlite": ("<=", 15)},
    ("events", "p99_ms"): {"postgresql": ("<=", 25)},
    ("values", "p50_ms"): ("<=", 10),
    ("values", "http_p50_ms"): ("<=", 10),
    ("timers", "p50_ms"): ("<=", 3),
    ("timers", "p99_ms"): ("<=", 10),
    ("schedules", "p50_ms"): ("<=", 50),
    ("schedules", "p99_ms"): ("<=", 200),
    ("scale", "event_p50_ms"): {"postgresql": ("<=", 10), "sqlite": ("<=", 15)},
    ("scale", "event_p99_ms"): {"postgresql": ("<=", 25)},
    ("scale", "timer_p50_ms"): ("<=", 3),
    ("scale", "timer_p99_ms"): ("<=", 10),
    ("replay", "resume_ms"): ("<=", 100),
    ("idle", "queries_per_s"): ("<=", 5),
    ("idle", "cpu_percent"): ("<=", 2),
}


def verdict(scenario: str, figure: str, value: float, vendor: str = "") -> tuple[str, str]:
    """The bar as text and whether the value meets it ("", "" for figures without a bar)."""
    bar = BARS.get((scenario, figure))
    if isinstance(bar, dict):
        bar = bar.get(vendor)
    if bar is None:
        return "", ""
    op, limit = bar
    ok = value >= limit if op == ">=" else value <= limit
    return f"{op} {limit:g}", "ok" if ok else "MISSED"


def table(results: dict[str, Any], figures: dict[str, dict[str, tuple[str, str]]]) -> str:
    """A plain-text table: scenario, figure, median value with its unit, bar, verdict, what it measures."""
    rows = [("scenario", "figure", "value", "bar", "", "measured")]
    vendor = results.get("machine", {}).get("database", {}).get("vendor", "")
    for scenario, outcome in results["scenarios"].items():
        for figure, value in outcome["median"].items():
            unit, what = figures[scenario][figure]
            bar, ok = verdict(scenario, figure, value, vendor)
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
