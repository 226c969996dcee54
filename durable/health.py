"""Worker health: each durable_worker's heartbeat row, and what operators read from it."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists

from durable import db
from durable.conf import settings
from durable.models import HookRun, HookStatus, Timer, WorkerHeartbeat, WorkflowInstance

logger = logging.getLogger(__name__)

# A worker not seen for this long is reported gone (the admin's banner, durable_start's warning).
GONE_AFTER = dt.timedelta(minutes=1)
# Counts past this are shown as "10000+": a status read stays bounded however large the backlog.
COUNT_LIMIT = 10_000
# How long the receiver trusts what it read about listening runners.
LISTENING_TRUST_SECONDS = 1.0
# Rows of workers gone this long are deleted by the others' heartbeats.
FORGET_AFTER = dt.timedelta(days=1)

# What the durable_worker process is (set before its timer loop forks, so the loop inherits it).
_facts: dict[str, Any] = {}
_listening_read: tuple[float, bool] = (-1e9, False)


def describe(*, pid: int, cluster: bool, workers: int | None = None) -> None:
    """Record what this durable_worker runs, for the heartbeat its timer loop writes."""
    _facts.update(pid=pid, cluster=cluster, workers=workers)


def identity() -> str:
    return f"{socket.gethostname()}:{_facts.get('pid', os.getpid())}"


def beat(*, runner: bool, listening: bool, channel: str | None) -> None:
    """Renew this worker's row (creating it on the first beat), and forget long-gone workers."""
    moment = db.now()
    runs = {
        "cluster": bool(_facts.get("cluster", False)),
        "workers": _facts.get("workers"),
        "runner": runner,
        "channel": channel,
        "loop_pid": os.getpid(),
    }
    key = identity()
    updated = WorkerHeartbeat.objects.filter(id=key).update(last_seen_at=moment, runs=runs, listening=listening)
    if not updated:
        WorkerHeartbeat.objects.update_or_create(
            id=key,
            defaults={
                "host": socket.gethostname(),
                "pid": _facts.get("pid", os.getpid()),
                "started_at": moment,
                "last_seen_at": moment,
                "runs": runs,
                "listening": listening,
            },
        )
        WorkerHeartbeat.objects.filter(last_seen_at__lt=moment - FORGET_AFTER).delete()
        logger.info("worker heartbeat started", extra={"worker": key, "listening": listening})


def forget() -> None:
    """Delete this worker's row as it stops: nobody should count on it any more."""
    WorkerHeartbeat.objects.filter(id=identity()).delete()


def fresh_within() -> dt.timedelta:
    """How recent a heartbeat must be for its worker to count as running: three beats."""
    return dt.timedelta(seconds=3 * float(settings.HEARTBEAT_SECONDS))


def runner_listening() -> bool:
    """Whether some running worker's runner hears the runnable channel (read at most once a second)."""
    global _listening_read
    read_at, answer = _listening_read
    if time.monotonic() - read_at < LISTENING_TRUST_SECONDS:
        return answer
    since = db.now() - fresh_within()
    answer = WorkerHeartbeat.objects.filter(listening=True, last_seen_at__gte=since).exists()
    _listening_read = (time.monotonic(), answer)
    return answer


def forget_listening() -> None:
    """Drop the remembered answer of runner_listening (tests, and after a worker stops here)."""
    global _listening_read
    _listening_read = (-1e9, False)


def worker_seen(within: dt.timedelta = GONE_AFTER) -> bool:
    return WorkerHeartbeat.objects.filter(last_seen_at__gte=db.now() - within).exists()


def _bounded_count(queryset) -> int:
    return len(queryset.values_list("pk", flat=True)[: COUNT_LIMIT + 1])


def stranded() -> bool:
    """Instances are waiting to run and no worker has been seen for a minute (the admin's banner)."""
    moment = db.now()
    seen = WorkerHeartbeat.objects.filter(last_seen_at__gte=moment - GONE_AFTER)
    return WorkflowInstance.objects.claimable(moment).filter(~Exists(seen)).exists()  # one query on every viewer page


@dataclass(frozen=True)
class Status:
    """What `durable_status` prints: the workers, the backlog and its age, the timers due."""

    moment: dt.datetime
    workers: list[WorkerHeartbeat] = field(default_factory=list)
    backlog: int = 0
    lag: float | None = None
    due_timers: int = 0
    failing_hooks: int = 0
    # The most recently failed of them (at most FAILING_HOOKS_SHOWN).
    failing_hook_runs: list[HookRun] = field(default_factory=list)

    @property
    def running(self) -> list[WorkerHeartbeat]:
        return [w for w in self.workers if self.moment - w.last_seen_at <= fresh_within()]

    @property
    def stranded(self) -> bool:
        """Work waits and no worker has been seen for GONE_AFTER (what the viewer's banner says)."""
        return self.backlog > 0 and not any(self.moment - w.last_seen_at <= GONE_AFTER for w in self.workers)

    def more(self, count: int) -> str:
        return f"{COUNT_LIMIT}+" if count > COUNT_LIMIT else str(count)


def status() -> Status:
    """Read the workers' rows and the runnable backlog with bounded queries."""
    moment = db.now()
    runnable = WorkflowInstance.objects.claimable(moment)
    oldest = runnable.order_by("run_after").values_list("run_after", flat=True).first()
    return Status(
        moment=moment,
        workers=list(WorkerHeartbeat.objects.order_by("-last_seen_at")[:100]),
        backlog=_bounded_count(runnable),
        lag=(moment - oldest).total_seconds() if oldest is not None else None,
        due_timers=_bounded_count(Timer.objects.filter(due_at__lte=moment)),
        **_failing_hooks(),
    )


FAILING_HOOKS_SHOWN = 10


def _failing_hooks() -> dict[str, Any]:
    """How many hook runs fail (or gave up) and the latest of them; one query when none does."""
    rows = HookRun.objects.filter(status__in=(HookStatus.FAILING, HookStatus.GAVE_UP))
    count = _bounded_count(rows)
    shown = list(rows.order_by("-updated_at")[:FAILING_HOOKS_SHOWN]) if count else []
    return {"failing_hooks": count, "failing_hook_runs": shown}
