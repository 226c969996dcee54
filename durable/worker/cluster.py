"""Start and stop the django-q2 cluster beside the timer loop, as durable_worker does."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from django.db import connections

from durable.worker import loop, schedules

logger = logging.getLogger(__name__)


def serve(*, with_cluster: bool = True, on_ready=None) -> int:
    """Run the django-q2 cluster and the timer loop until SIGTERM or SIGINT; returns timers fired.

    Args:
        with_cluster: False runs only the timer loop (for deployments that run `qcluster` themselves).
        on_ready: called once both are running, e.g. to print a line.
    """
    schedules.ensure_backstop()
    # The cluster forks its processes: a connection opened here must not be shared with them
    # (on PostgreSQL the children's exits close it under the parent, and the other way round).
    connections.close_all()
    stop = threading.Event()
    cluster = None
    if with_cluster:
        from django_q.cluster import Cluster

        cluster = Cluster()
        cluster.start()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    # After Cluster(), which installs handlers of its own: ours stop the loop, then the cluster.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if on_ready is not None:
        on_ready()
    timer_loop = loop.TimerLoop(stop)
    try:
        timer_loop.run()
    finally:
        if cluster is not None:
            stop_cluster(cluster)
    return timer_loop.fired


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
