"""durable.fork: a new instance keeps the original's first steps as recorded and runs the rest with the current code."""

from __future__ import annotations

import pytest

import durable
from durable.models import Delivery, HistoryStep, PublishedValue, Status, Timer, Wait, WorkflowInstance
from tests import fork_workflows as fw
from tests import saga_workflows
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db

STEP_COLUMNS = ("position", "kind", "name", "status", "input", "result", "error", "attempt", "failures", "recorded_at")


def steps(instance_id: str, upto: int | None = None) -> list[tuple]:
    rows = HistoryStep.objects.filter(instance_id=instance_id).order_by("position")
    if upto is not None:
        rows = rows.filter(position__lt=upto)
    return list(rows.values_list(*STEP_COLUMNS))


def rows_written() -> dict[str, int]:
    """How many rows every table a fork writes holds."""
    tables = (WorkflowInstance, HistoryStep, PublishedValue, Wait, Timer, Delivery, Ledger)
    return {table.__name__: table.objects.count() for table in tables}


def test_fork__from_the_failed_step_reruns_only_from_there_with_the_fixed_code(order_failed_at_charge, drain):
    fw.deploy_fix()
    fork = durable.fork(order_failed_at_charge, 2)
    assert fork.created
    assert fork.instance_id == "order-1:fork-1"
    drain(fork)

    assert fork.result() == {"reserved": "reserve done", "invoiced": "invoice done", "charged": {"charged": "o-1"}}
    # Steps 0-1 were replayed from the copy, not run: their rows were written once, by the original.
    assert fw.ledger(order_failed_at_charge) == ["reserve", "invoice"]
    assert fw.ledger(fork.instance_id) == ["charge", "ship"]
    assert steps(fork.instance_id, 2) == steps(order_failed_at_charge, 2)
    assert [s[:4] for s in steps(fork.instance_id)][2:] == [
        (2, "activity", "fork.charge", "completed"),
        (3, "activity", "fork.write", "completed"),
    ]
    row = WorkflowInstance.objects.get(pk=fork.instance_id)
    assert (row.forked_from, row.fork_position, row.input) == (
        order_failed_at_charge,
        2,
        {"args": ["o-1"], "kwargs": {}},
    )
    original = WorkflowInstance.objects.get(pk=order_failed_at_charge)
    assert original.status == Status.FAILED  # left as it was, but for its incident log
    assert original.incidents[-1]["kind"] == "forked" and original.incidents[-1]["fork"] == fork.instance_id
    assert row.incidents[0]["original"] == order_failed_at_charge


def test_fork__from_zero_runs_everything_again_and_ids_count_up(order_failed_at_charge, drain):
    fw.deploy_fix()
    first = durable.fork(order_failed_at_charge, 0)
    second = durable.fork(order_failed_at_charge, 1, instance_id="order-1-again")
    third = durable.fork(order_failed_at_charge, 2)
    assert (first.instance_id, second.instance_id, third.instance_id) == (
        "order-1:fork-1", "order-1-again", "order-1:fork-3"
    )  # fmt: skip
    drain()
    assert fw.ledger(first.instance_id) == ["reserve", "invoice", "charge", "ship"]
    assert fw.ledger(second.instance_id) == ["invoice", "charge", "ship"]
    assert fw.ledger(third.instance_id) == ["charge", "ship"]
    assert list(
        WorkflowInstance.objects.filter(forked_from=order_failed_at_charge).order_by("pk").values_list("pk", flat=True)
    )


def test_fork__keeping_every_step_replays_the_failure_as_recorded(order_failed_at_charge, drain):
    fw.deploy_fix()
    fork = durable.fork(order_failed_at_charge, 3)
    drain(fork)
    # The failed charge was copied: the fork fails as the original did, nothing runs again.
    assert fork.status == Status.FAILED
    assert fw.ledger(fork.instance_id) == []


