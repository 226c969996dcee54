"""The replay check: the engine's replay over recorded histories, served by CheckBackend, which
stops where the history ends and never runs or writes a step; mismatches named by position."""

from __future__ import annotations

import json

import pytest

import durable
from durable import replay_check, replay_export
from durable.engine.registry import registry
from durable.engine.types import Step
from durable.exceptions import InstanceNotFound, InvalidArgument, NonDeterminismError, WorkflowNotFound
from durable.models import HistoryStep, WorkflowInstance
from durable.replay_check import CheckBackend, HistoryEnds, Recorded
from durable.testing import replay
from tests import replay_workflows as rw

pytestmark = pytest.mark.django_db


def recorded(name: str, steps: list[Step], *, status: str = "running", args: list | None = None) -> Recorded:
    return Recorded("i-1", name, status, {"args": args if args is not None else [3], "kwargs": {}}, steps)


def done(position: int, kind: str, name: str, result: object = None) -> Step:
    return Step(position, kind, name, "completed", result)


ORDER = [done(0, "activity", "replay.reserve", 3), done(1, "activity", "replay.charge", 30)]


@pytest.mark.parametrize("method", ["record", "run_activity", "activity_failed", "suspend_timer", "wait_event"])
def test_backend__every_storing_or_running_call_stops_the_check(method):
    arguments = {"activity_failed": (None, {}, None), "suspend_timer": (0, "sleep", "sleep", None)}
    with pytest.raises(HistoryEnds):
        getattr(CheckBackend(), method)(*arguments.get(method, (None,)))
    assert CheckBackend().failure_pauses() is False


def test_check__a_history_that_ends_early_matches_and_says_what_comes_next():
    found = replay_check.check(recorded("replay.order", ORDER[:1]))
    assert (found.verdict, found.fails, found.replayed) == ("match", False, 1)
    assert "goes on with activity 'replay.charge' at step 1" in found.message


def test_check__a_whole_history_matches():
    steps = [*ORDER, done(2, "now", "now", {"$t": "datetime", "v": "2026-01-01T00:00:00+00:00"})]
    found = replay_check.check(recorded("replay.order", steps, status="completed"))
    assert (found.verdict, found.replayed) == ("match", 3)
    assert "the workflow completed" in found.message


def test_check__a_different_activity_at_a_position_is_a_mismatch(monkeypatch):
    monkeypatch.setenv(rw.FLIP, "1")
    found = replay_check.check(recorded("replay.order", ORDER))
    assert (found.verdict, found.fails, found.position) == ("mismatch", True, 1)
    assert (found.recorded, found.called) == (("activity", "replay.charge"), ("activity", "replay.bill"))
    assert found.message == "step 1: history has activity 'replay.charge' but the code called activity 'replay.bill'"


def test_check__an_unknown_step_kind_is_compared_by_kind_and_name():
    steps = [ORDER[0], done(1, "patched", "change-1")]
    found = replay_check.check(recorded("replay.order", steps))
    assert (found.position, found.recorded, found.called) == (1, ("patched", "change-1"), ("activity", "replay.charge"))


def test_check__code_that_returns_before_the_history_ends_is_a_mismatch():
    steps = [done(0, "activity", "replay.flaky", 2), done(1, "activity", "replay.reserve", 3)]
    found = replay_check.check(recorded("replay.retries", steps, status="completed"))
    assert (found.verdict, found.position, found.recorded, found.called) == (
        "mismatch",
        1,
        ("activity", "replay.reserve"),
        None,
    )
    assert "the workflow returned" in found.message


def test_check__a_recorded_input_the_code_cannot_take_is_a_mismatch():
    found = replay_check.check(recorded("replay.order", ORDER, args=[1, 2]))
    assert found.verdict == "mismatch" and "cannot take the recorded input" in found.message


def test_check__a_retrying_step_stops_the_check_without_running_it():
    steps = [Step(0, "activity", "replay.flaky", "retrying", None, {"type": "RuntimeError"}, 1, None)]
    found = replay_check.check(recorded("replay.retries", steps, status="waiting_for_timer"))
    assert found.verdict == "match" and "goes on with activity 'replay.flaky' at step 0" in found.message


def test_check__unknown_workflow_fails_only_an_instance_that_has_not_ended():
    active = replay_check.check(recorded("replay.gone", []))
    ended = replay_check.check(recorded("replay.gone", [], status="completed"))
    assert (active.verdict, active.fails) == ("unknown_workflow", True)
    assert (ended.verdict, ended.fails) == ("unknown_workflow", False)
    assert "no workflow named 'replay.gone'" in active.message


