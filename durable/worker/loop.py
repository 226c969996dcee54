"""The timer loop beside the cluster: fires each timer when due and runs the recovery sweep."""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections, connections

from durable import db, timers
from durable.conf import settings

logger = logging.getLogger(__name__)


class TimerLoop:
    """Sleeps until the next timer is due (looking for new ones every DURABLE_TIMER_POLL).

    One loop serves any number of sleeping instances: no thread or process per sleeper.
    """

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()
        self.fired = 0

    def run(self) -> None:
        next_recovery = 0.0
        while not self.stop.is_set():
            try:
                pause = self.tick()
                if time.monotonic() >= next_recovery:
                    timers.recover()
                    next_recovery = time.monotonic() + float(settings.RECOVERY_INTERVAL)
            except Exception:
                logger.exception("timer loop iteration failed; retrying")
                connections.close_all()
                pause = 1.0
            self.stop.wait(pause)
        close_old_connections()

    def tick(self) -> float:
        """Fire what is due; return how long to sleep before the next look."""
        poll = float(settings.TIMER_POLL)
        due = timers.next_due()
        if due is not None:
            wait = (due - db.now()).total_seconds()
            if wait <= 0:
                fired = timers.fire_due()
                self.fired += fired
                return 0.0 if fired >= timers.FIRE_BATCH else min(poll, 0.005)
            return min(poll, wait)
        return poll


def run_once() -> int:
    """One pass in this process: fire due timers, sweep, and run every due instance."""
    from durable.run import executor
    from durable.worker import wakeup

    timers.sweep()
    wakeup.clear()
    return executor.run_due()
