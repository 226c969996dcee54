"""Running instances against the real database: retries, pauses, determinism, leases, signals."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import durable
from durable import db, journal, signals
from durable.models import HistoryStep, Status, Timer, WorkflowInstance
from durable.run import executor
from tests import workflows
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db


def test_retry__flaky_activity_succeeds_on_attempt_three(drain):
    handle = durable.start(workflows.flaky_flow, succeed_on=3)
    drain(handle)
    assert handle.result() == {"attempt": 3, "key": f"{handle.instance_id}:0"}
    attempts = list(Ledger.objects.filter(instance_id=handle.instance_id).values_list("step", flat=True))
    assert attempts == ["flaky:1", "flaky:2", "flaky:3"]
    step = HistoryStep.objects.get(instance_id=handle.instance_id, position=0)
    assert step.attempt == 3 and step.status == "completed"
    assert [f["message"] for f in step.failures] == ["attempt 1 failed", "attempt 2 failed"]


def test_retry__backoff_waits_on_a_durable_timer(drain):
    handle = durable.start(workflows.flaky_flow, succeed_on=3)
    executor.run_due()
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.status == Status.WAITING_FOR_TIMER
    assert row.waiting_for["kind"] == "retry" and row.waiting_for["attempt"] == 2
    timer = Timer.objects.get(instance_id=handle.instance_id)
    assert timer.purpose == "retry"
    drain(handle)


def test_retry__exhausted_activity_raises_activity_error_in_workflow(drain):
    handle = durable.start(workflows.catches_activity_error)
    drain(handle)
    assert handle.result() == {
        "activity": "always_fails",
        "type": "ValueError",
        "message": "the card was declined",
        "attempts": 2,
    }


def test_retry__uncaught_activity_error_fails_then_durable_retry_runs_again(drain):
    handle = durable.start(workflows.lets_activity_error_fail)
    drain(handle)
    with pytest.raises(durable.WorkflowFailed, match="ActivityError"):
        handle.result()
    durable.retry(handle.instance_id)
    assert handle.status == Status.PENDING
    drain(handle)
    assert handle.status == Status.FAILED
    step = HistoryStep.objects.get(instance_id=handle.instance_id, position=0)
    assert len(step.failures) == 4, "the first failure stays in the timeline beside the retried attempts"
    kinds = [i["kind"] for i in WorkflowInstance.objects.get(id=handle.instance_id).incidents]
    assert kinds == ["failed", "retried", "failed"]


def test_pause_after_errors__pauses_and_resume_continues(drain):
    handle = durable.start(workflows.pauses_after_errors)
    drain(handle)
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.status == Status.PAUSED
    assert "Paused after 2 failed attempts in a row" in row.status_reason
    assert "upstream is down" in row.status_reason
    Ledger.objects.create(instance_id=handle.instance_id, step="fixed")
    durable.resume(handle.instance_id)
    drain(handle)
    assert handle.result() == "ok"
    assert HistoryStep.objects.get(instance_id=handle.instance_id, position=0).attempt == 3


def test_nondeterminism__pauses_with_reason_and_resumes_after_fix(drain, monkeypatch):
    handle = durable.start(workflows.changes_shape)
    executor.run_due()
    assert handle.status == Status.WAITING_FOR_TIMER
    monkeypatch.setitem(workflows.VARIANT, "name", "b")
    drain(handle)
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.status == Status.PAUSED
    assert "history has activity 'step_a' but the code called activity 'step_b'" in row.status_reason
    assert f"Instance {handle.instance_id} step 0" in row.status_reason
    monkeypatch.setitem(workflows.VARIANT, "name", "a")
    durable.resume(handle.instance_id)
    drain(handle)
    assert handle.result() == ["a", "a"]


def test_suspension__cannot_be_swallowed_by_user_code(drain):
    handle = durable.start(workflows.swallows_everything)
    drain()
    assert handle.status == Status.WAITING_FOR_TIMER


def test_replay__deterministic_values_are_identical_across_runs(drain):
    handle = durable.start(workflows.deterministic_values)
    drain(handle)
    result = handle.result()
    assert result["first"]["now"] < result["second"]["now"]
    assert result["first"]["uuid"] != result["second"]["uuid"]
    recorded = HistoryStep.objects.filter(instance_id=handle.instance_id, kind="uuid4").order_by("position")
    assert [str(result["first"]["uuid"]), str(result["second"]["uuid"])] == [s.result["v"] for s in recorded]
    assert result["replaying_at_end"] is False


def test_transactional_activity__writes_once_per_call(drain):
    handles = [durable.start(workflows.three_steps, n, nap=0.01) for n in range(3)]
    for handle in handles:
        drain(handle)
    for handle in handles:
        steps = Ledger.objects.filter(instance_id=handle.instance_id).values_list("step", flat=True)
        assert sorted(steps) == [f"add:{handle.instance_id}:{p}" for p in (0, 1, 3)]


def test_history__loads_in_one_query(drain):
    handle = durable.start(workflows.three_steps, 1, nap=0.01)
    drain(handle)
    with CaptureQueriesContext(connection) as queries:
        steps, _ = journal.load_history(handle.instance_id)
    assert len(steps) == 5
    assert len(queries) == 1


def test_missing_workflow_code__pauses_with_a_reason(drain):
    WorkflowInstance.objects.create(id="ghost", workflow_name="removed_workflow", run_after=db.now())
    drain()
    row = WorkflowInstance.objects.get(id="ghost")
    assert row.status == Status.PAUSED
    assert "No workflow named 'removed_workflow'" in row.status_reason


@pytest.mark.django_db(transaction=True)
def test_signals__lifecycle_signals_are_sent_once_after_commit(drain):
    received = []

    def receiver(sender, instance_id, status, **kwargs):
        received.append((sender, status))

    for signal in (
        signals.workflow_started,
        signals.workflow_completed,
        signals.workflow_cancelled,
        signals.workflow_paused,
        signals.workflow_resumed,
        signals.workflow_failed,
    ):
        signal.connect(receiver, weak=False)
    try:
        done = durable.start(workflows.three_steps, 1, nap=0.01)
        drain(done)
        failed = durable.start(workflows.explodes)
        drain(failed)
        paused = durable.start(workflows.sleeper, 60)
        durable.pause(paused.instance_id)
        durable.resume(paused.instance_id)
        durable.cancel(paused.instance_id)
    finally:
        for signal in (
            signals.workflow_started,
            signals.workflow_completed,
            signals.workflow_cancelled,
            signals.workflow_paused,
            signals.workflow_resumed,
            signals.workflow_failed,
        ):
            signal.disconnect(receiver)
    assert received == [
        ("three_steps", "pending"),
        ("three_steps", "completed"),
        ("explodes", "pending"),
        ("explodes", "failed"),
        ("sleeper", "pending"),
        ("sleeper", "paused"),
        ("sleeper", "pending"),
        ("sleeper", "cancelled"),
    ]