def test_fork__a_wait_step_keeps_its_event_and_published_values_follow_the_copy(drain):
    handle = durable.start(fw.approval, "o-2", instance_id="approval-2")
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    durable.send_event("fork.approved", "/managers", {"order_id": "o-2", "by": "ann"})
    drain(handle)
    assert handle.status == Status.FAILED
    fw.deploy_fix()

    after_wait = durable.fork(handle.instance_id, 5)
    before_wait = durable.fork(handle.instance_id, 2)
    assert dict(PublishedValue.objects.filter(instance_id=after_wait.instance_id).values_list("key", "value")) == {
        "stage": "approved"
    }
    assert dict(PublishedValue.objects.filter(instance_id=before_wait.instance_id).values_list("key", "value")) == {
        "stage": "asked"
    }
    drain(after_wait)
    assert after_wait.result() == {"approved_by": "ann", "charged": {"charged": "o-2"}}
    # The event was delivered to the original; the fork's copied wait step carries its record.
    assert not Delivery.objects.filter(instance_id=after_wait.instance_id).exists()
    assert Delivery.objects.filter(instance_id=handle.instance_id).count() == 1

    # Forked before the wait, it waits for a new event: the original's is not taken again.
    drain(lambda: before_wait.status == Status.WAITING_FOR_EVENT)
    assert fw.ledger(before_wait.instance_id) == []
    durable.send_event("fork.approved", "/managers", {"order_id": "o-2", "by": "bo"})
    drain(before_wait)
    assert before_wait.result() == {"approved_by": "bo", "charged": {"charged": "o-2"}}
    assert durable.get_event(before_wait.instance_id, "stage") == "approved"


def test_fork__shares_the_business_key(drain):
    handle = durable.start(fw.order, "o-3", business_key="shop.order:3")
    drain(handle)
    fork = durable.fork(handle.instance_id, 2)
    assert set(durable.instances_for("shop.order:3").values_list("pk", flat=True)) == {
        handle.instance_id,
        fork.instance_id,
    }


def test_fork__keeps_the_slot_of_a_scheduled_original_but_not_its_schedule(order_failed_at_charge):
    slot = WorkflowInstance.objects.get(pk=order_failed_at_charge).created_at
    WorkflowInstance.objects.filter(pk=order_failed_at_charge).update(schedule_name="nightly", scheduled_at=slot)
    fork = WorkflowInstance.objects.get(pk=durable.fork(order_failed_at_charge, 1).instance_id)
    assert (fork.scheduled_at, fork.schedule_name) == (slot, None)


def test_fork__a_paused_instance_may_be_forked_and_stays_paused(drain):
    handle = durable.start(fw.approval, "o-4")
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    durable.pause(handle.instance_id)
    fork = durable.fork(handle.instance_id, 2)
    drain(lambda: fork.status == Status.WAITING_FOR_EVENT)
    assert handle.status == Status.PAUSED
    # The fork waits on its own; the original's wait is the original's.
    assert Wait.objects.filter(instance_id=fork.instance_id).count() == 1


def test_fork__not_past_the_compensations_that_undid_the_run(drain):
    handle = durable.start(saga_workflows.three_then_fail)
    drain(handle)
    kinds = [s[1] for s in steps(handle.instance_id)]
    first_undo = kinds.index("compensation")
    before = rows_written()
    with pytest.raises(durable.InvalidArgument, match=f"Fork from step {first_undo} or earlier"):
        durable.fork(handle.instance_id, first_undo + 1)
    assert rows_written() == before
    fork = durable.fork(handle.instance_id, first_undo)
    drain(fork)
    # The copied failure unwinds the fork's own saga again: its compensations run for it.
    assert fork.status == Status.FAILED
    assert WorkflowInstance.objects.get(pk=fork.instance_id).compensated


@pytest.mark.parametrize("position", [-1, 5, 2.0, "2", True, None])
def test_fork__a_position_outside_the_history_changes_nothing(order_failed_at_charge, position):
    before = rows_written()
    with pytest.raises(durable.InvalidArgument) as caught:
        durable.fork(order_failed_at_charge, position)
    assert caught.value.code == ("invalid_position" if position == 5 else "invalid_argument")
    assert rows_written() == before


