"""durable_erase: replace an ended instance's data (or every instance of a business key's) by "[erased]"."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from durable import erasure
from durable.exceptions import DurableError
from durable.management import bulk_command
from durable.management.base import DurableCommand


class Command(DurableCommand):
    help = (
        "Erase the data of an ended workflow instance, or of every instance of a business key: inputs, results, "
        'errors, the data of every step, published values and the events only they received become "[erased]"; '
        "positions, kinds, names, times and statuses stay. An active instance is refused unless --cancel. "
        "Erasing an erased instance changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("instance_id", metavar="ID", nargs="?", help="The workflow instance id.")
        parser.add_argument("--business-key", metavar="K", help="Erase every instance of this business key instead.")
        parser.add_argument("--reason", default="", help="Why (the request it answers), kept as the erase reason.")
        parser.add_argument(
            "--cancel",
            action="store_true",
            help="Cancel an active instance first, at once and without its compensations.",
        )
        selectors = parser.add_argument_group(
            "bulk",
            "Instead, every ended instance these select (with --business-key as one more filter); active ones are "
            "skipped.",
        )
        selectors.add_argument("--status", action="append", help="Instances in this status (repeat for several).")
        selectors.add_argument("--workflow", help="Instances of this workflow.")
        selectors.add_argument("--all", action="store_true", help="Every instance, when no other selector is given.")
        selectors.add_argument(
            "--background", action="store_true", help="Hand the work to durable_worker and print the job id."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options.get("status") or options.get("workflow") or options.get("all")):
            super().handle(*args, **options)
            return
        if options.get("instance_id") or options.get("cancel"):
            raise CommandError("Selectors erase ended instances in bulk: give no ID and no --cancel with them.")
        selectors = {k: options.get(k) for k in ("status", "workflow", "business_key")}
        try:
            bulk_command.run(self, "erase", selectors, options)
        except DurableError as exc:
            raise CommandError(str(exc)) from exc

    def run(self, **options: Any) -> None:
        instance_id, key = options["instance_id"], options["business_key"]
        if (instance_id is None) == (key is None):
            raise CommandError("Give an instance ID or --business-key K, exactly one of them.")
        target = {"business_key": key} if key is not None else {"instance_id": instance_id}
        if key is not None:
            self.stdout.write(f"Erasing the instances of business key {key!r}...")
        done = erasure.erase(reason=options["reason"], cancel=options["cancel"], **target)
        for pk in done.erased:
            self.stdout.write(self.style.SUCCESS(f"Erased instance {pk}."))
        for pk in done.already:
            self.stdout.write(f"Instance {pk} was erased already; nothing changed.")
        if not done.instance_ids:
            self.stdout.write(self.style.WARNING(f"No instance has business key {key!r}; nothing to erase."))
