"""Retention (SPEC 16): delete ended instances past DURABLE_RETENTION, with all they own, and expired events."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import QuerySet

from durable import db, journal
from durable.conf import settings
from durable.models import Event, Status, WorkflowInstance

logger = logging.getLogger(__name__)

# Instances per transaction: each batch is one short transaction, so no lock is held for long.
BATCH = 500
# A breath between batches, so the workers' own writes get in (SQLite has one writer at a time).
PAUSE_SECONDS = 0.01
# The backstop schedule's bound per run: well inside django-q2's task timeout, and it frees the
# worker it borrows soon; what is left waits for the next run.
BACKSTOP_SECONDS = 20.0
ENDED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)


@dataclass
class Estimate:
    """What a purge would delete now: instances by status (with the rows they own) and expired events."""

    instances: dict[str, int] = field(default_factory=dict)
    owned_rows: int = 0
    events: int = 0

    @property
    def total(self) -> int:
        return sum(self.instances.values())


@dataclass
class PurgeReport:
    instances: int = 0
    rows: int = 0  # every row deleted, instances and events included
    events: int = 0
    batches: int = 0
    seconds: float = 0.0
    finished: bool = True  # False when the time budget ran out first

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def configured() -> bool:
    return bool(settings.retention)


def cutoffs(moment: dt.datetime) -> dict[str, dt.datetime]:
    """The end time before which an instance of each status with a retention is deleted."""
    return {status: moment - kept for status, kept in settings.retention.items() if status in ENDED}


def expired(status: str, cutoff: dt.datetime) -> QuerySet[WorkflowInstance]:
    """Instances that ended with `status` before `cutoff` (through the durable_inst_finished index)."""
    return WorkflowInstance.objects.filter(status=status, finished_at__lt=cutoff)


def estimate(moment: dt.datetime | None = None, *, owned: bool = False) -> Estimate:
    """Count what a purge would delete; with `owned`, also the rows those instances own (slower)."""
    moment = moment or db.now()
    result = Estimate(instances={s: expired(s, c).count() for s, c in cutoffs(moment).items()})
    if owned:
        for status, cutoff in cutoffs(moment).items():
            rows = journal.owned_rows(expired(status, cutoff).values("id"))
            result.owned_rows += sum(r.count() for r in rows)
    result.events = Event.objects.filter(received_at__lt=moment - settings.event_retention).count()
    return result


def purge(
    *,
    batch_size: int = BATCH,
    seconds: float | None = None,
    pause: float = PAUSE_SECONDS,
    progress: Callable[[PurgeReport], object] | None = None,
) -> PurgeReport:
    """Delete ended instances past their status's retention with everything they own, then events
    past DURABLE_EVENT_RETENTION, `batch_size` of them per transaction; stop after `seconds`
    (at a batch boundary) when given, and sleep `pause` seconds between batches (more leaves the
    workers more room). `progress` is called after each batch."""
    started = time.monotonic()
    report = PurgeReport()
    moment = db.now()

    def out_of_time() -> bool:
        return seconds is not None and time.monotonic() - started >= seconds

    def tick() -> None:
        report.batches += 1
        report.seconds = time.monotonic() - started
        if progress is not None:
            progress(report)
        time.sleep(pause)

    for status, cutoff in cutoffs(moment).items():
        while not out_of_time():
            count, rows = _purge_batch(status, cutoff, batch_size)
            if not count:
                break
            report.instances += count
            report.rows += rows
            tick()
            if count < batch_size:
                break
    event_cutoff = moment - settings.event_retention
    while not out_of_time():
        # The recovery sweep's own event purge, run until nothing is left.
        count = journal.purge_events(event_cutoff, batch_size)
        report.events += count
        report.rows += count
        if not count:
            break
        tick()
        if count < batch_size:
            break
    report.finished = not out_of_time()
    report.seconds = time.monotonic() - started
    if report.rows:
        logger.info(
            "purged ended instances and expired events",
            extra={"instances": report.instances, "events": report.events, "rows": report.rows},
        )
    return report


def _purge_batch(status: str, cutoff: dt.datetime, size: int) -> tuple[int, int]:
    """Delete up to `size` instances that ended with `status` before `cutoff`, in one
    transaction; returns (instances, rows) deleted.

    The instances are read again under their row locks (PostgreSQL; SQLite runs one writer at
    a time), so one retried or resumed meanwhile is no longer ended and stays; one locked by an
    operator's transition is skipped, for the next batch or run.
    """
    with db.atomic():
        rows = expired(status, cutoff).order_by("finished_at")
        if db.is_postgres():
            rows = rows.select_for_update(skip_locked=True)
        ids = list(rows.values_list("id", flat=True)[:size])
        if not ids:
            return 0, 0
        owned = journal.forget_instances(ids)
        # The instances' own rows are gone already: no collector walking the relations again.
        deleted = WorkflowInstance.objects.filter(id__in=ids)._raw_delete(db.alias())
    logger.debug("purged a batch", extra={"status": status, "instances": deleted})
    return deleted, owned + deleted


def backstop() -> PurgeReport | None:
    """The backstop schedule's run: bounded by BACKSTOP_SECONDS; nothing at all (not one query)
    without DURABLE_RETENTION."""
    if not configured():
        return None
    return purge(seconds=BACKSTOP_SECONDS)
