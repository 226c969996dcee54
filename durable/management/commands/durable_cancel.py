"""durable_cancel: end a workflow instance that has not ended yet."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from durable import client
from durable.management.base import TransitionCommand


class Command(TransitionCommand):
    help = (
        "Cancel a workflow instance that has not ended: its waits and timers are withdrawn and events "
        "that arrive later do not revive it. Its armed compensations run first, newest first (it is "
        "compensating until they have), unless --no-compensate. Fails for an instance that has completed, "
        "failed or was cancelled already."
    )
    transition = "cancel"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--no-compensate",
            action="store_true",
            help="Cancel at once without running the instance's armed compensations.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["no_compensate"] and not options.get("instance_id"):
            raise CommandError("--no-compensate works on one instance ID, not with selectors.")
        super().handle(*args, **options)

    def operate(self, options: dict[str, Any]) -> None:
        reason = options.get("reason") or ""
        client.operate(options["instance_id"], "cancel", reason, compensate=not options["no_compensate"])