def test_check__erased_instances_are_skipped():
    record = recorded("replay.order", ORDER)
    record.erased = True
    assert replay_check.check(record).verdict == "skipped"


def test_replay__instances_recorded_in_process_match_and_nothing_is_written(drain, monkeypatch):
    handles = [durable.start(wf, 4) for wf in (rw.order, rw.retries, rw.saga, rw.waits)]
    drain()
    statuses = [WorkflowInstance.objects.get(pk=h.instance_id).status for h in handles]
    assert statuses == ["completed", "completed", "failed", "waiting_for_event"]
    kinds = list(HistoryStep.objects.filter(instance_id=handles[2].instance_id).values_list("kind", flat=True))
    assert kinds.count("compensation") == 2
    assert HistoryStep.objects.get(instance_id=handles[1].instance_id).attempt == 2
    before = list(HistoryStep.objects.order_by("instance_id", "position").values_list("instance_id", "position"))
    ran: list[str] = []
    for definition in registry.activities.values():
        monkeypatch.setattr(definition, "fn", lambda ctx, *a, _n=definition.name, **k: ran.append(_n))
    for handle in handles:
        found = replay(handle.instance_id)
        assert found.verdict == "match", found.message
    assert ran == []
    after = list(HistoryStep.objects.order_by("instance_id", "position").values_list("instance_id", "position"))
    assert after == before


def test_replay__an_export_dict_json_and_file_after_a_change_raise_naming_the_step(drain, monkeypatch, tmp_path):
    handle = durable.start(rw.order, 2)
    drain(handle)
    doc = replay_export.export(handle.instance_id)
    assert (doc["format"], doc["version"], doc["workflow_name"], doc["status"]) == (
        "durable.history",
        1,
        "replay.order",
        "completed",
    )
    assert [(s["position"], s["kind"], s["name"]) for s in doc["history"]][:2] == [
        (0, "activity", "replay.reserve"),
        (1, "activity", "replay.charge"),
    ]
    path = tmp_path / "order.json"
    path.write_text(json.dumps(doc))
    for given in (doc, json.dumps(doc), path, str(path)):
        assert replay(given).verdict == "match"
    monkeypatch.setenv(rw.FLIP, "1")
    for given in (doc, json.dumps(doc), path, handle.instance_id):
        with pytest.raises(NonDeterminismError) as caught:
            replay(given)
        assert "step 1: history has activity 'replay.charge' but the code called activity 'replay.bill'" in str(
            caught.value
        )
        assert caught.value.finding.position == 1


def test_replay__bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidArgument, match="not a durable history export"):
        replay({"some": "json"})
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        replay("{not json")
    with pytest.raises(InvalidArgument, match="no such file"):
        replay(str(tmp_path / "missing.json"))
    with pytest.raises(InstanceNotFound, match="no instance is named 'nobody'"):
        replay("nobody")
    with pytest.raises(InvalidArgument, match=r"history\[0\]"):
        replay(
            {
                "format": "durable.history",
                "version": 1,
                "instance_id": "x",
                "workflow_name": "w",
                "status": "completed",
                "history": [{"kind": "activity"}],
            }
        )
    with pytest.raises(WorkflowNotFound):
        replay(
            {
                "format": "durable.history",
                "version": 1,
                "instance_id": "x",
                "workflow_name": "replay.gone",
                "status": "completed",
                "history": [],
            }
        )


def test_from_database__loads_histories_in_batches_with_two_queries_each(drain, django_assert_num_queries):
    for n in range(5):
        durable.start(rw.order, n)
    drain()
    total, records = replay_export.from_database(workflow="replay.order", batch=2)
    assert total == 5
    with django_assert_num_queries(2 * 3 + 1):  # three batches of two, two, one, and the empty one
        loaded = list(records)
    assert [len(r.history) for r in loaded] == [3] * 5
    assert sorted(r.instance_id for r in loaded) == [r.instance_id for r in loaded]


def test_replay__a_cancel_s_compensations_are_not_replayed_against_the_workflow(drain):
    handle = durable.start(rw.booked_waits, 5)
    drain(lambda: handle.status == "waiting_for_event")
    durable.cancel(handle.instance_id)
    drain(handle)
    kinds = list(HistoryStep.objects.filter(instance_id=handle.instance_id).values_list("kind", flat=True))
    assert (handle.status, kinds) == ("cancelled", ["activity", "arm", "compensation"])
    found = replay(handle.instance_id)
    assert found.verdict == "match" and found.replayed == 2
