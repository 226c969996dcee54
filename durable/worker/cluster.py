"""Start and stop the django-q2 cluster beside the timer loop, as durable_worker does."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from typing import Any

from django.db import connections

from durable import health
from durable.worker import broker, loop, schedules, supervise

logger = logging.getLogger(__name__)

SUPERVISE_SECONDS = 0.5
TIMER_STOP_GRACE = 30.0

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
                stop_cluster(cluster)
        return timer_loop.fired
    timer_process = supervise.TimerProcess()
    timer_process.start()
    if on_ready is not None:
        on_ready()
    try:
        while not stop.wait(SUPERVISE_SECONDS):
            timer_process.check()
    finally:
        timer_process.terminate()
        if cluster is not None:
            stop_cluster(cluster)
        timer_process.stop(TIMER_STOP_GRACE)
    return int(timer_process.fired.value)


def stop_cluster(cluster: Any, grace: float = 60.0) -> None:
    """Stop the cluster, without hanging when a group-wide signal already killed the sentinel.

    multiprocessing's Event.set() waits for its sleepers to wake; a dead sentinel never does.
    """
    time.sleep(0.2)
    if not cluster.sentinel.is_alive():
        return
    stopper = threading.Thread(target=cluster.stop, name="durable-cluster-stop", daemon=True)
    stopper.start()
    stopper.join(grace)
    if stopper.is_alive():
        logger.error("the django-q2 cluster did not stop within %s s; killing its sentinel", grace)
        cluster.sentinel.kill()
