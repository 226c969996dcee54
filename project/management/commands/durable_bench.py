"""durable_bench: the demo project's performance scenarios, run against real durable_worker processes."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

QUICK = {
    "workflows": 100,
    "sagas": 100,
    "children": 100,
    "fanout": 50,
    "events": 40,
    "values": 20,
    "timers": 60,
    "timer_base": 1.5,
    "timer_spread": 1.5,
    "scale": 10_000,
    "scale_events": 30,
    "scale_timers": 30,
    "queue_pending": 10_000,
    "replay_repeats": 3,
    "memory_workflows": 1000,
    "idle_seconds": 5.0,
}


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Measure durable on the configured database with real durable_worker subprocesses (started "
        "and stopped here): throughput, sagas unwinding, parents running children, a fan-out of parallel "
        "activities, event round trip over HTTP, timer lateness, the same latencies with many instances "
        "waiting or pending behind a full queue, replay of a long history, worker memory, and what an "
        "idle worker costs. "
        "Prints a progress line, one table, and writes every figure with the machine's context as "
        "JSON. It deletes what it creates, and refuses a database holding other active instances."
    )

    def add_arguments(self, parser) -> None:
        from project.bench.runner import SCENARIOS

        parser.add_argument(
            "--scenarios",
            default=",".join(SCENARIOS),
            help=f"Comma-separated scenarios to run (default: all of {','.join(SCENARIOS)}).",
        )
        parser.add_argument("--quick", action="store_true", help="Small sizes: the whole run takes under a minute.")
        parser.add_argument("--workflows", type=positive, help="Throughput: workflows of 3 activities (200).")
        parser.add_argument(
            "--sagas", type=positive, help="Saga: workflows that arm 3 compensations and fail, until compensated (200)."
        )
        parser.add_argument(
            "--children", type=positive, help="Children: parents that each run one child, until done (200)."
        )
        parser.add_argument(
            "--fanout", type=positive, help="Fan-out: parallel activities one instance starts and gathers (200)."
        )
        parser.add_argument("--events", type=positive, help="Events: events POSTed to waiting workflows (100).")
        parser.add_argument("--event-rate", type=float, help="Events POSTed per second, one at a time (20).")
        parser.add_argument(
            "--values", type=positive, help="Values: set_event -> blocked get_event, in-process and over HTTP (50)."
        )
        parser.add_argument("--timers", type=positive, help="Timers: sleeping workflows (200).")
        parser.add_argument("--scale", type=positive, help="Scale: instances already waiting (100000).")
        parser.add_argument("--scale-events", type=positive, help="Scale: events measured on top (100).")
        parser.add_argument("--scale-timers", type=positive, help="Scale: sleepers measured on top (100).")
        parser.add_argument(
            "--queue-pending", type=positive, help="Queues: instances pending behind a full queue (100000)."
        )
        parser.add_argument("--replay-steps", type=positive, help="Replay: recorded steps to replay (1000).")
        parser.add_argument("--replay-repeats", type=positive, help="Replay: resumes timed per run (7).")
        parser.add_argument(
            "--replay-check-instances",
            type=positive,
            help="Replay check: completed instances durable_replay checks (10000).",
        )
        parser.add_argument("--memory-workflows", type=positive, help="Memory: workflows run between (10000).")
        parser.add_argument(
            "--idle-seconds", type=float, help="Idle: seconds a worker with nothing due is watched (20)."
        )
        parser.add_argument("--repeat", type=positive, default=1, help="Run each scenario K times; medians (1).")
        parser.add_argument("--workers", type=positive, default=1, help="durable_worker processes to start (1).")
        parser.add_argument("--timeout", type=float, default=600.0, help="Seconds any one wait may take (600).")
        parser.add_argument("--json", default="bench-results.json", help="Where to write the results.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even though the database holds active instances the benchmark did not make.",
        )

    def handle(self, *args, **options) -> None:
        from project.bench import runner
        from project.bench.harness import BenchError, Options
        from project.processes import ServiceError

        sizes: dict[str, Any] = dict(QUICK) if options["quick"] else {}
        for name in (
            "workflows",
            "sagas",
            "children",
            "fanout",
            "events",
            "event_rate",
            "values",
            "timers",
            "scale",
            "scale_events",
            "scale_timers",
            "replay_steps",
            "replay_repeats",
            "replay_check_instances",
            "queue_pending",
            "memory_workflows",
            "idle_seconds",
        ):
            if options[name] is not None:
                sizes[name] = options[name]
        chosen = [name.strip() for name in options["scenarios"].split(",") if name.strip()]
        bench_options = Options(
            scenarios=chosen,
            repeat=options["repeat"],
            workers=options["workers"],
            timeout=options["timeout"],
            **sizes,
        )
        # The workers and the server run in sessions of their own; on SIGTERM unwind, so the
        # runner stops them and deletes what it made, as it does on Ctrl-C.
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            results = runner.run(bench_options, self.stdout, force=options["force"])
        except (BenchError, ServiceError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
        path = Path(options["json"])
        runner.write_json(results, path)
        self.stdout.write("\n" + runner.render(results) + "\n")
        self.stdout.write(f"\nWrote {path}; worker logs in {results['logs']}.")


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)
