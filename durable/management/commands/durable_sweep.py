"""durable_sweep: one timer and recovery sweep, and with --run the due instances, in this process."""

from __future__ import annotations

from typing import Any

from durable import timers
from durable.management.base import DurableCommand


class Command(DurableCommand):
    help = (
        "Run one timer and recovery sweep, as durable_worker does every second and the django-q2 backstop "
        "schedule every minute: fire every due timer (sleeps, wait timeouts, retry backoffs), ask the "
        "workers to run due instances nobody holds, deliver events a dead process stored but never "
        "delivered, and purge events older than DURABLE_EVENT_RETENTION. Prints what it did."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--run",
            action="store_true",
            help="Then also run the instances that are due in this process, until each waits or ends (for a "
            "deployment or a debugging session without a worker). Timers that fall due later need another sweep.",
        )

    def run(self, **options: Any) -> None:
        report = timers.sweep()
        self.stdout.write(
            self.style.SUCCESS(
                f"Fired {report.fired} timer(s); redelivered {report.redelivered} stored event(s); "
                f"purged {report.purged} expired event(s)."
            )
        )
        if report.requeued:
            self.stdout.write("Asked the workers to run due instances that nobody held.")
        if options["run"]:
            from durable.worker import loop

            # run_once sweeps again before it runs: cheap, and it fires what fell due meanwhile.
            ran = loop.run_once()
            self.stdout.write(self.style.SUCCESS(f"Ran {ran} instance(s) in this process."))
