"""ctx.patched / deprecate_patch / set_details / labels against an in-memory history (no database)."""

from __future__ import annotations

import pytest

import durable
from durable.engine import replay
from durable.engine.context import WorkflowContext
from durable.engine.types import Step, StepKind
from durable.exceptions import InvalidArgument, Suspend
from tests.engine.memory import MemoryBackend

RAN: list[str] = []
CODE = {"mode": "old"}


@durable.activity(name="engine_versioning.send")
def send(ctx: durable.ActivityContext, channel: str) -> str:
    RAN.append(channel)
    return channel


@durable.activity(name="engine_versioning.send_sms")
def send_sms(ctx: durable.ActivityContext) -> str:
    RAN.append("sms")
    return "sms"


@durable.workflow(name="engine_versioning.receipt")
def receipt(ctx: durable.WorkflowContext) -> dict:
    if CODE["mode"] == "old":
        sms = False
    elif CODE["mode"] == "patched":
        sms = ctx.patched("sms")
    else:
        ctx.deprecate_patch("sms")
        sms = True
    first = send_sms(ctx) if sms else send(ctx, "email")
    ctx.sleep(60)
    # A second call with the same id in one execution gives the first's answer.
    again = ctx.patched("sms") if CODE["mode"] == "patched" else sms
    return {"first": first, "again": again}


@durable.workflow(name="engine_versioning.two_patches")
def two_patches(ctx: durable.WorkflowContext) -> list:
    return [ctx.patched("a"), ctx.patched("b"), send(ctx, "x")]


@durable.workflow(name="engine_versioning.details")
def details(ctx: durable.WorkflowContext) -> str:
    ctx.set_details("one")
    send(ctx, "x")
    ctx.set_details("two")
    ctx.sleep(60, label="cooling off")
    ctx.set_details("three")
    return "done"


def run(definition, backend: MemoryBackend) -> replay.Outcome:
    ctx = WorkflowContext(instance_id="i-1", workflow_name=definition.name, history=backend.history(), backend=backend)
    return replay.run(definition, ctx, [], {})


@pytest.fixture(autouse=True)
def old_code():
    RAN.clear()
    CODE["mode"] = "old"
    yield
    CODE["mode"] = "old"


def kinds(backend: MemoryBackend) -> list[tuple[str, str]]:
    return [(step.kind, step.name) for step in backend.history()]


def test_patched__new_execution_records_a_marker_and_replays_it_as_true():
    CODE["mode"] = "patched"
    backend = MemoryBackend()
    assert run(receipt, backend).kind == replay.SUSPENDED
    assert kinds(backend) == [("patch", "sms"), ("activity", "engine_versioning.send_sms")]
    backend.fire(2)
    outcome = run(receipt, backend)
    assert outcome.kind == replay.COMPLETED
    assert outcome.result == {"first": "sms", "again": True}
    assert RAN == ["sms"]
    # The second patched("sms") recorded nothing: the answer was the first's.
    assert [k for k, _ in kinds(backend)] == ["patch", "activity", "sleep"]


def test_patched__history_recorded_before_the_change_takes_the_old_branch_without_moving():
    backend = MemoryBackend()
    assert run(receipt, backend).kind == replay.SUSPENDED  # old code: email, then the sleep
    CODE["mode"] = "patched"
    backend.fire(1)
    outcome = run(receipt, backend)
    assert outcome.kind == replay.COMPLETED
    assert outcome.result == {"first": "email", "again": False}
    assert RAN == ["email"]
    assert kinds(backend) == [("activity", "engine_versioning.send"), ("sleep", "sleep")]


def test_patched__a_wait_older_code_left_open_at_that_position_is_the_old_branch():
    backend = MemoryBackend()
    # Older code opened a timer at position 0 and the instance runs again before it fires.
    backend.timers[0] = ("sleep", "sleep", backend.moment)
    CODE["mode"] = "patched"
    ctx = WorkflowContext(instance_id="i-1", workflow_name="wf", history=[], backend=backend)
    assert ctx.patched("sms") is False
    assert ctx.position == 0 and backend.history() == []


def test_patched__two_changes_in_a_row_each_get_their_marker():
    backend = MemoryBackend()
    assert run(two_patches, backend).result == [True, True, "x"]
    assert kinds(backend)[:2] == [("patch", "a"), ("patch", "b")]
    assert run(two_patches, backend).result == [True, True, "x"]
    assert RAN == ["x"]


