"""Coalesced wake-ups: at most one drain task is on its way at a time, yet none is ever missed."""

from __future__ import annotations

import logging

from django_q.tasks import async_task

from durable import store
from durable.models import WakeSignal

logger = logging.getLogger(__name__)

QUEUE = "default"
DRAIN_TASK = "durable.worker.tasks.drain"


def request(*, force: bool = False) -> bool:
    """Enqueue a drain task unless one is already pending; returns whether one was enqueued.

    The drain task clears the flag before it looks for work, so anything made due after that
    raises the flag again and gets a task of its own: no wake-up falls between the two.
    """
    moment = store.now()
    raised = WakeSignal.objects.filter(name=QUEUE, pending=False).update(pending=True, requested_at=moment)
    if not raised:
        if not force and WakeSignal.objects.filter(name=QUEUE).exists():
            return False
        WakeSignal.objects.update_or_create(name=QUEUE, defaults={"pending": True, "requested_at": moment})
    enqueue()
    return True


def enqueue() -> None:
    async_task(DRAIN_TASK, q_options={"task_name": "durable-drain", "save": False})


def clear() -> None:
    WakeSignal.objects.filter(name=QUEUE).update(pending=False)
