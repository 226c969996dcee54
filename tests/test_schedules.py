"""Schedules on the real database: the runtime API, syncing the code's, and firing by overlap and catchup."""

from __future__ import annotations

import datetime as dt

import pytest

import durable
from durable import schedules, slots
from durable.models import Schedule, Status, WorkflowInstance
from tests import schedule_workflows
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
HOURLY = "0 * * * *"


def _due(name: str, first: dt.datetime) -> None:
    """Pretend the worker was away: the next slot is `first`."""
    Schedule.objects.filter(name=name).update(next_slot_at=first)


def _runs(name: str) -> list[str]:
    return sorted(WorkflowInstance.objects.filter(schedule_name=name).values_list("id", flat=True))


def test_create__stores_a_row_with_its_next_slot():
    row = schedules.create("nightly", schedule_workflows.scheduled_report, cron="0 3 * * *", timezone="Europe/Berlin")
    assert row.source == "runtime" and row.workflow_name == "scheduled_report"
    assert row.next_slot_at is not None and row.next_slot_at.astimezone(dt.UTC).hour == 2  # 03:00 CET
    assert [r.name for r in schedules.all()] == ["nightly"] and schedules.get("nightly") == row


@pytest.mark.parametrize(
    ("name", "options", "says"),
    [
        ("bad-cron", {"cron": "0 25 * * *"}, "Invalid cron"),
        ("bad-zone", {"cron": HOURLY, "timezone": "Europe/Atlantis"}, "Unknown timezone"),
        ("", {"cron": HOURLY}, "non-empty"),
        ("n" * 151, {"cron": HOURLY}, "at most 150"),
        ("bad-overlap", {"cron": HOURLY, "overlap": "sometimes"}, "overlap must be"),
        ("bad-option", {"cron": HOURLY, "when": "now"}, "Unknown schedule option"),
        ("bad-args", {"cron": HOURLY, "kwargs": {"nope": 1}}, "do not fit"),
    ],
)
def test_create__bad_input_is_invalid_argument_and_stores_nothing(name, options, says):
    with pytest.raises(durable.InvalidArgument, match=says):
        schedules.create(name, "scheduled_report", **options)
    assert not Schedule.objects.exists()


def test_create__a_taken_name_or_unknown_workflow_is_refused():
    schedules.create("once", "scheduled_report", cron=HOURLY)
    with pytest.raises(durable.InvalidArgument, match="exists already"):
        schedules.create("once", "scheduled_report", cron="0 4 * * *")
    with pytest.raises(durable.WorkflowNotFound):
        schedules.create("other", "no_such_workflow", cron=HOURLY)
    assert schedules.get("once").cron == HOURLY and Schedule.objects.count() == 1


def test_unknown_name__schedule_not_found():
    for call in (schedules.get, schedules.pause, schedules.resume, schedules.trigger, schedules.delete):
        with pytest.raises(durable.ScheduleNotFound, match="nope"):
            call("nope")


def test_fire__starts_the_slot_instance_with_its_id_inputs_and_scheduled_at(drain):
    schedules.create("rep", "scheduled_report", cron=HOURLY, kwargs={"label": "x"})
    _due("rep", T0)
    assert slots.fire_due(T0 + dt.timedelta(seconds=1)) == 1
    drain()
    run = WorkflowInstance.objects.get(id="rep@2026-12-01T03:00:00Z")
    assert run.status == Status.COMPLETED and run.schedule_name == "rep" and run.scheduled_at == T0
    assert Ledger.objects.get().step == "x:2026-12-01T03:00:00+00:00"
    row = schedules.get("rep")
    assert row.next_slot_at == T0 + dt.timedelta(hours=1) and row.last_instance_id == run.id


def test_fire__the_same_slot_twice_starts_one_instance():
    schedules.create("dup", "scheduled_report", cron=HOURLY)
    _due("dup", T0)
    assert slots.fire_due(T0) == 1
    _due("dup", T0)  # as if a second cluster fired the slot again
    assert slots.fire_due(T0) == 0
    assert _runs("dup") == ["dup@2026-12-01T03:00:00Z"]


