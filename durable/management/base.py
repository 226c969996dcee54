"""Base classes of the durable_* commands: domain errors become CommandError, tables get printed."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from durable import client
from durable.exceptions import DurableError
from durable.inspect import summary
from durable.management import bulk_command
from durable.management import format as fmt
from durable.transitions import OPERATIONS


class DurableCommand(BaseCommand):
    """A command whose `run` calls `durable.client`; any DurableError ends it with its message."""

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self.run(**options)
            self.stdout.flush()
        except DurableError as exc:
            raise CommandError(str(exc)) from exc
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, and keep the interpreter's own
            # flush at exit from failing on the closed pipe too.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)

    def run(self, **options: Any) -> None:
        raise NotImplementedError

    def write_table(
        self, headers: Sequence[str], rows: list[Sequence[Any]], width: int | Sequence[int] = fmt.CELL
    ) -> None:
        header, rule, *lines = fmt.table(headers, rows, width)
        self.stdout.write(self.style.MIGRATE_LABEL(header))
        self.stdout.write(rule)
        for line in lines:
            self.stdout.write(line)


class TransitionCommand(DurableCommand):
    """cancel / pause / resume / retry: one instance id, maybe a reason, one client call, then the
    instance; or, with selectors (--status, --workflow, --business-key, --all), every instance they
    match, in batches with progress (durable.bulk)."""

    transition = ""  # its name in durable.transitions.OPERATIONS

    def add_arguments(self, parser) -> None:
        parser.add_argument("instance_id", metavar="ID", nargs="?", help="The workflow instance id.")
        if OPERATIONS[self.transition].takes_reason:
            parser.add_argument(
                "--reason", default="", help="Why, for the instance's incident log and the admin (optional)."
            )
        selectors = parser.add_argument_group("bulk", "Instead of an ID, every instance these select (all must match).")
        selectors.add_argument("--status", action="append", help="Instances in this status (repeat for several).")
        selectors.add_argument("--workflow", help="Instances of this workflow.")
        selectors.add_argument("--business-key", help="Instances with this business key, exactly as stored.")
        selectors.add_argument("--code-version", help="Instances started with this DURABLE_CODE_VERSION.")
        selectors.add_argument("--all", action="store_true", help="Every instance, when no other selector is given.")
        selectors.add_argument(
            "--background", action="store_true", help="Hand the work to durable_worker and print the job id."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        selectors = {
            "status": options.get("status"),
            "workflow": options.get("workflow"),
            "business_key": options.get("business_key"),
            "code_version": options.get("code_version"),
        }
        if not any(selectors.values()) and not options.get("all"):
            if not options.get("instance_id"):
                raise CommandError("Give an instance ID, or selectors (--status, --workflow, --business-key, --all).")
            super().handle(*args, **options)
            return
        if options.get("instance_id"):
            raise CommandError("Give an instance ID or selectors, not both.")
        try:
            bulk_command.run(self, self.transition, selectors, options)
        except DurableError as exc:
            raise CommandError(str(exc)) from exc

    def operate(self, options: dict[str, Any]) -> None:
        client.operate(options["instance_id"], self.transition, options.get("reason") or "")

    def run(self, **options: Any) -> None:
        self.operate(options)
        row = summary(options["instance_id"])
        self.stdout.write(self.style.SUCCESS(f"Instance {row.instance_id} ({row.workflow_name}) is now {row.status}."))
