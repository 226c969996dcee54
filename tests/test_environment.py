"""durable.testing.WorkflowEnvironment and durable_env: the engine in the test process, on a virtual clock."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from django_q.models import OrmQ

import durable
from durable import db
from durable.testing import WorkflowEnvironment
from project import workflows as demo
from project.models import Order
from tests import environment_workflows as flows


@pytest.fixture
def notes():
    flows.NOTES.clear()
    yield flows.NOTES
    flows.NOTES.clear()


def report(what: str, began: float) -> None:
    print(f"\n[environment] {what}: {(time.perf_counter() - began) * 1000:.0f} ms of wall time")


def test_durable_env__found_through_the_pytest11_entry_point(request):
    # No conftest of this repository imports the plugin: pytest loaded it from the installed metadata.
    plugin = request.config.pluginmanager.get_plugin("durable")
    assert plugin is not None and plugin.__name__ == "durable.pytest_plugin"


def test_order_payment__five_minute_timeout_path_takes_no_real_time(durable_env, completed):
    began = time.perf_counter()
    handle = durable_env.start(demo.order_payment, "o-1", Decimal("12.50"), instance_id="order-o-1")
    durable_env.run_until_idle()
    assert handle.status == "waiting_for_event"
    durable_env.advance(dt.timedelta(minutes=4, seconds=59))
    assert handle.status == "waiting_for_event"
    durable_env.advance(1)
    assert durable_env.result(handle) == {"order_id": "o-1", "status": "cancelled", "voided": "PAY-o-1"}
    report("order_payment's 5-minute timeout", began)
    assert Order.objects.get(order_id="o-1").status == Order.Status.CANCELLED
    # Under the db fixture's uncommitted transaction, the on-commit signal still ran, once.
    assert completed == ["order-o-1"]


def test_order_payment__an_event_sent_before_the_wait_is_consumed(durable_env):
    handle = durable_env.start(demo.order_payment, "o-2", Decimal("5"))
    # The instance has not run yet: it reaches its wait only after the payment arrived.
    delivery = durable_env.send_event("payment.completed", "/payments", {"order_id": "o-2", "payment_id": "PAY-9"})
    assert delivery.resumed == []
    assert durable_env.result(handle) == {"order_id": "o-2", "status": "paid", "payment_id": "PAY-9"}
    assert Order.objects.get(order_id="o-2").payment_id == "PAY-9"


def test_expense_approval__24_hour_escalation_takes_no_real_time(durable_env):
    began = time.perf_counter()
    handle = durable_env.start(demo.expense_approval, "r-1", Decimal("900"))
    durable_env.advance(dt.timedelta(hours=23))
    assert durable.get_event(handle.instance_id, "escalated_to") is None
    durable_env.advance(dt.timedelta(hours=1))
    assert durable.get_event(handle.instance_id, "escalated_to") == "director"
    decision = {"request_id": "r-1", "role": "director", "approved": True}
    durable_env.send_event("approval.decided", "/approvals", decision)
    expected = {"request_id": "r-1", "approved": True, "approver": "director", "escalated": True}
    assert durable_env.result(handle) == expected
    report("expense_approval's 24-hour escalation", began)


def test_mock_activity__by_name_and_by_the_activity(durable_env):
    calls: list[tuple] = []

    def fake_payment(ctx, order_id, amount):
        calls.append((ctx.activity_name, ctx.attempt, order_id, amount))
        return {"payment_id": "FAKE-1"}

    durable_env.mock_activity("initiate_payment", fake_payment)
    durable_env.mock_activity(demo.void_payment, lambda ctx, payment_id: f"mock voided {payment_id}")
    handle = durable_env.start(demo.order_payment, "o-3", Decimal("7"), timeout=60)
    assert durable_env.result(handle) == {"order_id": "o-3", "status": "cancelled", "voided": "FAKE-1"}
    assert calls == [("initiate_payment", 1, "o-3", Decimal("7"))]
    history = durable.get_handle(handle.instance_id)
    assert history.status == "completed"


def test_mock_activity__a_mock_that_raises_is_retried_by_the_activity_policy(durable_env):
    attempts: list[int] = []

    def flaky(ctx, order_id, amount):
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError("the payment service is down")
        return {"payment_id": "PAY-late"}

    durable_env.mock_activity(demo.initiate_payment, flaky)
    handle = durable_env.start(demo.order_payment, "o-4", Decimal("1"))
    durable_env.send_event("payment.completed", "/payments", {"order_id": "o-4", "payment_id": "PAY-late"})
    assert durable_env.result(handle)["status"] == "paid"
    assert attempts == [1, 2, 3]


def test_mock_activity__bad_targets_are_refused_clearly(durable_env):
    with pytest.raises(durable.InvalidArgument, match=r"No activity named 'no_such_step' is registered \(known: .*"):
        durable_env.mock_activity("no_such_step", lambda ctx: None)
    with pytest.raises(durable.InvalidArgument, match="takes an @durable.activity or its name"):
        durable_env.mock_activity(demo.order_payment, lambda ctx: None)
    with pytest.raises(durable.InvalidArgument, match="with a callable"):
        durable_env.mock_activity(demo.void_payment, "not a function")
    assert demo.void_payment.fn.__name__ == "void_payment"


def test_advance__timers_within_fire_in_due_order_at_their_due_time(durable_env, notes):
    start = durable_env.now()
    late = durable_env.start(flows.clock_naps, "late", [300])
    early = durable_env.start(flows.clock_naps, "early", [100])
    chain = durable_env.start(flows.clock_naps, "chain", [150, 100])  # its second timer is set during the advance
    durable_env.advance(600)
    assert [label for label, _ in notes] == ["early-0", "chain-0", "chain-1", "late-0"]
    for handle, offsets in ((late, [300]), (early, [100]), (chain, [150, 250])):
        seen = [dt.datetime.fromisoformat(t) for t in durable_env.result(handle)]
        assert seen[0] - start < dt.timedelta(seconds=60)
        for moment, offset in zip(seen[1:], offsets, strict=True):
            # ctx.now() after each sleep is its due time, not the end of the advance.
            assert dt.timedelta(seconds=offset) <= moment - start < dt.timedelta(seconds=offset + 60), (offset, moment)
    assert durable_env.now() - start >= dt.timedelta(seconds=600)


def test_now__moves_with_advance(durable_env):
    before = durable_env.now()
    assert abs(before - db.now()) < dt.timedelta(seconds=1)
    durable_env.advance(dt.timedelta(hours=5))
    moved = durable_env.now() - before
    assert dt.timedelta(hours=5) <= moved < dt.timedelta(hours=5, minutes=1)
    durable_env.advance(0)
    assert durable_env.now() - before >= moved


@pytest.mark.parametrize("bad", [-1, dt.timedelta(seconds=-5), "10", None, True, float("nan"), float("inf")])
def test_advance__negative_or_non_numbers_are_refused_and_change_nothing(durable_env, bad):
    before = db.virtual_offset()
    with pytest.raises(durable.InvalidArgument, match="advance"):
        durable_env.advance(bad)
    assert db.virtual_offset() == before


def test_run_until_idle__does_not_wait_for_a_timer_due_soon(durable_env):
    handle = durable_env.start(flows.clock_naps, "soon", [0.5])
    began = time.perf_counter()
    durable_env.run_until_idle()
    assert handle.status == "waiting_for_timer"
    durable_env.advance(0.5)
    assert handle.status == "completed"
    report("run_until_idle and advance past a 0.5 s sleep", began)


def test_result__skips_to_each_next_timer_when_idle(durable_env):
    handle = durable_env.start(flows.retries_later)
    before = durable_env.now()
    assert durable_env.result(handle) == "gave up after 2 attempts"
    assert durable_env.now() - before >= dt.timedelta(seconds=30)
    timed_out = durable_env.start(flows.day_timeout)
    assert durable_env.result(timed_out) == "timed out"
    assert durable_env.now() - before >= dt.timedelta(days=1)


def test_result__an_instance_nothing_will_wake_is_a_clear_timeout(durable_env):
    handle = durable_env.start(flows.waits_for_ever)
    with pytest.raises(TimeoutError, match=rf"{handle.instance_id} is waiting_for_event .*env\.send_event"):
        durable_env.result(handle)
    durable.pause(handle.instance_id, "looking")
    with pytest.raises(TimeoutError, match="is paused .looking.; it will not end by itself"):
        durable_env.result(handle)


def test_result__raises_as_handle_result_would(durable_env):
    handle = durable_env.start(flows.waits_for_ever)
    durable_env.run_until_idle()
    durable.cancel(handle.instance_id, "no longer needed")
    with pytest.raises(durable.WorkflowCancelled, match="no longer needed"):
        durable_env.result(handle)


@pytest.mark.django_db
def test_environment__leaving_restores_the_clock_the_mocks_and_the_waker():
    original, waker = demo.void_payment.fn, db._waker
    assert db.virtual_offset() == dt.timedelta(0)
    with WorkflowEnvironment() as env:
        env.mock_activity(demo.void_payment, lambda ctx, payment_id: "mocked")
        env.mock_activity("void_payment", lambda ctx, payment_id: "mocked again")
        env.advance(dt.timedelta(days=3))
        assert db.virtual_offset() >= dt.timedelta(days=3)
        assert db._waker is None
    assert db.virtual_offset() == dt.timedelta(0)
    assert abs(db.now() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
    assert demo.void_payment.fn is original
    assert db._waker is waker
    with pytest.raises(durable.InvalidTransition, match="not active"):
        env.start(flows.waits_for_ever)


@pytest.mark.django_db(transaction=True)
def test_environment__with_real_commits_runs_callbacks_and_hands_nothing_to_django_q(durable_env, completed):
    handle = durable_env.start(demo.order_payment, "o-5", Decimal("3"), timeout=10)
    durable_env.advance(10)
    assert durable_env.result(handle)["status"] == "cancelled"
    assert completed == [handle.instance_id]
    assert OrmQ.objects.count() == 0  # no wake-up task left for a worker


@pytest.mark.django_db(transaction=True)
def test_environment__wake_ups_are_held_back_inside_and_asked_for_again_after():
    asked: list[dict] = []
    app_waker = db._waker
    db.set_waker(lambda **kwargs: asked.append(kwargs))
    try:
        with WorkflowEnvironment() as env:
            env.result(env.start(flows.clock_naps, "quiet", [60]))
            env.send_event("never.sent", "/nowhere")
        assert asked == []
        durable.start(flows.waits_for_ever)  # committed at once: the waker is asked straight away
        assert asked == [{"force": False}]
    finally:
        db.set_waker(app_waker)
