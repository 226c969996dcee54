"""Parallel steps and first of several against the real database, run in this process: results
in order, failures after all ended, first decided once with its losers withdrawn, bad input,
the parallel limit, cancel, and a replay of what was recorded."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import durable
from durable import journal, replay_export, testing, timers
from durable.engine.parallel import MAX_PARALLEL
from durable.models import HistoryStep, Status, Timer, Wait, WorkflowInstance
from durable.replay_check import ReplayMismatch
from durable.run import executor, steps
from tests import parallel_workflows as pw
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db


def kinds(instance_id: str) -> list[tuple[int, str, str]]:
    rows = HistoryStep.objects.filter(instance_id=instance_id).order_by("position")
    return list(rows.values_list("position", "kind", "status"))


def no_waits_or_timers(instance_id: str) -> bool:
    return (
        not Wait.objects.filter(instance_id=instance_id).exists()
        and not Timer.objects.filter(instance_id=instance_id).exists()
    )


def test_gather__results_in_order_each_step_at_its_own_position(drain):
    handle = durable.start(pw.naps, 4, 0.01)
    drain(handle)
    assert handle.result() == ["nap:0", "nap:1", "nap:2", "nap:3"]
    assert kinds(handle.instance_id) == [(i, "parallel", "completed") for i in range(4)]
    # Ended steps hold no lease and are due no more.
    assert not HistoryStep.objects.filter(instance_id=handle.instance_id, due_at__isnull=False).exists()
    assert not HistoryStep.objects.filter(instance_id=handle.instance_id, lease_owner__isnull=False).exists()


def test_gather__the_parent_waits_released_then_wakes_once_when_the_last_ends(django_capture_on_commit_callbacks):
    handle = durable.start(pw.naps, 3, 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        executor.run_due()
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.status == Status.WAITING_FOR_EVENT and row.lease_owner is None and row.run_after is None
    assert row.waiting_for == {"kind": "steps", "positions": [0, 1, 2]}
    owner = executor.owner_id()
    for expected_due in (False, False, True):
        with django_capture_on_commit_callbacks(execute=True):
            claimed = journal.claim_step(owner, 30.0, steps.RUNNABLE)
            assert claimed is not None
            steps.run_one(claimed, owner)
        row = WorkflowInstance.objects.get(id=handle.instance_id)
        assert (row.run_after is not None) is expected_due, "only the last step to end wakes the parent"
    # The wake-up reads the whole history in one query, whatever the number of steps.
    with CaptureQueriesContext(connection) as queries:
        journal.load_history(handle.instance_id)
    assert len(queries) == 1
    with django_capture_on_commit_callbacks(execute=True):
        executor.run_due()
    assert handle.result() == ["nap:0", "nap:1", "nap:2"]


def test_gather__a_failure_raises_activity_error_after_all_have_ended(drain):
    handle = durable.start(pw.one_fails, 0.01)
    drain(handle)
    result = handle.result()
    assert result["failed"] == "par.broken" and result["attempts"] == pw.QUICK.max_attempts
    statuses = dict((p, s) for p, _, s in kinds(handle.instance_id)[:3])
    assert statuses == {0: "completed", 1: "failed", 2: "completed"}
    # Both retries of the broken one ran, and both naps ended, before the workflow went on.
    assert Ledger.objects.filter(instance_id=handle.instance_id, step__startswith="broken:").count() == 2
    assert set(
        Ledger.objects.filter(instance_id=handle.instance_id, step__startswith="nap:").values_list("step", flat=True)
    ) == {"nap:a", "nap:b"}


def test_first__the_event_first_withdraws_the_timer(drain):
    handle = durable.start(pw.approval, "r-1", 60)
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.waiting_for["words"] == "approval.decision, or 1m timer, whichever first"
    timer = Timer.objects.get(instance_id=handle.instance_id)
    assert (timer.purpose, timer.branch) == ("first", 1)
    assert Wait.objects.get(instance_id=handle.instance_id).branch == 0
    durable.send_event("approval.decision", "/approvals", {"request_id": "r-1", "approved": True})
    drain(handle)
    assert handle.result() == {"outcome": "decided", "approved": True}
    assert no_waits_or_timers(handle.instance_id)
    decision = HistoryStep.objects.get(instance_id=handle.instance_id, kind="first")
    assert decision.result["index"] == 0


def test_first__the_timer_first_withdraws_the_wait_and_a_late_event_changes_nothing(drain):
    handle = durable.start(pw.approval, "r-2", 0.2)
    drain(handle)
    assert handle.result() == {"outcome": "reminded"}
    assert no_waits_or_timers(handle.instance_id)
    durable.send_event("approval.decision", "/approvals", {"request_id": "r-2", "approved": False})
    drain()
    assert HistoryStep.objects.filter(instance_id=handle.instance_id, kind="first").count() == 1
    assert handle.result() == {"outcome": "reminded"}


def test_first__an_event_kept_before_the_first_decides_at_once(drain):
    # Sent after the start, before the run reaches its first: kept, and taken by it.
    handle = durable.start(pw.approval, "r-3", 60)
    durable.send_event("approval.decision", "/approvals", {"request_id": "r-3", "approved": True})
    drain(handle)
    assert handle.result() == {"outcome": "decided", "approved": True}
    assert no_waits_or_timers(handle.instance_id)


def test_first__a_step_first_withdraws_the_timer(drain):
    handle = durable.start(pw.race_step, 0.01, 60)
    drain(handle)
    result = handle.result()
    assert result["index"] == 0 and result["value"]["label"] == "nap:race"
    assert no_waits_or_timers(handle.instance_id)


def test_first__the_timer_first_leaves_the_activity_to_finish_recorded_but_unused(django_capture_on_commit_callbacks):
    handle = durable.start(pw.race_step, 0.01, 0.05)
    with django_capture_on_commit_callbacks(execute=True):
        executor.run_due()
    time.sleep(0.1)
    # The timer fires before any worker took the step.
    with django_capture_on_commit_callbacks(execute=True):
        assert timers.fire_due() == 1
        executor.run_due()
    assert handle.result() == {"index": 1, "value": None}
    assert steps.run_due(max_seconds=5) == 1
    assert HistoryStep.objects.get(instance_id=handle.instance_id, position=0).result["label"] == "nap:race"
    assert no_waits_or_timers(handle.instance_id)
    assert WorkflowInstance.objects.get(id=handle.instance_id).status == Status.COMPLETED


@pytest.mark.parametrize(
    ("workflow", "args", "message"),
    [
        (pw.foreign, ("someone-else",), "gather() got the handle of step 0 of instance someone-else"),
        (pw.nothing, (), "first() needs one or more step handles"),
    ],
)
def test_bad_input__a_clear_error_and_nothing_recorded(drain, workflow, args, message):
    handle = durable.start(workflow, *args)
    drain(handle)
    assert message in handle.result()
    assert HistoryStep.objects.filter(instance_id=handle.instance_id).count() == 0


def test_bad_input__an_event_type_twice_in_one_first():
    from durable.engine.context import WorkflowContext
    from tests.engine.memory import MemoryBackend

    ctx = WorkflowContext(instance_id="i-1", workflow_name="w", history=[], backend=MemoryBackend())
    with pytest.raises(durable.InvalidArgument, match="waits for event type 'a' twice"):
        ctx.first(ctx.event("a"), ctx.event(["b", "a"]))
    with pytest.raises(durable.InvalidArgument, match="takes handles from activity.start"):
        ctx.first("not a handle")
    with pytest.raises(durable.InvalidArgument, match="timer duration must not be negative"):
        ctx.timer(-1)


def test_limit__more_than_the_parallel_limit_is_refused_with_nothing_recorded_for_it(drain):
    handle = durable.start(pw.too_many, MAX_PARALLEL + 1)
    drain(handle, timeout=120)
    result = handle.result()
    assert result["started"] == MAX_PARALLEL
    assert f"at most {MAX_PARALLEL} run at once" in result["error"]
    assert HistoryStep.objects.filter(instance_id=handle.instance_id, kind="parallel").count() == MAX_PARALLEL


def test_cancel__withdraws_the_steps_not_yet_taken(django_capture_on_commit_callbacks):
    handle = durable.start(pw.naps, 3, 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        executor.run_due()
    durable.cancel(handle.instance_id, reason="not needed")
    assert steps.run_due(max_seconds=1) == 0
    assert not HistoryStep.objects.filter(instance_id=handle.instance_id, due_at__isnull=False).exists()
    assert not Ledger.objects.filter(instance_id=handle.instance_id).exists()


def test_replay__a_recorded_instance_with_parallel_steps_replays_deterministically(drain):
    handle = durable.start(pw.mixed, 5)
    drain(handle)
    recorded = HistoryStep.objects.filter(instance_id=handle.instance_id).count()
    assert [k for _, k, _ in kinds(handle.instance_id)] == ["activity", *["parallel"] * 5, "uuid4", "activity"]
    found = testing.replay(handle.instance_id)
    assert (found.verdict, found.replayed) == ("match", recorded)
    # The same history under code that starts one step fewer: the mismatch is named by position.
    document = replay_export.export(handle.instance_id)
    document["input"] = {"args": [4], "kwargs": {}}
    with pytest.raises(ReplayMismatch, match="step 5: history has parallel 'par.double' but the code called uuid4"):
        testing.replay(document)


def test_retry__a_failed_gather_runs_its_failed_steps_again(drain, tmp_path):
    handle = durable.start(pw.flaky_batch, str(tmp_path / "fixed"))
    drain(handle)
    with pytest.raises(durable.WorkflowFailed, match="ActivityError"):
        handle.result()
    (tmp_path / "fixed").write_text("yes")
    durable.retry(handle.instance_id)
    drain(handle)
    assert handle.result() == [1, 2, 3]
    rows = HistoryStep.objects.filter(instance_id=handle.instance_id).order_by("position")
    assert list(rows.values_list("status", flat=True)) == ["completed"] * 3
