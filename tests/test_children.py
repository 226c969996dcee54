"""Child workflows and continue as new, in-process on the real database (SPEC 15)."""

from __future__ import annotations

import pytest

import durable
from durable import inspect
from durable.models import ChildWait, HistoryStep, Status, WorkflowInstance
from durable.testing import replay
from tests import child_workflows as cw
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db


def ledger(instance_id: str) -> list[str]:
    return sorted(Ledger.objects.filter(instance_id=instance_id).values_list("step", flat=True))


def test_children__a_parent_runs_a_child_that_completes(drain):
    handle = durable.start(cw.parent, 21, instance_id="order-1")
    drain(handle)
    assert handle.result() == {"child": 42}
    child = WorkflowInstance.objects.get(id="order-1/0")
    assert (child.status, child.parent_id, child.workflow_name) == (Status.COMPLETED, "order-1", "child.double")
    assert ledger("order-1/0") == ["double 21"] and ledger("order-1") == ["parent after child"]
    kinds = list(HistoryStep.objects.filter(instance_id="order-1").order_by("position").values_list("kind", flat=True))
    assert kinds == ["child", "child_result", "activity"]
    assert not ChildWait.objects.exists()
    assert replay("order-1").verdict == "match"
    # Linked both ways in the read model.
    assert [c.instance_id for c in inspect.instance("order-1", children=True).children] == ["order-1/0"]
    assert inspect.instance("order-1/0").summary.parent_id == "order-1"


def test_children__a_failed_child_raises_child_failed_in_the_parent(drain):
    handle = durable.start(cw.catches, instance_id="catch-1")
    drain(handle)
    assert handle.result() == {"failed": "catch-1/0", "type": "ValueError", "message": "no stock"}
    assert WorkflowInstance.objects.get(id="catch-1/0").status == Status.FAILED


def test_children__cancel_of_the_parent_cancels_the_waiting_child_not_the_detached_one(drain):
    handle = durable.start(cw.waiting_parent, "p1", True, instance_id="p1")
    drain(lambda: handle.status == Status.WAITING_FOR_CHILD)
    assert ChildWait.objects.filter(instance_id="p1", child_id="p1/1").exists()
    assert WorkflowInstance.objects.get(id="p1/1").status == Status.WAITING_FOR_EVENT
    durable.cancel("p1", "order withdrawn")
    drain()
    assert WorkflowInstance.objects.get(id="p1").status == Status.CANCELLED
    child = WorkflowInstance.objects.get(id="p1/1")
    assert child.status == Status.CANCELLED and child.status_reason == "Cancelled with p1: order withdrawn"
    assert WorkflowInstance.objects.get(id="p1-detached").status == Status.WAITING_FOR_EVENT
    assert not ChildWait.objects.exists()


def test_children__cancel_of_the_child_raises_child_cancelled_in_the_parent(drain):
    handle = durable.start(cw.waiting_parent, "p2", False, instance_id="p2")
    drain(lambda: handle.status == Status.WAITING_FOR_CHILD)
    durable.cancel("p2/0", "not needed")
    drain(handle)
    assert handle.result() == "cancelled: not needed None"


def test_children__a_child_that_ends_before_the_parent_waits_is_found_ended(drain):
    handle = durable.start(cw.waiting_parent, "p3", False, instance_id="p3")
    drain(lambda: handle.status == Status.WAITING_FOR_CHILD)
    durable.send_event("child.go", "/test", {"key": "p3"})
    drain(handle)
    assert handle.result() == "p3"


def test_children__a_child_of_an_unknown_workflow_is_refused_and_nothing_is_written(drain):
    handle = durable.start(cw.unknown_child, instance_id="u1")
    drain(handle)
    assert handle.result() == "refused: workflow_not_found"
    assert not HistoryStep.objects.filter(instance_id="u1").exists()
    assert WorkflowInstance.objects.count() == 1


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "x" * 201, "bulk"])
def test_children__a_bad_instance_id_is_refused_and_nothing_is_written(drain, bad):
    handle = durable.start(cw.bad_id, bad, instance_id="b1")
    drain(handle)
    assert handle.result() == "refused: invalid_argument"
    assert not HistoryStep.objects.filter(instance_id="b1").exists()
    assert WorkflowInstance.objects.count() == 1


