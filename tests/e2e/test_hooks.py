"""Durable hooks through a real durable_worker: once per completion, retried until they succeed,
run again after a SIGKILL with the same idempotency key, never changing the instance."""

from __future__ import annotations

import pytest

import durable
from durable.models import HookRun, HookStatus, Status, WorkflowInstance
from tests import hook_workflows as hw
from tests.conftest import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

QUICK_ENV = {"DURABLE_HOOK_POLL": "0.3"}


def hook_done(instance_id: str, timeout: float = 60) -> HookRun:
    def check():
        row = HookRun.objects.filter(instance_id=instance_id).first()
        return row if row is not None and row.status == HookStatus.SUCCEEDED else None

    return wait_for(check, timeout=timeout, what=f"the hook of {instance_id} to succeed")  # type: ignore[return-value]


def test_hooks__a_completed_hook_runs_once_per_completion_and_only_for_its_workflow(worker_factory, tmp_path):
    worker_factory(**QUICK_ENV)
    logs = {n: tmp_path / f"{n}.jsonl" for n in ("a", "b", "other")}
    handles = {n: durable.start(hw.finishes if n != "other" else hw.other, str(logs[n])) for n in logs}
    for handle in handles.values():
        handle.result(timeout=60)
        hook_done(handle.instance_id)
    for name, handle in handles.items():
        lines = hw.attempts(logs[name])
        assert len(lines) == 1, lines
        hook = "tests.hook_workflows.on_other" if name == "other" else "tests.hook_workflows.on_finish"
        assert lines[0]["hook"] == hook
        assert lines[0]["instance"] == handle.instance_id and lines[0]["status"] == Status.COMPLETED
        assert lines[0]["trigger"] == "completed" and lines[0]["attempt"] == 1
        # One hook row per instance: on_finish never ran for hooks.other, nor on_other for hooks.finishes.
        assert list(HookRun.objects.filter(instance_id=handle.instance_id).values_list("hook_name", flat=True)) == [
            hook
        ]


def test_hooks__a_hook_that_raises_is_retried_until_it_succeeds_and_the_instance_stays_completed(
    worker_factory, tmp_path
):
    worker_factory(**QUICK_ENV)
    log = tmp_path / "flaky.jsonl"
    handle = durable.start(hw.finishes, str(log), fails=3)
    assert handle.result(timeout=60) == {"log": str(log), "fails": 3, "block": 0.0}
    row = hook_done(handle.instance_id)
    lines = hw.attempts(log)
    assert [line["attempt"] for line in lines] == [1, 2, 3, 4]
    assert len({line["key"] for line in lines}) == 1
    assert row.attempts == 4 and row.last_error["type"] == "RuntimeError"
    assert "attempt 3 fails on purpose" in row.last_error["message"]
    instance = WorkflowInstance.objects.get(id=handle.instance_id)
    assert instance.status == Status.COMPLETED and instance.error is None


def test_hooks__a_hook_that_keeps_failing_never_changes_the_instance(worker_factory, tmp_path):
    worker_factory(**QUICK_ENV)
    log = tmp_path / "broken.jsonl"
    handle = durable.start(hw.finishes, str(log), fails=10_000)
    handle.result(timeout=60)
    wait_for(lambda: len(hw.attempts(log)) >= 4, timeout=60, what="four failed attempts")
    row = HookRun.objects.get(instance_id=handle.instance_id)
    assert row.status == HookStatus.FAILING and row.next_attempt_at is not None
    instance = WorkflowInstance.objects.get(id=handle.instance_id)
    assert instance.status == Status.COMPLETED and instance.error is None
    assert instance.result == {"log": str(log), "fails": 10_000, "block": 0.0}


def test_hooks__a_worker_killed_during_the_hook_leaves_it_to_the_next_with_the_same_key(worker_factory, tmp_path):
    env = {**QUICK_ENV, "DURABLE_LEASE_SECONDS": "2"}
    first = worker_factory(**env)
    log = tmp_path / "killed.jsonl"
    handle = durable.start(hw.finishes, str(log), block=120.0)
    handle.result(timeout=60)
    # The transition committed and the first attempt began: the worker dies in the middle of it.
    wait_for(lambda: hw.attempts(log), timeout=60, what="the first attempt to start")
    first.kill()
    assert HookRun.objects.get(instance_id=handle.instance_id).status == HookStatus.PENDING
    worker_factory(**env)
    row = hook_done(handle.instance_id, timeout=90)
    lines = hw.attempts(log)
    assert [line["attempt"] for line in lines] == [1, 2]
    assert lines[0]["key"] == lines[1]["key"] == row.id
    assert lines[0]["pid"] != lines[1]["pid"]
    assert WorkflowInstance.objects.get(id=handle.instance_id).status == Status.COMPLETED


def test_hooks__a_transition_committed_while_no_worker_runs_gets_its_hook_run_when_one_starts(worker_factory, tmp_path):
    from durable.testing import run_until

    log = tmp_path / "later.jsonl"
    handle = durable.start(hw.finishes, str(log))
    run_until(lambda: WorkflowInstance.objects.get(id=handle.instance_id).status == Status.COMPLETED)
    row = HookRun.objects.get(instance_id=handle.instance_id)
    assert row.status == HookStatus.PENDING and row.attempts == 0 and hw.attempts(log) == []
    worker_factory(**QUICK_ENV)
    hook_done(handle.instance_id)
    assert [line["attempt"] for line in hw.attempts(log)] == [1]
