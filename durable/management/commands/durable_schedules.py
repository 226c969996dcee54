"""durable_schedules: every cron schedule as a table (name, workflow, cron, timezone, next and last slot, state)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from durable import schedules
from durable.management import format as fmt
from durable.management.base import DurableCommand

HEADERS = ("NAME", "WORKFLOW", "CRON", "TIMEZONE", "NEXT SLOT", "LAST SLOT", "LAST RUN", "STATE")
WIDTHS = (30, 30, 20, 20, 20, 20, 50, 8)


def state(row: Any) -> str:
    """active, paused, or retired (a code schedule no longer in the code)."""
    if row.retired_at is not None:
        return "retired"
    return "paused" if row.paused else "active"


class Command(DurableCommand):
    help = (
        "List the cron schedules by name: workflow, cron, timezone, next and last slot (in TIME_ZONE), the last "
        "run's instance id, and whether it is active, paused or retired (left the code). Code schedules "
        "are written when durable_worker starts."
    )

    def run(self, **options: Any) -> None:
        rows = schedules.all()
        if not rows:
            self.stdout.write("No schedules.")
            return
        table: list[Sequence[Any]] = [
            (
                r.name,
                r.workflow_name,
                r.cron,
                r.timezone,
                fmt.when(r.next_slot_at),
                fmt.when(r.last_slot_at),
                r.last_instance_id or "-",
                state(r),
            )
            for r in rows
        ]
        self.write_table(HEADERS, table, WIDTHS)
        self.stdout.write(f"{len(rows)} schedule(s), {sum(r.paused for r in rows)} paused.")
