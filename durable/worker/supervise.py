"""The timer loop in a child process of durable_worker, restarted if it dies.

The loop runs the instance whose timer it just fired (see loop.Runner): workflow code, which may
crash its process (os._exit, a segfault, the OOM killer) as it may crash a django-q2 worker. In
a child of its own, such a crash costs one restart and the instance's lease, never the worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from typing import Any

from django.db import connections

from durable.worker import loop

logger = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 1.0


def _context() -> Any:
    return multiprocessing.get_context("fork")


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _main(fired: Any) -> None:
    stop = threading.Event()
    # Ctrl-C reaches the whole process group; the parent decides, and sends SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    timer_loop = loop.TimerLoop(stop, fired=fired, own_process=True)
    timer_loop.run()


class TimerProcess:
    """Starts the loop's process, restarts it when it has died, and stops it."""

    def __init__(self) -> None:
        self.fired = _context().Value("q", 0)
        self.process: Any = None
        self.restarts = 0
        self._dead_since: float | None = None

    def start(self) -> None:
        # A connection must not cross the fork (the child's exit would close it under us).
        connections.close_all()
        self.process = _context().Process(target=_main, args=(self.fired,), name="durable-timer-loop", daemon=True)
        self.process.start()

    def check(self) -> None:
        """Restart the loop if its process has died (after a pause, so a crash loop does not spin)."""
        if self.process.is_alive():
            return
        now = time.monotonic()
        if self._dead_since is None:
            self._dead_since = now
            logger.error(
                "the timer loop's process %s died (exit code %s); restarting it",
                self.process.pid,
                self.process.exitcode,
                extra={"exitcode": self.process.exitcode},
            )
        if now - self._dead_since >= RESTART_PAUSE_SECONDS:
            self._dead_since = None
            self.restarts += 1
            self.start()

    def terminate(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()

    def stop(self, grace: float) -> None:
        """SIGTERM, wait up to `grace` seconds for the run in progress, then SIGKILL."""
        if self.process is None:
            return
        self.terminate()
        self.process.join(grace)
        if self.process.is_alive():
            logger.error("the timer loop did not stop within %.1f s; killing it, its stacks follow", grace)
            os.kill(self.process.pid, signal.SIGUSR1)  # faulthandler writes every thread's stack
            time.sleep(0.5)
            self.process.kill()
            self.process.join(5)
