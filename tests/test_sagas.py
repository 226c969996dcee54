"""Sagas in-process on the real database: arming, unwinding newest first, cancel, pause and retry, replay."""

from __future__ import annotations

import pytest

import durable
from durable import sagas
from durable.models import HistoryStep, Status, WorkflowInstance
from tests import saga_workflows as sw

pytestmark = pytest.mark.django_db


def ledger(handle) -> list[str]:
    return sw.ledger(handle.instance_id)


def kinds(handle) -> list[tuple[str, str]]:
    rows = HistoryStep.objects.filter(instance_id=handle.instance_id).order_by("position")
    return [(kind, name) for kind, name in rows.values_list("kind", "name")]


def row(handle) -> WorkflowInstance:
    return WorkflowInstance.objects.get(id=handle.instance_id)


def test_saga__a_failure_runs_the_armed_compensations_newest_first(drain):
    handle = durable.start(sw.three_then_fail)
    drain(handle)
    assert ledger(handle) == sw.EXPECTED["saga.three_then_fail"]
    instance = row(handle)
    assert instance.status == Status.FAILED and instance.compensated is True
    assert instance.compensation == {"after": "failed", "done": 3, "skipped": 0, "total": 3}
    assert instance.error["type"] == "ActivityError"
    assert kinds(handle)[6:] == [
        ("activity", "saga.explode"),
        ("compensation", "saga.release"),
        ("compensation", "saga.release"),
        ("compensation", "saga.release"),
    ]
    with pytest.raises(durable.WorkflowFailed):
        handle.result()
    # What was undone is not redone: a retry is refused, and the admin does not offer one.
    with pytest.raises(durable.InvalidTransition, match="its compensations ran"):
        durable.retry(handle.instance_id)


def test_saga__cancel_of_a_waiting_instance_runs_its_compensations(drain):
    handle = durable.start(sw.reserve_then_wait)
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    assert [a.name for a in sagas.armed(handle.instance_id)] == ["saga.release", "saga.release"]
    durable.cancel(handle.instance_id, "trip called off")
    instance = row(handle)
    assert instance.status == Status.COMPENSATING and instance.status_reason == "trip called off"
    assert instance.compensation["total"] == 2
    drain(handle)
    assert ledger(handle) == sw.EXPECTED["saga.reserve_then_wait"]
    instance = row(handle)
    assert instance.status == Status.CANCELLED and instance.compensated is True
    assert instance.status_reason == "trip called off"
    assert [i["kind"] for i in instance.incidents] == ["compensating", "cancelled"]
    # Nothing is left armed, and an event that arrives later does not revive it.
    assert sagas.armed(handle.instance_id) == []
    with pytest.raises(durable.InvalidTransition):
        durable.send_event("saga.go", "/t", {"id": handle.instance_id}, instance_id=handle.instance_id)


def test_saga__cancel_without_compensating_runs_none(drain):
    handle = durable.start(sw.reserve_then_wait)
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    durable.cancel(handle.instance_id, compensate=False)
    drain()
    instance = row(handle)
    assert instance.status == Status.CANCELLED and instance.compensated is False and instance.compensation is None
    assert ledger(handle) == ["reserve:seat"]


def test_saga__compensate_in_an_except_branch_then_the_workflow_goes_on(drain):
    handle = durable.start(sw.compensate_on_timeout)
    drain(handle)
    assert handle.result() == {"status": "timed out, undone, went on"}
    assert ledger(handle) == sw.EXPECTED["saga.compensate_on_timeout"]
    instance = row(handle)
    assert instance.status == Status.COMPLETED and instance.compensation is None and not instance.compensated


