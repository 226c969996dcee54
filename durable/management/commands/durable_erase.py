"""durable_erase: replace an ended instance's data (or every instance of a business key's) by "[erased]"."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from durable import erasure
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
