"""durable.hooks: the decorator's checks, the outbox rows a transition writes (one INSERT, none
without hooks), leased claims, attempts and their backoff, and retry now."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import durable
from durable import db, hooks, transitions
from durable.engine.hooks import DEFAULT_HOOK_RETRY, HookDefinition
from durable.engine.registry import registry
from durable.models import HookRun, HookStatus, Status, WorkflowInstance
from durable.run import executor
from tests import hook_workflows as hw

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_wake_ups(monkeypatch):
    monkeypatch.setattr(db, "_waker", None)
    if connection.vendor == "postgresql":
        db.sync_clock()


def counted(fn) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        fn()
    return len(queries), [q["sql"] for q in queries.captured_queries]


def started_waiting() -> str:
    handle = durable.start(hw.waits)
    executor.run_due()
    assert handle.status == Status.WAITING_FOR_EVENT
    return handle.instance_id


# The decorator


@pytest.mark.parametrize("on", ["complete", "done", "", None, 3])
def test_hook__an_unknown_trigger_is_refused_at_import(on):
    with pytest.raises(durable.DefinitionError, match="unknown trigger; use one of completed, failed"):
        durable.hook(on)  # type: ignore[arg-type]


def test_hook__workflow_and_retry_must_be_what_they_say():
    with pytest.raises(durable.DefinitionError, match="takes a workflow or its name"):
        durable.hook("completed", workflow=3)
    with pytest.raises(durable.DefinitionError, match="takes a RetryPolicy"):
        durable.hook("completed", retry=5)  # type: ignore[arg-type]
    with pytest.raises(durable.DefinitionError, match="lambda"):
        durable.hook("completed")(lambda ctx, instance: None)


def test_hook__is_registered_by_its_dotted_name_with_unlimited_backoff_by_default():
    definition = registry.hooks["tests.hook_workflows.on_break"]
    assert definition.trigger == "failed" and definition.workflow == "hooks.breaks"
    assert definition.retry is DEFAULT_HOOK_RETRY
    assert DEFAULT_HOOK_RETRY.retries(RuntimeError(), 10_000)
    assert DEFAULT_HOOK_RETRY.delay(1) == 1.0 and DEFAULT_HOOK_RETRY.delay(100) == 3600.0
    assert registry.hooks["hooks.on_cancel_too"].fn is hw.on_cancel_too.fn
    assert registry.hooks_for("cancelled", "hooks.waits") == ["tests.hook_workflows.on_cancel", "hooks.on_cancel_too"]
    assert registry.hooks_for("completed", "hooks.waits") == []


# Recording: the outbox


def test_record__one_insert_in_the_transition_whatever_the_number_of_hooks(monkeypatch):
    with_hooks = started_waiting()
    without = started_waiting()
    count, sql = counted(lambda: durable.cancel(with_hooks, reason="no more"))
    inserts = [s for s in sql if s.upper().startswith("INSERT") and "durable_hook" in s]
    assert len(inserts) == 1
    rows = HookRun.objects.filter(instance_id=with_hooks).order_by("hook_name")
    assert [(r.hook_name, r.trigger, r.status, r.attempts) for r in rows] == [
        ("hooks.on_cancel_too", "cancelled", HookStatus.PENDING, 0),
        ("tests.hook_workflows.on_cancel", "cancelled", HookStatus.PENDING, 0),
    ]
    monkeypatch.setattr(registry, "hooks", {})
    baseline, _ = counted(lambda: durable.cancel(without, reason="no more"))
    assert count == baseline + 1
    assert not HookRun.objects.filter(instance_id=without).exists()


def test_record__no_query_when_no_hook_applies():
    assert counted(lambda: hooks.record("nobody", "hooks.waits", "completed"))[0] == 0
    assert counted(lambda: hooks.record("nobody", "tests.no_such_workflow", "cancelled"))[0] == 0


def test_record__a_completion_with_a_hook_costs_one_query_more(monkeypatch, tmp_path):
    durable.start(hw.finishes, str(tmp_path / "a"))
    with_hook, _ = counted(executor.run_due)
    monkeypatch.setattr(registry, "hooks", {})
    durable.start(hw.finishes, str(tmp_path / "b"))
    without, _ = counted(executor.run_due)
    assert with_hook == without + 1
    assert HookRun.objects.count() == 1


def test_record__the_row_exists_only_if_the_transition_committed():
    instance_id = started_waiting()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), db.atomic():
        durable.cancel(instance_id)
        assert HookRun.objects.filter(instance_id=instance_id).count() == 2
        raise Abort
    assert not HookRun.objects.exists()
    assert WorkflowInstance.objects.get(id=instance_id).status == Status.WAITING_FOR_EVENT


def test_record__each_transition_maps_to_its_trigger_and_the_erasure_helper_records_erased(monkeypatch):
    seen: list[tuple[str, str]] = []
    for trigger in ("paused", "resumed", "cancelled", "erased"):
        definition = HookDefinition(name=f"t.{trigger}", fn=lambda ctx, i: None, trigger=trigger)
        monkeypatch.setitem(registry.hooks, definition.name, definition)
    instance_id = started_waiting()
    durable.pause(instance_id, reason="a look")
    durable.resume(instance_id)
    durable.cancel(instance_id)
    hooks.record(instance_id, "hooks.waits", "erased")
    for row in HookRun.objects.filter(hook_name__startswith="t.").order_by("created_at", "hook_name"):
        seen.append((row.hook_name, row.trigger))
    assert seen == [(f"t.{t}", t) for t in ("paused", "resumed", "cancelled", "erased")]
    assert hooks.TRIGGER_OF.get("cancel_compensating") is None
    assert hooks.TRIGGER_OF["cancel_run"] == "cancelled" and hooks.TRIGGER_OF["pause_run"] == "paused"
    assert set(hooks.TRIGGER_OF) <= set(transitions.TRANSITIONS)


# Running


def test_claim__a_leased_hook_is_nobody_elses_until_its_lease_ends():
    hooks.record(started_waiting(), "hooks.waits", "cancelled")
    first = hooks.claim("worker-a")
    assert first is not None and first.attempts == 1 and first.lease_owner == "worker-a"
    second = hooks.claim("worker-b")
    assert second is not None and second.id != first.id
    assert hooks.claim("worker-c") is None
    # worker-a dies: once its lease ends the hook is due again, to another worker, one attempt more.
    later = first.lease_expires_at + dt.timedelta(seconds=0.01)
    assert hooks.next_due() == min(first.lease_expires_at, second.lease_expires_at)
    again = hooks.claim("worker-c", later)
    assert again is not None and again.id in (first.id, second.id) and again.attempts == 2
    # The dead worker's late outcome does not overwrite the new attempt's lease.
    if again.id == first.id:
        hooks._finish(first, status=HookStatus.SUCCEEDED, next_attempt_at=None)
        assert HookRun.objects.get(id=first.id).lease_owner == "worker-c"


def test_attempt__a_failure_backs_off_and_a_given_up_hook_can_be_retried_now(monkeypatch, caplog):
    calls: list[tuple[str, int]] = []

    def flaky(ctx, instance):
        calls.append((ctx.idempotency_key, ctx.attempt))
        assert instance.status == Status.CANCELLED and instance.workflow_name == "hooks.waits"
        raise ConnectionError("the mail server is down")

    policy = durable.RetryPolicy(max_attempts=2, initial_interval=30, backoff=2)
    definition = HookDefinition(name="t.flaky", fn=flaky, trigger="cancelled", workflow="hooks.waits", retry=policy)
    monkeypatch.setattr(registry, "hooks", {definition.name: definition})
    instance_id = started_waiting()
    durable.cancel(instance_id)
    assert hooks.run_due("w", seconds=5) == 1
    row = HookRun.objects.get()
    assert row.status == HookStatus.FAILING and row.attempts == 1 and row.lease_owner is None
    assert row.last_error["type"] == "ConnectionError" and row.last_error["attempt"] == 1
    assert 29 < (row.next_attempt_at - db.now()).total_seconds() <= 30
    assert hooks.run_due("w", seconds=5) == 0
    failure = next(r for r in caplog.records if r.name == "durable.hooks")
    assert (failure.instance_id, failure.workflow, failure.hook) == (instance_id, "hooks.waits", "t.flaky")

    assert hooks.retry_now([row.id]) == 1
    assert hooks.run_due("w", seconds=5) == 1
    row.refresh_from_db()
    assert row.status == HookStatus.GAVE_UP and row.next_attempt_at is None and row.finished_at is not None
    assert hooks.failing() == (1, [row])

    monkeypatch.setattr(definition, "fn", lambda ctx, instance: calls.append((ctx.idempotency_key, ctx.attempt)))
    assert hooks.retry_now([row.id]) == 1
    assert hooks.run_due("w", seconds=5) == 1
    row.refresh_from_db()
    assert row.status == HookStatus.SUCCEEDED and row.attempts == 3
    assert calls == [(row.id, 1), (row.id, 2), (row.id, 3)]
    assert hooks.failing() == (0, []) and hooks.retry_now([row.id]) == 0
    assert WorkflowInstance.objects.get(id=instance_id).status == Status.CANCELLED


def test_attempt__a_hook_unknown_to_this_worker_fails_and_waits_for_its_code():
    HookRun.objects.create(
        instance_id=started_waiting(), workflow_name="hooks.waits", hook_name="gone.hook", trigger="cancelled",
        next_attempt_at=db.now(),
    )  # fmt: skip
    assert hooks.run_due("w", seconds=5) == 1
    row = HookRun.objects.get()
    assert row.status == HookStatus.FAILING and "No hook named 'gone.hook'" in row.last_error["message"]


def test_instance_info__is_a_frozen_snapshot_with_the_decoded_result(tmp_path):
    handle = durable.start(hw.finishes, str(tmp_path / "x"), fails=2)
    executor.run_due()
    info = hooks.snapshot(handle.instance_id)
    assert info.result == {"log": str(tmp_path / "x"), "fails": 2, "block": 0.0}
    assert info.status == Status.COMPLETED and info.finished_at is not None and info.error is None
    with pytest.raises(AttributeError):
        info.status = "failed"  # type: ignore[misc]


def test_wake__a_recorded_hook_asks_for_the_hooks_task_on_commit(monkeypatch):
    asked: list[dict] = []
    monkeypatch.setattr(db, "_waker", lambda **kwargs: asked.append(kwargs))
    instance_id = started_waiting()
    asked.clear()
    with db.atomic():
        hooks.record(instance_id, "hooks.waits", "cancelled")
        assert asked == []
    assert asked == [{"hooks": True}]


def test_testing_run_hooks__runs_the_due_hooks_in_this_process(tmp_path):
    from durable.testing import run_hooks, run_until

    log = tmp_path / "in-process.jsonl"
    handle = durable.start(hw.finishes, str(log))
    run_until(handle)
    assert hw.attempts(log) == []
    assert run_hooks() == 1
    assert [(line["attempt"], line["instance"]) for line in hw.attempts(log)] == [(1, handle.instance_id)]
    assert run_hooks() == 0


def test_check__a_hook_for_a_workflow_no_code_registers_is_a_warning(monkeypatch):
    from durable import checks

    assert checks.check_hooks() == []
    stray = HookDefinition(name="t.stray", fn=lambda ctx, i: None, trigger="completed", workflow="no.such_workflow")
    monkeypatch.setitem(registry.hooks, stray.name, stray)
    [warning] = checks.check_hooks()
    assert warning.id == "durable.W006" and "'t.stray' runs for workflow 'no.such_workflow'" in warning.msg