def test_saga__a_compensation_out_of_attempts_pauses_and_retry_runs_it(drain, tmp_path):
    fault = tmp_path / "down"
    fault.write_text("down")
    handle = durable.start(sw.undo_keeps_failing, str(fault))
    drain(lambda: handle.status == Status.PAUSED)
    instance = row(handle)
    assert "Compensation 'saga.fragile_release'" in instance.status_reason
    assert "undoing 'saga.fragile_reserve' at step 2" in instance.status_reason
    assert "retry" in instance.status_reason and "resume" in instance.status_reason
    assert instance.compensation["done"] == 0 and instance.compensation["total"] == 2
    assert ledger(handle) == ["reserve:first", "reserve:second"]
    fault.unlink()
    durable.retry(handle.instance_id)
    drain(handle)
    assert ledger(handle) == sw.EXPECTED["saga.undo_keeps_failing"]
    instance = row(handle)
    assert instance.status == Status.FAILED and instance.compensated is True


def test_saga__resume_goes_on_past_the_failed_compensation(drain, tmp_path):
    fault = tmp_path / "down"
    fault.write_text("down")
    handle = durable.start(sw.undo_keeps_failing, str(fault))
    drain(lambda: handle.status == Status.PAUSED)
    durable.resume(handle.instance_id)
    drain(handle)
    assert ledger(handle) == ["reserve:first", "reserve:second", "release:first:saga.reserve@0=first-ref"]
    instance = row(handle)
    assert instance.status == Status.FAILED and instance.compensated is False
    assert instance.compensation == {"after": "failed", "done": 1, "skipped": 1, "total": 2}


def test_saga__retry_of_a_paused_instance_needs_a_failed_compensation(drain):
    handle = durable.start(sw.reserve_then_wait)
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    durable.pause(handle.instance_id)
    with pytest.raises(durable.InvalidTransition, match="Resume it instead"):
        durable.retry(handle.instance_id)


def test_saga__code_that_stops_arming_what_the_history_holds_is_nondeterministic(drain, monkeypatch):
    handle = durable.start(sw.arms_then_sleeps)
    drain(lambda: handle.status == Status.WAITING_FOR_TIMER)
    assert [k for k, _ in kinds(handle)] == ["activity", "arm", "arm"]
    monkeypatch.setitem(sw.ARMING, "explicit", False)
    drain(lambda: handle.status == Status.PAUSED)
    reason = row(handle).status_reason
    assert "history has arm 'saga.release' but the code called sleep" in reason
    monkeypatch.setitem(sw.ARMING, "explicit", True)
    durable.resume(handle.instance_id)
    drain(handle)
    assert handle.result() == "slept"


def test_saga__bad_compensations_are_refused_where_they_are_armed(drain):
    with pytest.raises(durable.DefinitionError, match="compensation must be another @durable.activity"):
        durable.activity(compensation=sw.three_then_fail)(sw._write)
    handle = durable.start(sw.arms_bad)
    drain(handle)
    assert handle.result() == {
        "not an activity": "DefinitionError",
        "not JSON": "EncodingError",
    }
    assert kinds(handle) == []


@pytest.mark.parametrize("then", ["retry", "resume"])
def test_saga__a_cancel_whose_compensation_runs_out_pauses_then_goes_on(drain, tmp_path, then):
    fault = tmp_path / "down"
    fault.write_text("down")
    handle = durable.start(sw.fragile_then_waits, str(fault))
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    durable.cancel(handle.instance_id, "trip called off")
    drain(lambda: handle.status == Status.PAUSED)
    assert "Compensation 'saga.fragile_release'" in row(handle).status_reason
    fault.unlink()
    getattr(durable, then)(handle.instance_id)
    drain(handle)
    instance = row(handle)
    # The cancel's reason survives the pause; the workflow itself never ran again (no new wait).
    assert instance.status == Status.CANCELLED and instance.status_reason == "trip called off"
    first = "release:first:saga.reserve@0=first-ref"
    if then == "retry":
        assert ledger(handle)[2:] == ["release:second:saga.fragile_reserve@2=second-ref", first]
        assert instance.compensated is True
    else:
        assert ledger(handle)[2:] == [first]
        assert instance.compensated is False and instance.compensation["skipped"] == 1
