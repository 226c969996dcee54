"""durable_worker: the django-q2 cluster plus the timer loop that fires timers on time."""

from __future__ import annotations

import logging
import signal
import threading
import time

from django.core.management.base import BaseCommand

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run durable's worker: a django-q2 cluster that runs workflow instances, and beside it a "
        "timer loop that fires sleeps, wait timeouts and retry backoffs when due and re-queues "
        "work a dead worker left behind. Stop it with Ctrl-C or SIGTERM."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--run-once",
            action="store_true",
            help="Fire due timers, sweep, run every due instance in this process, then exit.",
        )
        parser.add_argument(
            "--no-cluster",
            action="store_true",
            help="Only the timer loop; run the cluster yourself with `manage.py qcluster`.",
        )

    def handle(self, *args, **options) -> None:
        from durable.worker import loop, schedules

        schedules.ensure_backstop()
        if options["run_once"]:
            ran = loop.run_once()
            self.stdout.write(self.style.SUCCESS(f"Ran {ran} instance(s); fired due timers and swept."))
            return
        stop = threading.Event()
        cluster = None
        if not options["no_cluster"]:
            from django_q.cluster import Cluster

            cluster = Cluster()
            cluster.start()

        def on_signal(signum, frame) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.stdout.write(self.style.SUCCESS("durable worker running: cluster and timer loop. Ctrl-C stops it."))
        self.stdout.flush()
        timer_loop = loop.TimerLoop(stop)
        try:
            timer_loop.run()
        finally:
            if cluster is not None:
                _stop_cluster(cluster)
        self.stdout.write(f"durable worker stopped; it fired {timer_loop.fired} timer(s).")


def _stop_cluster(cluster, grace: float = 60.0) -> None:
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
