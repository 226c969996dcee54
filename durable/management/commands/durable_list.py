"""durable_list: the newest workflow instances as a table, filtered by status, workflow, key and code version."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from durable import db, inspect, words
from durable.engine.registry import registry
from durable.inspect import ACTIVE, Status
from durable.management import format as fmt
from durable.management.base import DurableCommand

HEADERS = ("ID", "WORKFLOW", "STATUS", "WAITING FOR", "CREATED", "UPDATED")
WIDTHS = (40, 30, 17, 64, 19, 19)  # a row of uuid ids stays within about 180 columns


class Command(DurableCommand):
    help = (
        "List workflow instances, newest first, as a table: id, workflow, status, what it waits for, "
        "created and updated (in TIME_ZONE). Shows at most --limit rows and says when there are more."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--status",
            action="append",
            metavar="STATUS",
            help=f"Only instances in this status: {', '.join(Status.values)}, or active (any that has not "
            "ended). Repeat it or separate statuses with commas for several.",
        )
        parser.add_argument("--workflow", metavar="NAME", help="Only instances of this workflow.")
        parser.add_argument(
            "--business-key",
            metavar="KEY",
            help='Only instances with this business key, as stored (a model instance as "app_label.model:pk").',
        )
        parser.add_argument(
            "--code-version", metavar="VERSION", help="Only instances started with this DURABLE_CODE_VERSION."
        )
        parser.add_argument("--limit", type=int, default=50, metavar="N", help="Show at most N instances (default 50).")

    def run(self, **options: Any) -> None:
        limit, workflow = options["limit"], options["workflow"]
        if limit < 1:
            raise CommandError(f"--limit must be at least 1, not {limit}.")
        page = inspect.list_instances(
            statuses=_statuses(options["status"]) or None,
            workflow=workflow or None,
            business_key=options["business_key"] or None,
            code_version=options["code_version"] or None,
            limit=limit,
            payloads=False,
        )
        if not page.rows:
            unknown = workflow and workflow not in registry.workflows
            hint = f" No workflow named '{workflow}' is registered." if unknown else ""
            self.stdout.write(f"No instances match.{hint}")
            return
        now = db.now()
        self.write_table(HEADERS, [_row(row, now) for row in page.rows], WIDTHS)
        if page.more:
            more = f"Showing the newest {limit}; there are more. Raise --limit or filter."
            self.stdout.write(self.style.NOTICE(more))


def _row(row: inspect.Summary, now) -> tuple:
    return (
        row.instance_id,
        row.workflow_name,
        row.status,
        # A compensating instance says how far its compensations are, as the viewer's row does.
        words.compensation_words(row.compensation, row.status)
        if row.status == Status.COMPENSATING
        else fmt.waiting(row.waiting_for, now, WIDTHS[3]),
        fmt.when(row.created_at),
        fmt.when(row.updated_at),
    )


def _statuses(values: list[str] | None) -> set[str]:
    """--status values (repeated or comma-separated; 'active' for every status that has not ended)."""
    wanted: set[str] = set()
    for name in (part.strip() for value in values or [] for part in value.split(",")):
        if name == "active":
            wanted |= ACTIVE
        elif name in Status.values:
            wanted.add(name)
        elif name:
            raise CommandError(f"Unknown status {name!r}. Use one of: {', '.join(Status.values)}, or active.")
    return wanted