def test_children__an_id_taken_by_another_instance_is_refused(drain):
    durable.start(cw.double, 1, instance_id="taken")
    handle = durable.start(cw.bad_id, "taken", instance_id="b2")
    drain(handle)
    assert handle.result() == "refused: invalid_argument"
    assert not HistoryStep.objects.filter(instance_id="b2").exists()


def test_continue_as_new__fifty_runs_keep_the_live_history_short_and_every_run_viewable(drain):
    handle = durable.start(cw.counter, 0, 50, instance_id="loop")
    drain(handle, timeout=60)
    assert handle.result() == 50
    row = WorkflowInstance.objects.get(id="loop")
    assert row.run == 51 and row.input == {"args": [50, 50], "kwargs": {}}
    live = list(HistoryStep.objects.live().filter(instance_id="loop").values_list("position", "kind"))
    assert live == [(0, "activity")]
    assert HistoryStep.objects.filter(instance_id="loop").count() == 50 * 2 + 1
    assert ledger("loop") == sorted(f"run {n}" for n in range(51))
    view = inspect.instance("loop")
    assert view.summary.run == 51
    assert [s.run for s in view.history][:4] == [1, 1, 2, 2] and view.history[-1].run == 51
    third = [s for s in view.history if s.run == 3]
    assert [s.kind for s in third] == ["activity", "continue_as_new"]
    # The run's own input and the next run's, on the step that ended it.
    assert (third[1].input, third[1].result) == ({"args": [2, 50], "kwargs": {}}, {"args": [3, 50], "kwargs": {}})
    assert replay("loop").verdict == "match"


def test_children__a_child_started_before_a_crash_is_adopted_not_started_again(drain):
    # As if a run had started the child and died before its step was recorded: the rerun's
    # start_child finds its own child at the default id and records the step, starting none.
    from durable import db, transitions

    inputs = {"args": [5], "kwargs": {}}
    assert transitions.start("crash-1/0", "child.double", inputs, db.now(), parent_id="crash-1")
    handle = durable.start(cw.parent, 5, instance_id="crash-1")
    drain(handle)
    assert handle.result() == {"child": 10}
    assert list(WorkflowInstance.objects.filter(parent_id="crash-1").values_list("id", flat=True)) == ["crash-1/0"]
    assert ledger("crash-1/0") == ["double 5"]


def test_children__a_parent_paused_while_it_waits_takes_the_childs_end_once_resumed(drain):
    handle = durable.start(cw.waiting_parent, "p4", False, instance_id="p4")
    drain(lambda: handle.status == Status.WAITING_FOR_CHILD)
    durable.pause("p4", "hold on")
    durable.send_event("child.go", "/test", {"key": "p4"})
    drain(lambda: WorkflowInstance.objects.get(id="p4/0").status == Status.COMPLETED)
    # As with an event: the child's end is recorded while the parent is paused; it runs once resumed.
    assert handle.status == Status.PAUSED and not ChildWait.objects.exists()
    assert HistoryStep.objects.filter(instance_id="p4", kind="child_result").count() == 1
    durable.resume("p4")
    drain(handle)
    assert handle.result() == "p4"


def test_children__a_resumed_parent_waits_again_for_a_child_still_running(drain):
    handle = durable.start(cw.waiting_parent, "p5", False, instance_id="p5")
    drain(lambda: handle.status == Status.WAITING_FOR_CHILD)
    durable.pause("p5")
    durable.resume("p5")  # the wait is withdrawn; the next run looks at the child and waits again
    drain(lambda: handle.status == Status.WAITING_FOR_CHILD)
    assert list(ChildWait.objects.values_list("instance_id", "child_id")) == [("p5", "p5/0")]
    durable.send_event("child.go", "/test", {"key": "p5"})
    drain(handle)
    assert handle.result() == "p5"


# Child handles in ctx.gather and ctx.first (SPEC 15: "child handles may be gathered too") -------------


