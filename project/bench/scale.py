"""Scale: the event round trip and timer lateness again, with many instances already waiting."""

from __future__ import annotations

import time

from project.bench import fixtures
from project.bench.events import round_trips
from project.bench.harness import PREFIX, Bench
from project.bench.timers import lateness

NAME = "scale"
NEEDS_WORKERS = True
FIGURES = {
    "waiting": ("", "instances already waiting (half events, half timers)"),
    "fixture_s": ("s", "bulk-creating them"),
    "analyzed": ("", "1 if ANALYZE ran after (PostgreSQL only, as autovacuum would)"),
    "event_p50_ms": ("ms", "event round trip among them"),
    "event_p99_ms": ("ms", "event round trip among them"),
    "event_max_ms": ("ms", "event round trip among them"),
    "timer_p50_ms": ("ms", "timer lateness among them"),
    "timer_p99_ms": ("ms", "timer lateness among them"),
    "timer_max_ms": ("ms", "timer lateness among them"),
}


def run(bench: Bench) -> dict[str, float]:
    count = bench.options.scale
    bench.workers()
    began = time.monotonic()
    fixtures.create_waiting(
        f"{PREFIX}fx-", count, lambda made: bench.tick(f"creating waiting instances {made}/{count}")
    )
    made_in = time.monotonic() - began
    analyzed = fixtures.analyze()
    bench.say(f"{count} instances waiting (created in {made_in:.1f} s)")
    events = round_trips(bench, bench.options.scale_events, "sc-ev")
    timers = lateness(bench, bench.options.scale_timers, "sc-tm")
    return {
        "waiting": count,
        "fixture_s": round(made_in, 2),
        "analyzed": int(analyzed),
        **{f"event_{k}": v for k, v in events.items() if k in ("p50_ms", "p99_ms", "max_ms")},
        **{f"timer_{k}": v for k, v in timers.items() if k in ("p50_ms", "p99_ms", "max_ms")},
    }
