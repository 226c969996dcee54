"""durable_worker: the django-q2 cluster plus the timer loop that fires timers on time."""

from __future__ import annotations

from django.core.management.base import BaseCommand


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
        from durable import schedules as cron_schedules
        from durable.worker import cluster, loop, schedules

        cron_schedules.sync_code()

        if options["run_once"]:
            schedules.ensure_backstop()
            ran = loop.run_once()
            self.stdout.write(self.style.SUCCESS(f"Ran {ran} instance(s); fired due timers and swept."))
            return

        def ready() -> None:
            self.stdout.write(self.style.SUCCESS("durable worker running: cluster and timer loop. Ctrl-C stops it."))
            self.stdout.flush()

        fired = cluster.serve(with_cluster=not options["no_cluster"], on_ready=ready)
        self.stdout.write(f"durable worker stopped; it fired {fired} timer(s).")
