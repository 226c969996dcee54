"""durable_status: the workers seen, the runnable backlog and its lag, the timers due."""

from __future__ import annotations

import json
from typing import Any

from durable import health, words
from durable.management import format as fmt
from durable.management.base import DurableCommand


class Command(DurableCommand):
    help = (
        "Show whether work is being picked up: each durable_worker's heartbeat (host, pid, started, last "
        "seen, what it runs), how many instances are due to run and how long the oldest has waited (the "
        "lag), and how many timers are due. Exits with status 1 when instances wait and no worker has "
        "been seen for a minute."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")

    def run(self, **options: Any) -> None:
        status = health.status()
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(status), indent=2))
        else:
            self._print(status)
        if status.stranded:
            raise SystemExit(1)

    def _print(self, status: health.Status) -> None:
        running = status.running
        self.stdout.write(self.style.MIGRATE_HEADING(f"Workers ({len(running)} running, {len(status.workers)} seen)"))
        if status.workers:
            self.write_table(
                ("WORKER", "STARTED", "LAST SEEN", "RUNS", "STATE"),
                [_worker_row(w, status) for w in status.workers],
            )
        else:
            self.stdout.write("  none has been seen")
        self.stdout.write("")
        lag = words.span(status.lag) if status.lag is not None else fmt.NONE
        self.stdout.write(f"Runnable backlog: {status.more(status.backlog)} instance(s); lag (oldest waiting): {lag}")
        self.stdout.write(f"Timers due: {status.more(status.due_timers)}")
        if status.failing_hooks:
            self._print_hooks(status)
        if status.stranded:
            self.stderr.write(
                self.style.WARNING(
                    "Instances are waiting to run and no worker has been seen for a minute. "
                    "Start one with `python manage.py durable_worker`."
                )
            )

    def _print_hooks(self, status: health.Status) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.WARNING(f"Failing hooks: {status.more(status.failing_hooks)} (latest first)"))
        for run in status.failing_hook_runs:
            error = run.last_error or {}
            self.stdout.write(
                f"  {run.hook_name} on {run.trigger} of {run.instance_id} ({run.workflow_name}): {run.status}, "
                f"{run.attempts} attempt(s); {error.get('type', 'Error')}: {error.get('message', '')}"
            )


def _runs(worker) -> str:
    runs, parts = worker.runs, []
    if runs.get("cluster"):
        parts.append(f"cluster x{runs.get('workers') or '?'}")
    parts.append("timer loop")
    if runs.get("runner"):
        parts.append("runner" + (" (listening)" if worker.listening else ""))
    return ", ".join(parts)


def _worker_row(worker, status: health.Status) -> tuple[str, ...]:
    alive = status.moment - worker.last_seen_at <= health.fresh_within()
    return (
        f"{worker.host}:{worker.pid}",
        fmt.when(worker.started_at),
        fmt.until(worker.last_seen_at, status.moment),
        _runs(worker),
        "running" if alive else "gone",
    )


def _as_json(status: health.Status) -> dict[str, Any]:
    return {
        "workers": [
            {
                "host": w.host,
                "pid": w.pid,
                "started_at": w.started_at.isoformat(),
                "last_seen_at": w.last_seen_at.isoformat(),
                "runs": w.runs,
                "running": w in status.running,
            }
            for w in status.workers
        ],
        "backlog": status.backlog,
        "backlog_capped": status.backlog > health.COUNT_LIMIT,
        "lag_seconds": status.lag,
        "due_timers": status.due_timers,
        "stranded": status.stranded,
        "failing_hooks": status.failing_hooks,
        "failing_hook_runs": [
            {
                "id": run.id,
                "hook": run.hook_name,
                "trigger": run.trigger,
                "instance_id": run.instance_id,
                "workflow": run.workflow_name,
                "status": run.status,
                "attempts": run.attempts,
                "last_error": (run.last_error or {}).get("message"),
            }
            for run in status.failing_hook_runs
        ],
    }