def test_patched__a_marker_of_another_change_is_not_taken_for_this_one():
    # Recorded by code that had only change "b": a new patched("a") before it is the old side.
    history = [Step(0, StepKind.PATCH, "b"), Step(1, StepKind.ACTIVITY, "engine_versioning.send", result="x")]
    backend = MemoryBackend()
    backend.steps = {s.position: s for s in history}
    outcome = run(two_patches, backend)
    assert outcome.kind == replay.COMPLETED and outcome.result == [False, True, "x"]
    assert RAN == []


def test_patched__a_marker_where_the_code_calls_something_else_is_nondeterminism():
    CODE["mode"] = "patched"
    backend = MemoryBackend()
    run(receipt, backend)
    CODE["mode"] = "old"  # the patched() call was removed instead of deprecated
    outcome = run(receipt, backend)
    assert outcome.kind == replay.NONDETERMINISTIC
    assert "history has patch 'sms' but the code called activity 'engine_versioning.send'" in outcome.error["message"]


def test_deprecate_patch__consumes_a_recorded_marker_and_records_none():
    CODE["mode"] = "patched"
    patched_backend = MemoryBackend()
    run(receipt, patched_backend)
    CODE["mode"] = "deprecated"
    patched_backend.fire(2)
    assert run(receipt, patched_backend).result == {"first": "sms", "again": True}
    fresh = MemoryBackend()
    run(receipt, fresh)
    assert kinds(fresh) == [("activity", "engine_versioning.send_sms")]
    fresh.fire(1)
    assert run(receipt, fresh).kind == replay.COMPLETED


def test_deprecate_patch__over_a_history_from_before_the_change_is_nondeterminism():
    backend = MemoryBackend()
    run(receipt, backend)  # old code: email
    CODE["mode"] = "deprecated"
    outcome = run(receipt, backend)
    assert outcome.kind == replay.NONDETERMINISTIC
    message = outcome.error["message"]
    assert "history has activity 'engine_versioning.send' but the code called activity" in message


@pytest.mark.parametrize("bad", ["", "   ", None, 7, "x" * 201, "a\x00b", ["sms"]])
@pytest.mark.parametrize("method", ["patched", "deprecate_patch"])
def test_patched__a_bad_change_id_is_invalid_argument_and_records_nothing(method, bad):
    backend = MemoryBackend()
    ctx = WorkflowContext(instance_id="i-1", workflow_name="wf", history=[], backend=backend)
    with pytest.raises(InvalidArgument, match=f"{method} needs a change id"):
        getattr(ctx, method)(bad)
    assert backend.history() == [] and ctx.position == 0


def test_set_details__replay_hands_over_only_the_calls_past_the_history():
    backend = MemoryBackend()
    assert run(details, backend).kind == replay.SUSPENDED
    assert backend.details == ["one", "two"]
    backend.fire(1)
    assert run(details, backend).result == "done"
    assert backend.details == ["one", "two", "three"]


@pytest.mark.parametrize(
    ("bad", "says"),
    [(None, "takes a str"), (5, "takes a str"), ("x" * 501, "at most 500"), ("a\x07", "control characters")],
)
def test_set_details__bad_text_is_invalid_argument(bad, says):
    backend = MemoryBackend()
    ctx = WorkflowContext(instance_id="i-1", workflow_name="wf", history=[], backend=backend)
    with pytest.raises(InvalidArgument, match=says):
        ctx.set_details(bad)
    assert backend.details == []
    ctx.set_details("two lines\nare fine")
    ctx.set_details("")
    assert backend.details == ["two lines\nare fine", ""]


@pytest.mark.parametrize("bad", ["", " ", 3, "two\nlines", "x" * 201])
def test_labels__a_bad_label_is_invalid_argument_and_nothing_waits(bad):
    backend = MemoryBackend()
    ctx = WorkflowContext(instance_id="i-1", workflow_name="wf", history=[], backend=backend)
    with pytest.raises(InvalidArgument, match="label must be"):
        ctx.sleep(10, label=bad)
    with pytest.raises(InvalidArgument, match="label must be"):
        ctx.wait_event("x", label=bad)
    assert backend.timers == {} and backend.waits == {} and ctx.position == 0


def test_labels__the_wait_spec_carries_the_label_and_the_history_name_does_not():
    backend = MemoryBackend()
    ctx = WorkflowContext(instance_id="i-1", workflow_name="wf", history=[], backend=backend)
    with pytest.raises(Suspend):  # the wait is open
        ctx.wait_event("approval.given", label="manager approval")
    assert backend.waits[0].label == "manager approval" and backend.waits[0].name == "approval.given"
