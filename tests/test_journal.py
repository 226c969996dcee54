"""The journal: the one writer of history, waits, timers and deliveries, and the kept-event lookup."""

from __future__ import annotations

import ast
import datetime as dt
import decimal
from pathlib import Path

import pytest

import durable
from durable import db, journal
from durable.engine.types import StepKind, StepStatus, TimerPurpose
from durable.models import Delivery, Event, EventKey, HistoryStep, Status, Timer, Wait, WaitShape, WorkflowInstance
from tests import event_workflows as ew

PACKAGE = Path(durable.__file__).resolve().parent
JOURNAL_MODELS = {"HistoryStep", "Wait", "WaitShape", "Timer", "Delivery", "Event", "EventKey", "PublishedValue"}
# Related managers on WorkflowInstance and Event that reach the journal's tables.
JOURNAL_RELATIONS = {"steps", "waits", "timers", "deliveries", "values", "addressed_events", "keys"}
WRITES = {"create", "bulk_create", "update", "delete", "get_or_create", "update_or_create", "bulk_update", "save"}


def _writes_outside_journal() -> list[str]:
    """Every create/update/delete of a journal table in durable/, outside journal.py and migrations."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "journal.py" or relative.startswith("migrations/"):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        # Only the journal's models as this module imports them (client.Delivery is a dataclass).
        models = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "durable.models"
            for alias in node.names
            if alias.name in JOURNAL_MODELS
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id in models:
                found.append(f"{relative}:{node.lineno} builds a {func.id} row")
            if isinstance(func, ast.Attribute) and func.attr in WRITES:
                names = set()
                inner: ast.expr = func.value
                while isinstance(inner, ast.Attribute | ast.Call | ast.Subscript):
                    if isinstance(inner, ast.Attribute):
                        names.add(inner.attr)
                        inner = inner.value
                    elif isinstance(inner, ast.Call):
                        inner = inner.func
                    else:
                        inner = inner.value
                if isinstance(inner, ast.Name):
                    names.add(inner.id)
                touched = names & (models | JOURNAL_RELATIONS)
                if touched and ("objects" in names or names & JOURNAL_RELATIONS):
                    found.append(f"{relative}:{node.lineno} {func.attr}() on {', '.join(sorted(touched))}")
    return found


def test_journal__is_the_only_writer_of_its_tables():
    assert _writes_outside_journal() == []


def test_journal__the_writer_check_sees_a_write(tmp_path, monkeypatch):
    # The check must be able to fail: a module outside the journal that deletes timers is caught.
    fake = tmp_path / "durable"
    fake.mkdir()
    (fake / "sneaky.py").write_text(
        "from durable.models import Timer, HistoryStep\n"
        "def f(i, row):\n"
        "    Timer.objects.filter(instance_id=i).delete()\n"
        "    row.steps.update(status='x')\n"
        "    HistoryStep(instance_id=i, position=0)\n"
    )
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    found = _writes_outside_journal()
    assert [line.split(" ", 1)[0] for line in found] == ["sneaky.py:3", "sneaky.py:4", "sneaky.py:5"]


# Kept events: no cap can hide a match, whatever the kind of the match value ---------------------


MATCH_VALUES = {
    "string": "k-target",
    "list": ["a", 1, None],
    "dict": {"sku": "X-1", "qty": 2},
    "none": None,
    "decimal": decimal.Decimal("12.50"),
    "datetime": dt.datetime(2026, 11, 30, 8, 15, tzinfo=dt.UTC),
    "float": 2.5,
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(MATCH_VALUES))
def test_take_stored_event__finds_a_match_past_many_kept_events(drain, kind):
    wanted = MATCH_VALUES[kind]
    handle = durable.start(ew.waits_once, wanted, timeout=3)
    # 60 kept events of the type that do not match, then the one that does: the wait starts
    # after all of them arrived, so it must find the 61st among the kept ones.
    for i in range(60):
        durable.send_event("thing.happened", "/journal", {"key": f"other-{i}"}, id=f"other-{i}")
    durable.send_event("thing.happened", "/journal", {"key": wanted}, id="the-one")
    drain(handle)
    assert handle.result() == {"outcome": "event", "id": "the-one"}
    assert Delivery.objects.get(instance_id=handle.instance_id).kind == Delivery.Kind.CONSUMED


@pytest.mark.django_db
def test_take_stored_event__a_new_shape_keys_the_kept_events_once(drain):
    for i in range(5):
        durable.send_event("thing.happened", "/journal", {"key": f"k-{i}"}, id=f"e-{i}")
    assert not WaitShape.objects.exists() and not EventKey.objects.exists()
    # Kept events only count for instances created before them: age the instance.
    handle = durable.start(ew.waits_once, "k-3", timeout=3)
    WorkflowInstance.objects.filter(id=handle.instance_id).update(created_at=db.now() - dt.timedelta(hours=1))
    drain(handle)
    assert handle.result()["id"] == "e-3"
    assert WaitShape.objects.count() == 1
    assert EventKey.objects.count() == 5
    # A second wait of the same shape reuses the keys; a new event is keyed when routed.
    durable.send_event("thing.happened", "/journal", {"key": "k-9"}, id="e-9")
    assert EventKey.objects.count() == 6


# Resolving a wait exactly once -------------------------------------------------------------------


@pytest.mark.django_db
def test_resolve__only_the_first_resolution_counts(drain):
    handle = durable.start(ew.waits_once, "once", timeout=30)
    drain()
    wait = Wait.objects.get(instance_id=handle.instance_id)
    event = journal.record_event(
        {"id": "x", "source": "/j", "type": "thing.happened", "data": {"key": "once"}}, received_at=db.now()
    )
    record = journal.record_of(event)
    moment = db.now()
    assert journal.resolve(handle.instance_id, wait.position, wait.name, event, record, moment) is True
    assert journal.resolve(handle.instance_id, wait.position, wait.name, event, record, moment) is False
    assert not Timer.objects.filter(instance_id=handle.instance_id).exists()
    step = HistoryStep.objects.get(instance_id=handle.instance_id, position=wait.position)
    assert step.kind == StepKind.WAIT_EVENT and step.status == StepStatus.COMPLETED
    assert Event.objects.count() == 1 and Delivery.objects.count() == 1


@pytest.mark.django_db
def test_fire__a_timeout_that_lost_the_race_records_nothing_new(drain):
    handle = durable.start(ew.waits_once, "race", timeout=30)
    drain()
    wait = Wait.objects.get(instance_id=handle.instance_id)
    [timer] = journal.due_timers(db.now() + dt.timedelta(minutes=1), 10, skip_locked=False)
    assert timer.purpose == TimerPurpose.TIMEOUT
    # The event got there first (the timer row is still there when the sweep looks).
    event = journal.record_event({"id": "e", "source": "/j", "type": "thing.happened"}, received_at=db.now())
    journal.resolve(handle.instance_id, wait.position, wait.name, event, journal.record_of(event), db.now())
    journal.fire([timer], db.now())
    [step] = HistoryStep.objects.filter(instance_id=handle.instance_id, position=wait.position)
    assert step.status == StepStatus.COMPLETED and step.result["id"] == "e"
    assert not Timer.objects.exists()


@pytest.mark.django_db
def test_fire__a_withdrawn_wait_still_times_out_on_time(drain):
    handle = durable.start(ew.waits_once, "resumed", timeout=30)
    drain()
    journal.withdraw_waits(handle.instance_id)  # as a resume does; the next run re-opens it
    [timer] = journal.due_timers(db.now() + dt.timedelta(minutes=1), 10, skip_locked=False)
    assert journal.fire([timer], db.now()) == {handle.instance_id}
    [step] = HistoryStep.objects.filter(instance_id=handle.instance_id, kind=StepKind.WAIT_EVENT)
    assert step.status == StepStatus.TIMED_OUT


@pytest.mark.django_db
def test_withdraw__removes_waits_and_timers_of_those_instances_only(drain):
    first = durable.start(ew.waits_once, "w-1", timeout=30)
    second = durable.start(ew.waits_once, "w-2", timeout=30)
    drain()
    journal.withdraw([first.instance_id])
    assert set(Wait.objects.values_list("instance_id", flat=True)) == {second.instance_id}
    assert set(Timer.objects.values_list("instance_id", flat=True)) == {second.instance_id}
    assert durable.get_handle(second.instance_id).status == Status.WAITING_FOR_EVENT
