"""Coalesced wake-ups: at most one drain task is on its way at a time, yet none is ever missed."""

from __future__ import annotations

import logging
import threading
import time

from django_q.tasks import async_task

from durable import db
from durable.models import WakeSignal

QUEUE = "default"
DRAIN_TASK = "durable.worker.tasks.drain"
# When this process last saw the signal row; a raised flag is trusted that long.
ROW_TRUST_SECONDS = 1.0
_row_seen = 0.0
_enqueuing = threading.local()


class _QuietEnqueue(logging.Filter):
    """Drops django-q2's INFO line for each drain task durable enqueues ("Enqueued [...] ..."): one
    per wake-up would flood a project's logs and print in every `durable_start`. Warnings and
    errors pass, and so does everything about the project's own tasks."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not getattr(_enqueuing, "active", False)


logging.getLogger("django-q").addFilter(_QuietEnqueue())


def request(*, force: bool = False) -> bool:
    """Enqueue a drain task unless one is already pending; returns whether one was enqueued.

    The drain task clears the flag before it looks for work, so anything made due after that
    raises the flag again and gets a task of its own: no wake-up falls between the two.
    """
    global _row_seen
    moment = db.now()
    raised = WakeSignal.objects.filter(name=QUEUE, pending=False).update(pending=True, requested_at=moment)
    if not raised and not force:
        # Usually the flag is up already. Only a missing row (a fresh or flushed database) also
        # matches nothing, so look for the row now and then, not on every wake-up.
        if time.monotonic() - _row_seen < ROW_TRUST_SECONDS:
            return False
        if WakeSignal.objects.filter(name=QUEUE).exists():
            _row_seen = time.monotonic()
            return False
    if not raised:
        WakeSignal.objects.update_or_create(name=QUEUE, defaults={"pending": True, "requested_at": moment})
    _row_seen = time.monotonic()
    enqueue()
    return True


def enqueue() -> None:
    _enqueuing.active = True
    try:
        async_task(DRAIN_TASK, q_options={"task_name": "durable-drain", "save": False})
    finally:
        _enqueuing.active = False


def clear() -> None:
    WakeSignal.objects.filter(name=QUEUE).update(pending=False)
