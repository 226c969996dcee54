"""Small statistics: nearest-rank percentiles of latencies, medians of repeated runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile `q` (0-100): the smallest value with q% of values at or below it."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_figures(millis: Sequence[float], prefix: str = "") -> dict[str, float]:
    """p50, p99 and max of latencies in milliseconds, rounded to 0.1 ms."""
    return {
        f"{prefix}p50_ms": round(percentile(millis, 50), 1),
        f"{prefix}p99_ms": round(percentile(millis, 99), 1),
        f"{prefix}max_ms": round(max(millis), 1),
    }


def median_figures(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over repeated runs (every run reports the same figures)."""
    return {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}