def test_gather__children_and_a_parallel_step_results_in_order(drain):
    handle = durable.start(cw.gathers, 3, instance_id="g-1")
    drain(lambda: handle.status == Status.COMPLETED)
    assert handle.result() == {"results": [0, 2, 4, 100]}
    kinds = list(HistoryStep.objects.filter(instance_id="g-1").order_by("position").values_list("kind", flat=True))
    assert kinds == ["child", "child", "child", "parallel"]
    # Each child's end is kept on its start step, which is what the gather read.
    starts = HistoryStep.objects.filter(instance_id="g-1", kind="child").order_by("position")
    assert [s.result["outcome"] for s in starts] == [{"status": "completed", "result": n} for n in (0, 2, 4)]
    assert replay("g-1").verdict == "match"


def test_gather__only_children_waits_for_children_in_words(drain):
    from durable.words import waiting_words

    handle = durable.start(cw.gathers_waiting, ["k-1", "k-2"], instance_id="g-2")
    drain(lambda: WorkflowInstance.objects.filter(parent_id="g-2", status=Status.WAITING_FOR_EVENT).count() == 2)
    row = WorkflowInstance.objects.get(id="g-2")
    assert row.status == Status.WAITING_FOR_CHILD
    assert waiting_words(row.waiting_for, row.updated_at) == "2 children to end"
    durable.send_event("child.go", "/tests", {"key": "k-2"})
    drain(lambda: WorkflowInstance.objects.get(id="g-2/1").status == Status.COMPLETED)
    assert handle.status == Status.WAITING_FOR_CHILD  # one of two ended: still waiting
    durable.send_event("child.go", "/tests", {"key": "k-1"})
    drain(handle)
    assert handle.result() == ["k-1", "k-2"]


def test_gather__a_failed_child_raises_child_failed_once_all_have_ended(drain):
    handle = durable.start(cw.gathers, 2, failing=True, instance_id="g-3")
    drain(lambda: handle.status == Status.COMPLETED)
    # The failing child was started last (position 2) and gathered second.
    assert handle.result() == {"failed": "g-3/2", "message": "gathered"}
    statuses = dict(WorkflowInstance.objects.filter(parent_id="g-3").values_list("id", "status"))
    assert statuses == {"g-3/0": "completed", "g-3/1": "completed", "g-3/2": "failed"}
    assert HistoryStep.objects.get(instance_id="g-3", kind="parallel").status == "completed"


def test_first__a_child_that_ends_first_withdraws_the_timer(drain):
    from durable.models import Timer, Wait

    handle = durable.start(cw.first_or_timer, "f-1", 60, instance_id="f-1")
    drain(lambda: handle.status == Status.WAITING_FOR_TIMER and Wait.objects.filter(instance_id="f-1/0").exists())
    words = WorkflowInstance.objects.get(id="f-1").waiting_for["words"]
    assert words == "child 'child.waits', or 1m timer, whichever first"
    assert Timer.objects.filter(instance_id="f-1").count() == 1
    durable.send_event("child.go", "/tests", {"key": "f-1"})
    drain(handle)
    assert handle.result() == {"index": 0, "value": "f-1"}
    assert not Timer.objects.filter(instance_id="f-1").exists() and not Wait.objects.filter(instance_id="f-1").exists()
    assert HistoryStep.objects.get(instance_id="f-1", kind="first").result == {"index": 0}
    assert replay("f-1").verdict == "match"


def test_first__the_timer_first_leaves_the_child_running_and_its_end_changes_nothing(drain):
    handle = durable.start(cw.first_or_timer, "f-2", 0.05, instance_id="f-2")
    drain(handle)
    assert handle.result() == {"index": 1, "value": None}
    assert WorkflowInstance.objects.get(id="f-2/0").status == Status.WAITING_FOR_EVENT  # left to run
    durable.send_event("child.go", "/tests", {"key": "f-2"})
    drain(lambda: WorkflowInstance.objects.get(id="f-2/0").status == Status.COMPLETED)
    assert HistoryStep.objects.filter(instance_id="f-2", kind="first").count() == 1
    assert handle.result() == {"index": 1, "value": None}
    start = HistoryStep.objects.get(instance_id="f-2", kind="child")
    assert start.result["outcome"] == {"status": "completed", "result": "f-2"}  # recorded, unused
