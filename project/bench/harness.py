"""What every scenario shares: options, progress output, workers and HTTP server, waiting, clean-up."""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import TextIOBase
from pathlib import Path
from typing import Any, TextIO

from django.db import connections
from django.db.models import Count, Max

import durable
from durable import db
from durable.models import (
    TERMINAL,
    ChildWait,
    Delivery,
    Event,
    HistoryStep,
    HookRun,
    PublishedValue,
    Status,
    Timer,
    Wait,
    WorkflowInstance,
)
from project.bench.services import HttpServer, WorkerPool
from project.bench.workflows import EVENT_SOURCE

PREFIX = "bench-"
POLL = 0.05


class BenchError(Exception):
    """The benchmark cannot go on; the message says why and what to do."""


@dataclass
class Options:
    """Sizes and switches of one benchmark run (the command's options)."""

    scenarios: list[str]
    workflows: int = 200
    sagas: int = 200
    children: int = 200
    fanout: int = 200
    events: int = 100
    event_rate: float = 20.0
    values: int = 50
    timers: int = 200
    timer_base: float = 3.0
    timer_spread: float = 3.0
    scale: int = 100_000
    scale_events: int = 100
    scale_timers: int = 100
    replay_steps: int = 1000
    replay_repeats: int = 7
    replay_check_instances: int = 10_000
    queue_pending: int = 100_000
    memory_workflows: int = 10_000
    idle_seconds: float = 20.0
    repeat: int = 1
    workers: int = 1
    timeout: float = 600.0


class Progress:
    """One progress line: rewritten in place on a terminal, printed every few seconds otherwise."""

    def __init__(self, out: TextIO | TextIOBase) -> None:
        self.out = out
        self.tty = out.isatty() if hasattr(out, "isatty") else False
        self.last = 0.0
        self.width = 0

    def update(self, text: str, *, force: bool = False) -> None:
        moment = time.monotonic()
        if self.tty:
            line = text[:119]
            self.out.write("\r" + line + " " * max(0, self.width - len(line)))
            self.width = len(line)
            self.out.flush()
        elif force or moment - self.last >= 2.0:
            self.out.write(text + "\n")
            self.out.flush()
            self.last = moment

    def done(self, text: str) -> None:
        if self.tty:
            self.update(text)
            self.out.write("\n")
            self.width = 0
        else:
            self.out.write(text + "\n")
        self.out.flush()


