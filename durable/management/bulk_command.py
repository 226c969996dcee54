"""The bulk side of durable_cancel / pause / resume / retry: select by filter, run in batches, show progress."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from durable import bulk

PROGRESS_SECONDS = 1.0


def run(command: BaseCommand, name: str, selectors: dict[str, Any], options: dict[str, Any]) -> None:
    """Request the bulk operation and run it here (or in the worker with --background), printing progress."""
    op = bulk.operation(name)
    job = bulk.request(
        name,
        selectors,
        everything=bool(options.get("all")),
        reason=options.get("reason") or "",
        requested_by="management command",
    )
    out, style = command.stdout, command.style
    if not job.total:
        out.write(f"No instance matches {_said(job)}; nothing to {name}.")
        return
    if options.get("background"):
        from durable.worker import bulk as jobs

        bulk.to_background(job.pk)
        jobs.enqueue(job.pk)
        out.write(style.SUCCESS(f"Bulk {name} #{job.pk} of {job.total} instances handed to the worker."))
        return
    out.write(f"{op.name.capitalize()} {job.total} instance{'s' if job.total != 1 else ''} matching {_said(job)}…")
    shown = [time.monotonic()]

    def progress(now: bulk.BulkOperation) -> None:
        if time.monotonic() - shown[0] >= PROGRESS_SECONDS:
            shown[0] = time.monotonic()
            out.write(f"  {now.handled}/{now.total} ({now.done} {op.done.lower()}, {now.skipped} skipped)")
            out.flush()

    job = bulk.run(job.pk, progress=progress)
    said = f"{op.done} {job.done} of {job.total}; {job.skipped} skipped (their status does not allow it)"
    if job.failed:
        out.write(style.ERROR(f"{said}; {job.failed} failed, the last: {job.last_error}"))
    else:
        out.write(style.SUCCESS(f"{said}."))


def _said(job: bulk.BulkOperation) -> str:
    return ", ".join(f"{k}={v}" for k, v in job.filters.items()) or "all"
