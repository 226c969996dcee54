"""durable_replay: replay recorded histories against the current code and list those it no longer matches."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from durable import replay_check, replay_export
from durable.exceptions import DurableError

BAD_INPUT = 2  # like diff: 1 says the histories differ, 2 that the check could not run


class Command(BaseCommand):
    help = (
        "Replay recorded histories (from the database, or exported with durable_export) against the current "
        "code without running any step, and list every instance whose code no longer matches its history: "
        "the step, what the history recorded and what the code called. Exits 1 if any does (a check to run "
        "before deploying), 2 on bad input."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workflow", metavar="NAME", help="Only instances of this workflow.")
        parser.add_argument(
            "--status",
            action="append",
            metavar="STATUS",
            help="Only instances in this status, or active (any that has not ended); repeat or separate with commas.",
        )
        parser.add_argument(
            "--file",
            nargs="+",
            action="extend",
            metavar="FILE",
            help="Replay these exported histories instead of the database's.",
        )
        parser.add_argument("--batch-size", type=int, default=replay_export.BATCH, help="Instances loaded per query.")
        parser.add_argument("--progress", type=int, default=1000, metavar="N", help="Say how far it got every N.")

    def handle(self, *args: Any, **options: Any) -> None:
        began = time.monotonic()
        try:
            total, records = self._records(options)
            counts = self._check(total, records, max(options["progress"], 1), began)
        except DurableError as exc:
            raise CommandError(str(exc), returncode=BAD_INPUT) from exc
        seconds = time.monotonic() - began
        summary = (
            f"Replayed {sum(counts.values())} instance(s) in {seconds:.2f} s: {counts[replay_check.MATCH]} match, "
            f"{counts[replay_check.MISMATCH]} mismatched, {counts[replay_check.UNKNOWN_WORKFLOW]} of an unknown "
            f"workflow, {counts[replay_check.SKIPPED]} skipped (erased)."
        )
        if self.failing:
            self.stdout.write(self.style.ERROR(summary))
            raise CommandError(
                f"{self.failing} instance(s) no longer match the code: deploying it would pause them.", returncode=1
            )
        self.stdout.write(self.style.SUCCESS(summary))

    def _records(self, options: dict[str, Any]):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=BAD_INPUT)
        statuses = replay_export.statuses(options["status"])
        workflow = options["workflow"]
        if not options["file"]:
            return replay_export.from_database(workflow=workflow, status=statuses, batch=options["batch_size"])
        loaded = [replay_export.read_file(path) for path in options["file"]]  # every file checked first
        chosen = [
            r
            for r in loaded
            if (not workflow or r.workflow_name == workflow) and (not statuses or r.status in statuses)
        ]
        return len(chosen), iter(chosen)

    def _check(self, total: int, records, every: int, began: float) -> dict[str, int]:
        counts = dict.fromkeys(
            (replay_check.MATCH, replay_check.MISMATCH, replay_check.UNKNOWN_WORKFLOW, replay_check.SKIPPED), 0
        )
        self.failing = 0
        for done, record in enumerate(records, start=1):
            try:
                found = replay_check.check(record)
            except Exception as exc:  # one unreadable history must not hide the others' findings
                found = replay_check.failed_check(record, exc)
            counts[found.verdict] += 1
            self.failing += found.fails
            if found.verdict != replay_check.MATCH:
                self._report(found)
            if done % every == 0:
                self.stderr.write(f"  {done} of {total} replayed ({time.monotonic() - began:.1f} s)")
        return counts

    def _report(self, found: replay_check.Finding) -> None:
        where = f" [{found.source}]" if found.source else ""
        label = found.verdict.upper().replace("_", " ")
        line = f"{label}  {found.instance_id}  {found.workflow_name}: {found.message}{where}"
        self.stdout.write(self.style.ERROR(line) if found.fails else self.style.WARNING(line))