def test_fork__the_error_names_the_history_length(order_failed_at_charge):
    with pytest.raises(durable.InvalidPosition, match="its history has 3 steps .* from 0 to 3") as caught:
        durable.fork(order_failed_at_charge, 4)
    assert (caught.value.code, caught.value.status_code) == ("invalid_position", 409)
    assert isinstance(caught.value, ValueError)


def test_fork__an_unknown_instance_changes_nothing():
    before = rows_written()
    with pytest.raises(durable.InstanceNotFound) as caught:
        durable.fork("nobody", 0)
    assert caught.value.code == "instance_not_found"
    assert rows_written() == before


def test_fork__an_id_taken_changes_nothing(order_failed_at_charge):
    durable.start(fw.order, "o-9", instance_id="taken")
    before = rows_written()
    with pytest.raises(durable.InstanceExists) as caught:
        durable.fork(order_failed_at_charge, 2, instance_id="taken")
    assert caught.value.code == "instance_exists" and caught.value.status_code == 409
    assert rows_written() == before
    with pytest.raises(durable.InstanceExists):
        durable.fork(order_failed_at_charge, 2, instance_id=order_failed_at_charge)
    assert rows_written() == before


@pytest.mark.parametrize("bad_id", ["", "has space", "a/b", 7, "x" * 201])
def test_fork__a_malformed_id_changes_nothing(order_failed_at_charge, bad_id):
    before = rows_written()
    with pytest.raises(durable.InvalidArgument):
        durable.fork(order_failed_at_charge, 2, instance_id=bad_id)
    assert rows_written() == before


def test_fork__an_instance_that_may_be_running_is_refused(drain):
    pending = durable.start(fw.order, "o-5")
    before = rows_written()
    with pytest.raises(durable.InvalidTransition, match="Pause it"):
        durable.fork(pending.instance_id, 0)
    waiting = durable.start(fw.approval, "o-6")
    drain(lambda: waiting.status == Status.WAITING_FOR_EVENT)
    before = rows_written()
    with pytest.raises(durable.InvalidTransition, match="waiting_for_event"):
        durable.fork(waiting.instance_id, 1)
    assert rows_written() == before


def test_fork__an_erased_instance_is_refused(order_failed_at_charge):
    durable.erase(order_failed_at_charge)
    before = rows_written()
    with pytest.raises(durable.InvalidTransition, match="erased"):
        durable.fork(order_failed_at_charge, 1)
    assert rows_written() == before


def test_fork__a_step_still_retrying_is_not_copied(drain):
    # An activity waiting for its next attempt is not settled: a fork must run it again.
    handle = durable.start(fw.retries)
    drain(lambda: handle.status == Status.WAITING_FOR_TIMER)
    durable.pause(handle.instance_id)
    with pytest.raises(durable.InvalidArgument, match="step 1 is still retrying"):
        durable.fork(handle.instance_id, 2)
    fork = durable.fork(handle.instance_id, 1)
    drain(lambda: fork.status == Status.WAITING_FOR_TIMER)
    assert fw.ledger(fork.instance_id) == []
    assert HistoryStep.objects.get(instance_id=fork.instance_id, position=1).attempt == 1


def test_fork__erasing_the_original_by_id_erases_its_forks_and_theirs(order_failed_at_charge, drain):
    # A fork holds a copy of its original's input and first steps: erasing one must reach them.
    fork = durable.fork(order_failed_at_charge, 2)
    drain(fork)
    second = durable.fork(fork.instance_id, 1)
    drain(second)
    unrelated = durable.start(fw.order, "o-9", instance_id="order-9")
    drain(unrelated)
    done = durable.erase(order_failed_at_charge, "request 7")
    assert sorted(done.erased) == sorted([order_failed_at_charge, fork.instance_id, second.instance_id])
    for pk in done.erased:
        row = WorkflowInstance.objects.get(pk=pk)
        assert row.erased_at is not None and row.input == "[erased]", pk
        results = HistoryStep.objects.filter(instance_id=pk).values_list("result", flat=True)
        assert {result for result in results} <= {"[erased]", None}, pk
    assert WorkflowInstance.objects.get(pk="order-9").erased_at is None
