"""Replay against an in-memory history: recorded steps return, new ones run, drift is caught."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

import durable
from durable.engine import replay
from durable.engine.context import WorkflowContext
from durable.engine.registry import WorkflowDefinition
from durable.engine.types import StepStatus
from tests.engine.memory import MemoryBackend

CALLS: list[str] = []


@durable.activity(name="engine_test.charge")
def charge(ctx: durable.ActivityContext, amount: int) -> dict:
    CALLS.append(f"charge:{amount}")
    return {"charged": amount, "key": ctx.idempotency_key}


@durable.activity(name="engine_test.refund")
def refund(ctx: durable.ActivityContext, amount: int) -> dict:
    CALLS.append(f"refund:{amount}")
    return {"refunded": amount}


@durable.activity(name="engine_test.flaky", retry=durable.RetryPolicy(max_attempts=3, initial_interval=10))
def flaky(ctx: durable.ActivityContext) -> int:
    raise ConnectionError(f"attempt {ctx.attempt}")


@durable.workflow(name="engine_test.pay_then_sleep")
def pay_then_sleep(ctx: durable.WorkflowContext, amount: int) -> dict:
    first = charge(ctx, amount)
    ctx.sleep(dt.timedelta(minutes=5))
    return {"first": first, "second": charge(ctx, amount + 1)}


@durable.workflow(name="engine_test.refund_instead")
def refund_instead(ctx: durable.WorkflowContext, amount: int) -> dict:
    return refund(ctx, amount)


@durable.workflow(name="engine_test.values")
def values(ctx: durable.WorkflowContext) -> dict:
    replaying = ctx.is_replaying
    out = {"now": ctx.now(), "uuid": ctx.uuid4(), "random": ctx.random(), "was_replaying": replaying}
    ctx.sleep(1)
    return out


@durable.workflow(name="engine_test.swallow")
def swallow(ctx: durable.WorkflowContext) -> str:
    try:
        ctx.sleep(30)
    except BaseException:  # noqa: B036 - the point of the test
        return "swallowed"
    return "slept"


@durable.workflow(name="engine_test.swallow_nondeterminism")
def swallow_nondeterminism(ctx: durable.WorkflowContext) -> str:
    try:
        refund(ctx, 1)
    except Exception:
        return "swallowed"
    return "ran"


@durable.workflow(name="engine_test.waits")
def waits(ctx: durable.WorkflowContext) -> str:
    try:
        event = ctx.wait_event("payment.completed", match={"order_id": "o-1"}, timeout=60)
    except durable.WaitTimeout as exc:
        assert isinstance(exc, TimeoutError)
        return "timeout"
    return event.data["payment_id"]


@durable.workflow(name="engine_test.retries")
def retries(ctx: durable.WorkflowContext) -> dict:
    try:
        flaky(ctx)
    except durable.ActivityError as exc:
        return {"name": exc.activity_name, "type": exc.error_type, "attempts": exc.attempts, "message": exc.message}
    return {}


@durable.workflow(name="engine_test.explodes")
def explodes(ctx: durable.WorkflowContext) -> None:
    raise KeyError("missing")


@durable.workflow(name="engine_test.bad_result")
def bad_result(ctx: durable.WorkflowContext) -> object:
    return object()


@durable.workflow(name="engine_test.bad_argument")
def bad_argument(ctx: durable.WorkflowContext) -> object:
    return charge(ctx, object())


def run(definition, backend: MemoryBackend, *args) -> replay.Outcome:
    ctx = WorkflowContext(instance_id="i-1", workflow_name=definition.name, history=backend.history(), backend=backend)
    return replay.run(definition, ctx, list(args), {})


@pytest.fixture(autouse=True)
def clear_calls():
    CALLS.clear()


def test_replay__recorded_activity_is_not_run_again():
    backend = MemoryBackend()
    assert run(pay_then_sleep, backend, 10).kind == replay.SUSPENDED
    assert CALLS == ["charge:10"]
    backend.fire(1)
    outcome = run(pay_then_sleep, backend, 10)
    assert outcome.kind == replay.COMPLETED
    assert CALLS == ["charge:10", "charge:11"]
    assert outcome.result == {"first": {"charged": 10, "key": "i-1:0"}, "second": {"charged": 11, "key": "i-1:2"}}


def test_replay__activity_name_mismatch_raises():
    backend = MemoryBackend()
    run(pay_then_sleep, backend, 10)
    outcome = run(refund_instead, backend, 10)
    assert outcome.kind == replay.NONDETERMINISTIC
    message = outcome.error["message"]
    assert "Instance i-1 step 0" in message
    assert "'engine_test.charge'" in message and "'engine_test.refund'" in message
    assert CALLS == ["charge:10"]


def test_replay__swallowed_nondeterminism_still_ends_the_run():
    backend = MemoryBackend()
    run(pay_then_sleep, backend, 10)
    outcome = run(swallow_nondeterminism, backend)
    assert outcome.kind == replay.NONDETERMINISTIC


def test_replay__code_shorter_than_history_is_nondeterministic():
    backend = MemoryBackend()
    run(pay_then_sleep, backend, 10)
    backend.fire(1)
    run(pay_then_sleep, backend, 10)
    shorter = WorkflowDefinition(name="engine_test.shorter", fn=lambda ctx, a: charge(ctx, a))
    outcome = run(shorter, backend, 10)
    assert outcome.kind == replay.NONDETERMINISTIC
    assert "history holds 3" in outcome.error["message"]


def test_replay__suspension_cannot_be_swallowed():
    backend = MemoryBackend()
    outcome = run(swallow, backend)
    assert outcome.kind == replay.SUSPENDED
    assert 0 in backend.timers


def test_replay__deterministic_values_replay_identically():
    backend = MemoryBackend()
    run(values, backend)
    recorded = {step.kind for step in backend.history()}
    assert recorded == {"now", "uuid4", "random"}
    backend.fire(3)
    outcome = run(values, backend)
    assert outcome.kind == replay.COMPLETED
    result = replay.codec.decode(outcome.result)
    assert result["now"] == replay.codec.decode(backend.steps[0].result) == backend.moment - dt.timedelta(seconds=1)
    assert isinstance(result["uuid"], uuid.UUID)
    assert result["uuid"] == replay.codec.decode(backend.steps[1].result)
    assert result["random"] == backend.steps[2].result
    assert result["was_replaying"] is True


def test_replay__wait_event_delivers_event_data():
    backend = MemoryBackend()
    assert run(waits, backend).kind == replay.SUSPENDED
    spec = backend.waits[0]
    assert spec.types == ["payment.completed"] and spec.match == {"order_id": "o-1"}
    assert spec.timeout_at == backend.moment + dt.timedelta(seconds=60)
    backend.deliver(0, {"id": "e1", "type": "payment.completed", "source": "/p", "data": {"payment_id": "PAY-1"}})
    outcome = run(waits, backend)
    assert outcome.result == "PAY-1"


def test_replay__wait_event_timeout_raises_wait_timeout():
    backend = MemoryBackend()
    run(waits, backend)
    backend.fire(0)
    assert run(waits, backend).result == "timeout"


def test_replay__activity_retries_then_raises_activity_error():
    backend = MemoryBackend()
    assert run(retries, backend).kind == replay.SUSPENDED
    assert backend.steps[0].status == StepStatus.RETRYING and backend.steps[0].attempt == 1
    backend.moment = backend.steps[0].retry_at
    backend.timers.clear()
    assert run(retries, backend).kind == replay.SUSPENDED
    assert backend.steps[0].attempt == 2
    assert backend.steps[0].retry_at - backend.moment == dt.timedelta(seconds=20)
    backend.moment = backend.steps[0].retry_at
    outcome = run(retries, backend)
    assert outcome.kind == replay.COMPLETED
    assert outcome.result == {
        "name": "engine_test.flaky",
        "type": "ConnectionError",
        "attempts": 3,
        "message": "attempt 3",
    }
    # Once failed for good, the replay raises the same error without running the activity again.
    runs = len(backend.ran)
    assert run(retries, backend).result == outcome.result
    assert len(backend.ran) == runs


def test_replay__workflow_exception_fails_with_traceback():
    outcome = run(explodes, MemoryBackend())
    assert outcome.kind == replay.FAILED
    assert outcome.error["type"] == "KeyError"
    assert "raise KeyError" in outcome.error["traceback"]


def test_replay__unencodable_result_fails_clearly():
    outcome = run(bad_result, MemoryBackend())
    assert outcome.kind == replay.FAILED
    assert outcome.error["type"] == "EncodingError"
    assert "result of 'engine_test.bad_result'" in outcome.error["message"]


def test_replay__unencodable_activity_argument_fails_at_call_site():
    backend = MemoryBackend()
    outcome = run(bad_argument, backend)
    assert outcome.kind == replay.FAILED
    assert "input of activity 'engine_test.charge'" in outcome.error["message"]
    assert backend.ran == []


def test_replay__sleep_rejects_negative_and_naive():
    backend = MemoryBackend()
    ctx = WorkflowContext(instance_id="i", workflow_name="w", history=[], backend=backend)
    with pytest.raises(durable.InvalidArgument):
        ctx.sleep(-1)
    with pytest.raises(durable.InvalidArgument):
        ctx.sleep_until(dt.datetime(2030, 1, 1))
    with pytest.raises(durable.InvalidArgument):
        ctx.wait_event([])


def test_received_event__data_as_builds_dataclasses_and_pydantic_models():
    import dataclasses

    from durable.engine.types import ReceivedEvent

    @dataclasses.dataclass
    class Paid:
        payment_id: str
        amount: float

    event = ReceivedEvent(id="e", type="t", source="/s", data={"payment_id": "P", "amount": 2.5, "extra": 1})
    assert event.data_as(Paid) == Paid("P", 2.5)
    pydantic = pytest.importorskip("pydantic")

    class PaidModel(pydantic.BaseModel):
        payment_id: str
        amount: float

    assert event.data_as(PaidModel).amount == 2.5
    with pytest.raises(TypeError):
        ReceivedEvent(id="e", type="t", source="/s", data="text").data_as(Paid)


def test_replay__an_attempt_whose_worker_died_counts_as_failed():
    from durable.engine.types import Step

    backend = MemoryBackend()
    # The history holds attempt 3 marked started: its worker died before recording how it ended.
    backend.steps[0] = Step(0, "activity", "engine_test.flaky", StepStatus.STARTED, None, None, 3)
    outcome = run(retries, backend)
    assert outcome.kind == replay.COMPLETED
    assert outcome.result["type"] == "WorkerLost" and outcome.result["attempts"] == 3
    assert backend.steps[0].status == StepStatus.FAILED
    assert backend.ran == [], "the lost attempt is not run again: the policy allows no fourth"


def test_replay__a_lost_attempt_with_attempts_left_is_retried_after_its_backoff():
    from durable.engine.types import Step

    backend = MemoryBackend()
    backend.steps[0] = Step(0, "activity", "engine_test.flaky", StepStatus.STARTED, None, None, 1)
    assert run(retries, backend).kind == replay.SUSPENDED
    assert backend.steps[0].status == StepStatus.RETRYING and backend.steps[0].error["type"] == "WorkerLost"
    assert backend.steps[0].retry_at - backend.moment == dt.timedelta(seconds=10)
