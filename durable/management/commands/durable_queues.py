"""durable_queues: every queue as a table (limits, in progress, pending, oldest pending age, rate used)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from durable import db, queues, words
from durable.management.base import DurableCommand

HEADERS = ("QUEUE", "CONCURRENCY", "PER KEY", "RATE", "IN PROGRESS", "PENDING", "OLDEST PENDING", "RATE USED")
WIDTHS = (40, 11, 7, 8, 11, 9, 14, 9)


def limit(value: Any) -> str:
    return "-" if value is None else str(value)


class Command(DurableCommand):
    help = (
        "List the queues of DURABLE_QUEUES (and 'default'): their limits (concurrency, per_key, rate), the "
        "instances in progress (holding a slot: started and not ended), those pending in line, how long the "
        "oldest has waited, and the starts within the current rate window. Queues without limits keep no line."
    )

    def run(self, **options: Any) -> None:
        moment = db.now()
        rows = queues.overview()
        table: list[Sequence[Any]] = [
            (
                view.name,
                limit(view.limits.concurrency),
                limit(view.limits.per_key),
                limit(view.limits.rate_text),
                str(view.in_progress) if view.limits.limited else "-",
                str(view.pending),
                words.span((moment - view.oldest_pending_at).total_seconds()) if view.oldest_pending_at else "-",
                limit(view.rate_used),
            )
            for view in rows
        ]
        self.write_table(HEADERS, table, WIDTHS)
        self.stdout.write(f"{len(rows)} queue(s), {sum(v.pending for v in rows)} instance(s) pending in line.")
