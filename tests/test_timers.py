"""The timer sweep and the recovery sweep: due timers fire once, lost work is found again."""

from __future__ import annotations

import datetime as dt
import time

import pytest

import durable
from durable import db, journal, timers
from durable.models import Event, HistoryStep, Status, Timer, WorkflowInstance
from tests import event_workflows as ew
from tests import workflows

pytestmark = pytest.mark.django_db


def test_next_due__is_the_earliest_timer(drain):
    assert timers.next_due() is None
    late = durable.start(workflows.sleeper, 60)
    early = durable.start(workflows.sleeper, 30)
    drain()
    due = dict(Timer.objects.values_list("instance_id", "due_at"))
    assert timers.next_due() == due[early.instance_id] < due[late.instance_id]


def test_fire_due__records_the_sleep_once_and_wakes_the_instance(drain):
    handle = durable.start(workflows.sleeper, 0.2)
    drain(lambda: handle.status == Status.WAITING_FOR_TIMER)
    assert timers.fire_due() == 0, "not due yet"
    time.sleep(0.25)
    assert timers.fire_due() == 1
    assert timers.fire_due() == 0, "fired once"
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.run_after is not None and row.waiting_for is None
    assert HistoryStep.objects.filter(instance_id=handle.instance_id, kind="sleep").count() == 1
    drain(handle)
    assert handle.status == Status.COMPLETED


# Long enough that the drain putting them to sleep ends before the first falls due (the drain
# fires what is due, and on a loaded machine it took longer than 0.1 s).
NAP = 1.0


def all_due() -> None:
    """Wait until every timer is due by the clock the firing reads (on a loaded machine the
    drain itself can take longer than the sleeps, and the measured clock offset can move)."""
    latest = max(Timer.objects.values_list("due_at", flat=True))
    while db.now() < latest:
        time.sleep(0.01)


def test_fire_due__works_in_batches(drain):
    handles = [durable.start(workflows.sleeper, NAP) for _ in range(5)]
    drain(lambda: all(h.status == Status.WAITING_FOR_TIMER for h in handles))
    all_due()
    assert [timers.fire_due(limit=2), timers.fire_due(limit=2), timers.fire_due(limit=2)] == [2, 2, 1]


def test_sweep__fires_everything_due_and_reports(drain):
    handles = [durable.start(workflows.sleeper, NAP) for _ in range(3)]
    drain(lambda: all(h.status == Status.WAITING_FOR_TIMER for h in handles))
    all_due()
    report = timers.sweep()
    assert (report.fired, report.redelivered, report.purged) == (3, 0, 0)


def test_backstop_sweep__leaves_a_timer_just_due_to_the_loop_and_fires_an_overdue_one(drain):
    from durable.worker import tasks

    handles = [durable.start(workflows.sleeper, 0.1) for _ in range(2)]
    drain(lambda: all(h.status == Status.WAITING_FOR_TIMER for h in handles))
    all_due()
    # One fell due a moment ago (the timer loop's to fire), one long ago (a loop missed it).
    Timer.objects.filter(instance_id=handles[1].instance_id).update(due_at=db.now() - dt.timedelta(seconds=5))
    assert tasks.sweep()["fired"] == 1
    assert list(Timer.objects.values_list("instance_id", flat=True)) == [handles[0].instance_id]
    assert timers.sweep().fired == 1, "a sweep by hand (durable_sweep) fires whatever is due"


def test_recover__forgets_events_past_retention(settings):
    settings.DURABLE_EVENT_RETENTION = dt.timedelta(hours=1)
    old = {"id": "old", "source": "/t", "type": "thing.happened", "data": {}}
    new = {"id": "new", "source": "/t", "type": "thing.happened", "data": {}}
    journal.record_event(old, received_at=db.now() - dt.timedelta(hours=2), dispatched_at=db.now())
    journal.record_event(new, received_at=db.now(), dispatched_at=db.now())
    assert timers.recover().purged == 1
    assert list(Event.objects.values_list("event_id", flat=True)) == ["new"]


def test_send_event__stored_but_undelivered_event_is_delivered_by_the_sweep(drain):
    # A worker that dies between committing a step that sent an event and delivering it leaves
    # exactly this behind: the event row, not yet dispatched.
    handle = durable.start(ew.waits_once, "lost")
    drain()
    WorkflowInstance.objects.filter(id=handle.instance_id).update(created_at=db.now() - dt.timedelta(seconds=60))
    record = {"id": "orphan-event", "source": "/dead-worker", "type": "thing.happened", "data": {"key": "lost"}}
    journal.record_event(record, received_at=db.now() - dt.timedelta(seconds=5))
    report = timers.recover()
    assert report.redelivered == 1
    drain(handle)
    assert handle.result() == {"outcome": "event", "id": "orphan-event"}
    assert Event.objects.get(event_id="orphan-event").dispatched_at is not None
    assert timers.recover().redelivered == 0