class Bench:
    """Shared state of one benchmark run: the options, the processes it started, the output."""

    def __init__(self, options: Options, log_dir: Path, out: TextIO | TextIOBase | None = None) -> None:
        self.options = options
        self.log_dir = log_dir
        self.progress = Progress(out or sys.stdout)
        self.pool: WorkerPool | None = None
        self.http: HttpServer | None = None
        self.token = secrets.token_urlsafe(16)
        self.label = ""

    # Processes ------------------------------------------------------------------------------

    def workers(self) -> WorkerPool:
        """The running worker pool, started on first use."""
        if self.pool is None:
            self.say(f"starting {self.options.workers} durable_worker process(es)")
            self.pool = WorkerPool(self.options.workers, self.log_dir).start()
        self.pool.check()
        return self.pool

    def stop_workers(self) -> None:
        if self.pool is not None:
            self.say("stopping the durable_worker process(es)")
            self.pool.stop()
            self.pool = None

    def server(self) -> HttpServer:
        """The HTTP server receiving CloudEvents, started on first use."""
        if self.http is None:
            self.say("starting the HTTP server (runserver)")
            self.http = HttpServer(self.token, self.log_dir)
        self.http.service.check()
        return self.http

    def close(self) -> None:
        if self.http is not None:
            self.http.stop()
            self.http = None
        self.stop_workers()

    # Output ---------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.progress.update(f"[{self.label or 'bench'}] {text}", force=True)

    def tick(self, text: str) -> None:
        self.progress.update(f"[{self.label}] {text}")

    # Instances ------------------------------------------------------------------------------

    def ids(self, tag: str, count: int) -> list[str]:
        """Fresh instance ids for `count` instances of one scenario step, all under PREFIX."""
        run = secrets.token_hex(3)
        return [f"{PREFIX}{tag}-{run}-{i:06d}" for i in range(count)]

    def start_all(self, workflow: Any, ids: list[str]) -> tuple[str, float]:
        """Start `workflow(ctx, i)` under each id, one `durable.start` transaction each; returns the
        ids' common prefix and when the first start began."""
        prefix = ids[0].rsplit("-", 1)[0] + "-"
        began = time.time()
        for i, instance_id in enumerate(ids):
            durable.start(workflow, i, instance_id=instance_id)
            if i % 20 == 0:
                self.tick(f"starting {i}/{len(ids)}")
        return prefix, began

    def last_finished(self, prefix: str) -> float:
        """When the last of the instances under `prefix` ended (a timestamp)."""
        last = WorkflowInstance.objects.filter(id__startswith=prefix).aggregate(last=Max("finished_at"))["last"]
        return last.timestamp()

    def statuses(self, prefix: str) -> dict[str, int]:
        rows = WorkflowInstance.objects.filter(id__startswith=prefix).values_list("status").annotate(n=Count("id"))
        return dict(rows.order_by())

    def wait_for(
        self,
        prefix: str,
        count: int,
        status: str,
        what: str,
        timeout: float | None = None,
        extra: Callable[[], str] | None = None,
    ) -> float:
        """Poll until `count` instances under `prefix` have `status`; returns when it held.

        Raises BenchError when one failed, paused or was cancelled, a worker died, or the
        timeout passed.
        """
        limit = self.options.timeout if timeout is None else timeout
        started = time.monotonic()
        while True:
            counts = self.statuses(prefix)
            reached = counts.get(status, 0)
            self.tick(f"{what}: {reached}/{count} {status}, {time.monotonic() - started:.1f} s")
            if reached >= count:
                return time.time()
            bad = {s: n for s, n in counts.items() if s in TERMINAL | {Status.PAUSED} and s != status}
            if bad:
                raise BenchError(f"{what}: instances ended badly {bad}: {self.explain(prefix)}")
            if self.pool is not None:
                self.pool.check()
            if time.monotonic() - started > limit:
                raise BenchError(f"{what}: only {reached}/{count} {status} after {limit:.0f} s (statuses {counts})")
            time.sleep(POLL)

    def explain(self, prefix: str) -> str:
        row = (
            WorkflowInstance.objects.filter(id__startswith=prefix, status__in=[*TERMINAL, Status.PAUSED])
            .exclude(status=Status.COMPLETED)
            .values("id", "status", "status_reason", "error")
            .first()
        )
        if row is None:
            return "no details"
        hint = ""
        if "cannot run it" in (row["status_reason"] or ""):
            hint = (
                " The workers do not know the bench workflows: the settings module must read "
                "DURABLE_WORKFLOW_MODULES from the environment (as project/settings.py does)."
            )
        return f"{row['id']} is {row['status']}: {row['status_reason'] or row['error']}{hint}"


def other_active_instances() -> int:
    """How many non-terminal instances not made by the benchmark the database holds."""
    return WorkflowInstance.objects.active().exclude(id__startswith=PREFIX).count()


def cleanup() -> int:
    """Delete every benchmark instance (with its rows) and every benchmark event; returns instances."""
    like = PREFIX + "%"
    with db.atomic():
        for model in (HistoryStep, Wait, Timer, Delivery, PublishedValue, HookRun, ChildWait):
            model.objects.filter(instance__id__startswith=PREFIX).delete()
        Delivery.objects.filter(event__source=EVENT_SOURCE).delete()
        Event.objects.filter(target__id__startswith=PREFIX).delete()
        Event.objects.filter(source=EVENT_SOURCE).delete()
        # A plain DELETE: the rows that point at these instances are gone, and the ORM's
        # cascade collector would load every instance first (100,000 after the scale scenario).
        table = connections[db.alias()].ops.quote_name(WorkflowInstance._meta.db_table)
        with connections[db.alias()].cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id LIKE %s", [like])  # noqa: S608 - a model's table name
            deleted = cursor.rowcount
    return deleted


def decode_results(prefix: str) -> dict[str, Any]:
    """Each completed instance's decoded result by id."""
    from durable.engine import codec

    rows = WorkflowInstance.objects.filter(id__startswith=prefix, status=Status.COMPLETED).values_list("id", "result")
    return {instance_id: codec.decode(result) for instance_id, result in rows}
