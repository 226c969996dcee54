"""Start and stop the django-q2 cluster beside the timer loop, as durable_worker does."""

from __future__ import annotations

import faulthandler
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Any

from django.db import connections

from durable import health
from durable.conf import settings
from durable.worker import broker, loop, schedules, supervise

logger = logging.getLogger(__name__)

SUPERVISE_SECONDS = 0.5
# `kill -USR1 <pid>` makes any process of durable_worker write every thread's stack to stderr.
DUMP_SIGNAL = signal.SIGUSR1

# Set when durable_worker is asked to stop; its cluster's processes, forked after serve() made
# it, see it too, so a drain in progress hands over instead of running on for its full time.
stopping: Any = None


def is_stopping() -> bool:
    return stopping is not None and stopping.is_set()


def serve(*, with_cluster: bool = True, on_ready=None) -> int:
    """Run the django-q2 cluster and the timer loop until SIGTERM or SIGINT; returns timers fired.

    Args:
        with_cluster: False runs only the timer loop (for deployments that run `qcluster` themselves).
        on_ready: called once both are running, e.g. to print a line.
    """
    schedules.ensure_backstop()
    workers = None
    if with_cluster:
        from django_q.conf import Conf

        workers = int(Conf.WORKERS)
    # Before the fork, so the cluster's processes and the timer loop's inherit it.
    faulthandler.register(DUMP_SIGNAL, file=sys.stderr, all_threads=True)
    # Before the fork, so the timer loop's heartbeat names this process and what it runs.
    health.describe(pid=os.getpid(), cluster=with_cluster, workers=workers)
    # The cluster forks its processes: a connection opened here must not be shared with them
    # (on PostgreSQL the children's exits close it under the parent, and the other way round).
    connections.close_all()
    global stopping
    stop = threading.Event()
    if supervise.can_fork():
        stopping = multiprocessing.get_context("fork").Event()
    cluster = None
    if with_cluster:
        from django_q.cluster import Cluster

        cluster = Cluster(broker=broker.for_cluster())
        cluster.start()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()
        if stopping is not None:
            stopping.set()

    # After Cluster(), which installs handlers of its own: ours stop the loop, then the cluster.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not supervise.can_fork():
        # No fork here: the loop runs in this process, without running instances itself.
        if on_ready is not None:
            on_ready()
        timer_loop = loop.TimerLoop(stop, run_woken=False)
        try:
            timer_loop.run()
        finally:
            if cluster is not None:
                stop_cluster(cluster, float(settings.WORKER_STOP_SECONDS))
        return timer_loop.fired
    timer_process = supervise.TimerProcess()
    timer_process.start()
    if on_ready is not None:
        on_ready()
    try:
        while not stop.wait(SUPERVISE_SECONDS):
            timer_process.check()
    finally:
        # The whole stop fits in DURABLE_WORKER_STOP_SECONDS (20 s), inside the 30 s a process
        # manager (systemd, Kubernetes) usually grants before its SIGKILL. What is cut short is
        # leased: the recovery sweep of a live worker takes it up again.
        grace = float(settings.WORKER_STOP_SECONDS)
        began = time.monotonic()
        timer_process.terminate()
        if cluster is not None:
            stop_cluster(cluster, grace)
        timer_process.stop(max(1.0, grace - (time.monotonic() - began)))
    return int(timer_process.fired.value)


def stop_cluster(cluster: Any, grace: float) -> None:
    """Stop the cluster within `grace` seconds, killing its processes after writing their stacks.

    A thread does the stop, so a group-wide signal that already killed the sentinel cannot hang
    us (multiprocessing's Event.set() waits for its sleepers to wake; a dead sentinel never does).
    """
    time.sleep(0.2)
    if not cluster.sentinel.is_alive():
        return
    stopper = threading.Thread(target=cluster.stop, name="durable-cluster-stop", daemon=True)
    stopper.start()
    stopper.join(grace)
    if stopper.is_alive():
        stuck = [cluster.sentinel.pid, *children_of(cluster.sentinel.pid)]
        logger.error(
            "the django-q2 cluster did not stop within %g s; killing processes %s, whose stacks follow",
            grace,
            stuck,
        )
        for pid in stuck:
            _signal(pid, DUMP_SIGNAL)
            time.sleep(0.3)  # one at a time, so their dumps do not interleave in the log
        for pid in reversed(stuck):
            _signal(pid, signal.SIGKILL)


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid` (Linux /proc; none elsewhere)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except OSError:
        return []


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