@pytest.mark.parametrize(
    ("catchup", "expected"),
    [
        ("latest", ["c@2026-12-01T05:00:00Z"]),
        ("all", ["c@2026-12-01T03:00:00Z", "c@2026-12-01T04:00:00Z", "c@2026-12-01T05:00:00Z"]),
        ("none", []),
    ],
)
def test_fire__after_three_missed_slots_by_catchup(catchup, expected):
    schedules.create("c", "scheduled_report", cron=HOURLY, catchup=catchup, overlap="allow")
    _due("c", T0)
    slots.fire_due(T0 + dt.timedelta(hours=2, minutes=30))  # 03:00, 04:00, 05:00 missed
    assert _runs("c") == expected
    assert schedules.get("c").next_slot_at == T0 + dt.timedelta(hours=3)


def test_fire__catchup_all_stays_within_the_window():
    schedules.create("w", "scheduled_report", cron=HOURLY, catchup="all", overlap="allow", catchup_window=3600 * 2)
    _due("w", T0)
    slots.fire_due(T0 + dt.timedelta(hours=4))
    assert _runs("w") == ["w@2026-12-01T05:00:00Z", "w@2026-12-01T06:00:00Z", "w@2026-12-01T07:00:00Z"]


def test_fire__catchup_none_still_fires_an_on_time_slot():
    schedules.create("n", "scheduled_report", cron=HOURLY, catchup="none")
    _due("n", T0)
    slots.fire_due(T0 + dt.timedelta(seconds=2))
    assert _runs("n") == ["n@2026-12-01T03:00:00Z"]


def _fire_at(name: str, slot: dt.datetime) -> None:
    _due(name, slot)
    slots.fire_due(slot)


def test_overlap__skip_starts_nothing_while_the_previous_run_is_active(drain):
    schedules.create("s", "scheduled_waiter", cron=HOURLY)
    _fire_at("s", T0)
    drain()
    _fire_at("s", T0 + dt.timedelta(hours=1))
    assert _runs("s") == ["s@2026-12-01T03:00:00Z"]
    durable.send_event("schedule.release", "/tests")
    drain()
    _fire_at("s", T0 + dt.timedelta(hours=2))
    assert _runs("s") == ["s@2026-12-01T03:00:00Z", "s@2026-12-01T05:00:00Z"]


def test_overlap__allow_starts_every_slot(drain):
    schedules.create("a", "scheduled_waiter", cron=HOURLY, overlap="allow")
    _fire_at("a", T0)
    drain()
    _fire_at("a", T0 + dt.timedelta(hours=1))
    assert len(_runs("a")) == 2


def test_overlap__cancel_other_cancels_the_previous_run(drain):
    schedules.create("k", "scheduled_waiter", cron=HOURLY, overlap="cancel_other")
    _fire_at("k", T0)
    drain()
    _fire_at("k", T0 + dt.timedelta(hours=1))
    assert WorkflowInstance.objects.get(id="k@2026-12-01T03:00:00Z").status == Status.CANCELLED
    assert WorkflowInstance.objects.get(id="k@2026-12-01T04:00:00Z").status != Status.CANCELLED


def test_overlap__buffer_one_keeps_one_slot_until_the_run_ends(drain):
    schedules.create("b", "scheduled_waiter", cron=HOURLY, overlap="buffer_one")
    _fire_at("b", T0)
    drain()
    _fire_at("b", T0 + dt.timedelta(hours=1))
    _fire_at("b", T0 + dt.timedelta(hours=2))  # replaces the waiting 04:00: at most one waits
    assert _runs("b") == ["b@2026-12-01T03:00:00Z"]
    assert schedules.get("b").buffered_slot_at == T0 + dt.timedelta(hours=2)
    slots.fire_due(T0 + dt.timedelta(hours=2, seconds=1))  # still running: it keeps waiting
    assert len(_runs("b")) == 1
    durable.send_event("schedule.release", "/tests", instance_id="b@2026-12-01T03:00:00Z")
    drain()
    slots.fire_due(T0 + dt.timedelta(hours=2, seconds=2))
    assert _runs("b") == ["b@2026-12-01T03:00:00Z", "b@2026-12-01T05:00:00Z"]
    assert schedules.get("b").buffered_slot_at is None


