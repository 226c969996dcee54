"""The timer sweep (fire due timers) and the recovery sweep (lost wake-ups, undelivered and expired events)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from durable import db, journal, leases, metrics, queues, routing, slots
from durable.conf import settings
from durable.engine.types import TimerPurpose

logger = logging.getLogger(__name__)

FIRE_BATCH = 500
REDELIVER_BATCH = 500
PURGE_BATCH = 1000
RECOVERY_GRACE = dt.timedelta(seconds=1)
# The longest a firing on SQLite holds the database's one write lock waiting for its due time.
SQLITE_HOLD_SECONDS = 0.005


def next_due() -> dt.datetime | None:
    """When the earliest timer is due (an index lookup)."""
    return journal.next_due()


def fire_due(limit: int = FIRE_BATCH, *, overdue: dt.timedelta | None = None) -> int:
    """Fire timers that are due (with `overdue`, only those due that long ago already): record
    the sleep or the timeout, wake the instance."""
    return fire_and_take(limit, overdue=overdue).fired


@dataclass
class Firing:
    """What one firing did: how many timers, the instance claimed for the caller (its history
    loaded in the same transaction, under "history"), and how many seconds the work was done
    before `at` (negative: after it; None when nothing waited for `at`)."""

    fired: int = 0
    taken: dict[str, Any] | None = None
    slack: float | None = None


def fire_and_take(
    limit: int = FIRE_BATCH,
    *,
    owner: str | None = None,
    at: dt.datetime | None = None,
    overdue: dt.timedelta | None = None,
) -> Firing:
    """Fire due timers; with `owner`, also claim one woken instance for it in the same transaction.

    The timer loop runs that one itself at once, without a trip through django-q2; a worker is
    asked for the others. With `at` (a moment a few milliseconds ahead) the timers due by then
    are fired now, recorded at `at`, and committed once `at` has come: nothing is seen to end
    before its due time, and all the work but the commit is done when it comes. SQLite has one
    writer, so there it is held back for at most SQLITE_HOLD_SECONDS.
    """
    moment = db.now()
    taken = None
    slack = None
    with db.atomic():
        by = _fire_by(moment, at)
        due = journal.due_timers(by - overdue if overdue else by, limit, skip_locked=db.is_postgres())
        if not due:
            return Firing()
        # Instance rows before wait rows, as cancel and dispatch lock them; skip busy ones.
        held = leases.lock_instances({t.instance_id for t in due}, skip_locked=True)
        due = [t for t in due if t.instance_id in held]
        # Recorded at the due moment (`by`), seen by nobody before the commit, which waits for it.
        woken = journal.fire(due, by)
        # Delayed starts in a queue with limits go in line rather than straight to a worker.
        woken -= queues.enter_line({t.instance_id for t in due if t.purpose == TimerPurpose.START})
        if owner is not None and woken:
            first = min(woken)
            taken = leases.wake_and_claim(first, owner, float(settings.LEASE_SECONDS), moment)
            if taken is not None:
                woken = woken - {first}
                # Its run starts from this history the moment the commit lands.
                taken["history"] = journal.load_history(first)
        leases.wake(woken, moment, waiting_for=None)
        if woken:
            db.request_run()
        if by > moment:
            slack = _wait_until(by)
    if metrics.enabled():
        committed = db.now()
        metrics.timers_fired([(committed - t.due_at).total_seconds() for t in due])
    logger.debug("timers fired", extra={"count": len(due), "woken": len(woken) + (taken is not None)})
    return Firing(len(due), taken, slack)


def _fire_by(moment: dt.datetime, at: dt.datetime | None) -> dt.datetime:
    """The moment a firing records: `at` when it is ahead (and, on SQLite, near enough)."""
    if at is None or at <= moment:
        return moment
    if not db.is_postgres() and (at - moment).total_seconds() > SQLITE_HOLD_SECONDS:
        return moment
    return at


def _wait_until(moment: dt.datetime) -> float:
    """Sleep until this machine's clock reaches `moment`; return how long that was (negative:
    the moment had passed by that much)."""
    slack = left = (moment - db.now()).total_seconds()
    while left > 0:
        time.sleep(left)
        left = (moment - db.now()).total_seconds()
    return slack


@dataclass
class SweepReport:
    fired: int = 0
    requeued: bool = False
    redelivered: int = 0
    purged: int = 0
    failed: int = 0
    scheduled: int = 0


def recover(*, purge: bool = True) -> SweepReport:
    """Re-request work nobody holds (instances, parallel steps), deliver events a dead process
    stored but never delivered, and (with `purge`) forget events past DURABLE_EVENT_RETENTION."""
    report = SweepReport()
    moment = db.now()
    stale = moment - RECOVERY_GRACE
    try:
        queues.look()  # a line a lost admission left behind (the timer loop admits on time)
    except Exception:
        logger.exception("admitting queued instances failed; the next sweep tries again")
        report.failed += 1
    if leases.has_stale_work(stale):
        report.requeued = True
        db.request_run(force=True)
    step_due = journal.next_step_due()
    if step_due is not None and step_due < stale:
        # A parallel step past its retry backoff, or left by a worker that stopped (its lease ran out).
        report.requeued = True
        db.request_steps(1)
    for seq in journal.undispatched(stale, REDELIVER_BATCH):
        # One event that cannot be delivered must not stop the others, nor the purge.
        try:
            routing.deliver(seq)
        except Exception:
            logger.exception("redelivering a stored event failed; the next sweep tries again", extra={"seq": seq})
            report.failed += 1
        else:
            report.redelivered += 1
    if not purge:
        return report
    try:
        report.purged = journal.purge_events(moment - settings.event_retention, PURGE_BATCH)
    except Exception:
        logger.exception("purging expired events failed; the next sweep tries again")
        report.failed += 1
    return report


def sweep(*, overdue: dt.timedelta | None = None) -> SweepReport:
    """One full sweep: fire every due timer (with `overdue`, those due that long ago already),
    then recover."""
    fired = 0
    while True:
        count = fire_due(overdue=overdue)
        fired += count
        if count < FIRE_BATCH:
            break
    report = recover()
    report.fired = fired
    report.scheduled = slots.fire_due()
    return report
