"""durable_fork: restart an instance from a step, as a new instance that keeps the steps before it."""

from __future__ import annotations

from typing import Any

from durable import forking
from durable.inspect import summary
from durable.management.base import DurableCommand


class Command(DurableCommand):
    help = (
        "Restart a workflow instance from a step: a new instance of the same workflow and input keeps the "
        "instance's steps before --from N as recorded (they are not run again) and runs step N onward with the "
        "code deployed now. The instance must be completed, failed, cancelled or paused; it is left as it is."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("instance_id", metavar="ID", help="The workflow instance to restart from a step.")
        parser.add_argument(
            "--from",
            dest="from_position",
            type=int,
            required=True,
            metavar="N",
            help="The first step to run again (0 runs it all again; durable_show lists the positions).",
        )
        parser.add_argument("--id", dest="new_id", default=None, help="The new instance's id (default: ID:fork-<n>).")

    def run(self, **options: Any) -> None:
        handle = forking.fork(options["instance_id"], options["from_position"], instance_id=options["new_id"])
        fork = summary(handle.instance_id)
        self.stdout.write(
            self.style.SUCCESS(
                f"Forked {options['instance_id']} as {fork.instance_id} from step {fork.fork_position}; it is "
                f"{fork.status} and runs on a worker."
            )
        )
