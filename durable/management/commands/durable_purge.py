"""durable_purge: delete ended instances past DURABLE_RETENTION and events past DURABLE_EVENT_RETENTION."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from durable import db, retention
from durable.conf import RETENTION_EXAMPLE, settings
from durable.management.base import DurableCommand


class Command(DurableCommand):
    help = (
        "Delete the ended instances older than their status's DURABLE_RETENTION (days since they ended), "
        "with their history, waits, timers, deliveries, published values and the events sent to them alone, "
        "then the events older than DURABLE_EVENT_RETENTION. Runs in short transactions of --batch-size "
        "instances, printing progress after each, so the workers keep running meanwhile. The worker's hourly "
        "backstop schedule does the same a little at a time."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; change nothing.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=retention.BATCH,
            metavar="N",
            help=f"Instances (or events) deleted per transaction (default {retention.BATCH}).",
        )
        parser.add_argument(
            "--pause",
            type=float,
            default=retention.PAUSE_SECONDS,
            metavar="SECONDS",
            help=f"Seconds between batches, to leave the workers more room (default {retention.PAUSE_SECONDS}).",
        )

    def run(self, **options: Any) -> None:
        size = options["batch_size"]
        if size < 1:
            raise CommandError(f"--batch-size must be 1 or more, not {size}.")
        if not options["pause"] >= 0:
            raise CommandError(f"--pause must be 0 or more seconds, not {options['pause']}.")
        try:
            kept = settings.retention
        except ImproperlyConfigured as exc:
            raise CommandError(f"{exc} Nothing was deleted.") from exc
        if not kept:
            self.stdout.write(
                f"DURABLE_RETENTION is not set, so every instance is kept. To delete ended instances after some "
                f"days, set {RETENTION_EXAMPLE} in your settings (a status left out is kept)."
            )
        moment = db.now()
        plan = retention.estimate(moment, owned=options["dry_run"])
        for status, cutoff in retention.cutoffs(moment).items():
            self.stdout.write(
                f"{plan.instances[status]:,} {status} instance(s) ended before {cutoff:%Y-%m-%d %H:%M} UTC "
                f"({settings.RETENTION[status]:g} day(s) of retention)."
            )
        self.stdout.write(
            f"{plan.events:,} event(s) received over {settings.event_retention} ago (DURABLE_EVENT_RETENTION)."
        )
        if options["dry_run"]:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Dry run: would delete {plan.total:,} instance(s) with {plan.owned_rows:,} row(s) they own, "
                    f"and {plan.events:,} expired event(s). Nothing was changed."
                )
            )
            return

        def progress(report: retention.PurgeReport) -> None:
            self.stdout.write(
                f"batch {report.batches}: {report.instances:,} / {plan.total:,} instance(s) and "
                f"{report.events:,} / {plan.events:,} event(s) deleted, {report.rows:,} row(s) in "
                f"{report.seconds:.1f} s"
            )
            self.stdout.flush()

        report = retention.purge(batch_size=size, pause=options["pause"], progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {report.instances:,} instance(s) and {report.events:,} expired event(s): {report.rows:,} "
                f"row(s) in {report.batches} batch(es), {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s)."
            )
        )