def test_pause_resume__a_paused_schedule_does_not_fire():
    schedules.create("p", "scheduled_report", cron=HOURLY)
    _due("p", T0)
    assert schedules.pause("p").paused
    assert slots.fire_due(T0 + dt.timedelta(minutes=1)) == 0
    row = schedules.resume("p")
    assert not row.paused and row.next_slot_at > T0  # from the next slot after now
    assert _runs("p") == []


def test_trigger__starts_one_run_now_even_paused(drain):
    schedules.create("t", "scheduled_report", cron="0 3 1 1 *")
    schedules.pause("t")
    instance_id = schedules.trigger("t")
    assert instance_id.startswith("t@") and instance_id.endswith("Z")
    drain()
    run = WorkflowInstance.objects.get(id=instance_id)
    assert run.status == Status.COMPLETED and run.schedule_name == "t"
    assert schedules.get("t").last_instance_id == instance_id


def test_delete__removes_the_row_and_keeps_its_runs():
    schedules.create("d", "scheduled_report", cron=HOURLY)
    _fire_at("d", T0)
    schedules.delete("d")
    assert not Schedule.objects.filter(name="d").exists() and _runs("d") == ["d@2026-12-01T03:00:00Z"]


def test_fire__a_bad_row_is_skipped_and_the_others_fire():
    schedules.create("good", "scheduled_report", cron=HOURLY)
    schedules.create("bad", "scheduled_report", cron=HOURLY)
    Schedule.objects.filter(name="bad").update(workflow_name="gone_from_code", next_slot_at=T0)
    _due("good", T0)
    assert slots.fire_due(T0) == 1
    assert _runs("good") == ["good@2026-12-01T03:00:00Z"] and _runs("bad") == []
    assert schedules.get("bad").next_slot_at == T0 + slots.RETRY_BAD_ROW


def test_sync_code__writes_the_code_schedules_keeps_paused_and_retires_removed():
    assert schedules.sync_code() >= 2
    ny = schedules.get("new_year")
    berlin = schedules.get("new-year-berlin")
    assert ny.source == "code" and ny.cron == "0 3 1 1 *" and berlin.kwargs == {"label": "b"}
    schedules.pause("new_year")
    Schedule.objects.filter(name="new-year-berlin").update(cron="* * * * *")  # the code owns the cron
    Schedule.objects.create(name="removed", workflow_name="new_year", cron=HOURLY, source="code", next_slot_at=T0)
    schedules.sync_code()
    assert schedules.get("new_year").paused
    assert schedules.get("new-year-berlin").cron == "0 4 1 1 *"
    removed = schedules.get("removed")
    assert removed.next_slot_at is None and removed.retired_at is not None


def undecorated(ctx):
    return None


def test_workflow_schedule__a_taken_schedule_name_or_bad_cron_is_a_definition_error():
    taken = durable.Schedule(cron=HOURLY, name="new_year")
    with pytest.raises(durable.DefinitionError, match="Two schedules are named 'new_year'"):
        durable.workflow(name="another_new_year", schedule=taken)(undecorated)
    with pytest.raises(durable.DefinitionError, match="Invalid cron"):
        durable.workflow(name="bad_cron_workflow", schedule="every day")(undecorated)
    with pytest.raises(durable.DefinitionError, match="its inputs do not fit"):
        durable.workflow(name="bad_inputs_workflow", schedule=durable.Schedule(cron=HOURLY, args=(1,)))(undecorated)
    with pytest.raises(durable.DefinitionError, match="cron string or a durable.Schedule"):
        durable.workflow(name="bad_schedule_workflow", schedule=42)(undecorated)
    registered = durable.engine.registry.registry.workflows
    assert not {"another_new_year", "bad_cron_workflow", "bad_schedule_workflow", "bad_inputs_workflow"} & set(
        registered
    )
