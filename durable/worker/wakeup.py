"""Coalesced wake-ups: at most one drain task is on its way at a time, yet none is ever missed."""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings as django_settings
from django_q.tasks import async_task

from durable import db
from durable.models import WakeSignal

QUEUE = "default"
DRAIN_TASK = "durable.worker.tasks.drain"
# Hooks have a signal row (and a task) of their own, so running them never holds up a drain.
HOOKS = "hooks"
HOOKS_TASK = "durable.worker.tasks.run_hooks"
# Parallel steps: each task runs steps one after another until none is due, so as many tasks as
# steps (up to the cluster's workers) run them side by side.
STEPS_TASK = "durable.worker.tasks.run_steps"
# When this process last saw the signal row; a raised flag is trusted that long.
ROW_TRUST_SECONDS = 1.0
_row_seen: dict[str, float] = {}
_enqueuing = threading.local()


class _QuietEnqueue(logging.Filter):
    """Drops django-q2's INFO line for each drain task durable enqueues ("Enqueued [...] ..."): one
    per wake-up would flood a project's logs and print in every `durable_start`. Warnings and
    errors pass, and so does everything about the project's own tasks."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not getattr(_enqueuing, "active", False)


logging.getLogger("django-q").addFilter(_QuietEnqueue())


def request(*, force: bool = False, hooks: bool = False, steps: int = 0) -> bool:
    """Enqueue a drain task (`hooks`: a hook-running task) unless one is already pending; returns
    whether one was enqueued. `steps` parallel steps made due get step-running tasks instead.

    The drain task clears the flag before it looks for work, so anything made due after that
    raises the flag again and gets a task of its own: no wake-up falls between the two.
    """
    if steps:
        for _ in range(min(steps, step_tasks())):
            enqueue(STEPS_TASK)
        return True
    name = HOOKS if hooks else QUEUE
    moment = db.now()
    raised = WakeSignal.objects.filter(name=name, pending=False).update(pending=True, requested_at=moment)
    if not raised and not force:
        # Usually the flag is up already. Only a missing row (a fresh or flushed database) also
        # matches nothing, so look for the row now and then, not on every wake-up.
        if time.monotonic() - _row_seen.get(name, -ROW_TRUST_SECONDS) < ROW_TRUST_SECONDS:
            return False
        if WakeSignal.objects.filter(name=name).exists():
            _row_seen[name] = time.monotonic()
            return False
    if not raised:
        WakeSignal.objects.update_or_create(name=name, defaults={"pending": True, "requested_at": moment})
    _row_seen[name] = time.monotonic()
    if hooks:
        enqueue(HOOKS_TASK)
    else:
        enqueue()
    return True


def step_tasks() -> int:
    """How many step-running tasks to enqueue at most for one batch: the cluster's workers."""
    workers = (getattr(django_settings, "Q_CLUSTER", None) or {}).get("workers")
    return max(int(workers or os.cpu_count() or 1), 1)


def enqueue(task: str = DRAIN_TASK) -> None:
    _enqueuing.active = True
    try:
        name = {HOOKS_TASK: "durable-hooks", STEPS_TASK: "durable-steps"}.get(task, "durable-drain")
        async_task(task, q_options={"task_name": name, "save": False})
    finally:
        _enqueuing.active = False


def clear(name: str = QUEUE) -> None:
    WakeSignal.objects.filter(name=name).update(pending=False)
