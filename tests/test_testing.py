"""durable.testing.run_until: workflows run in the test process until a handle, a predicate or settling says stop."""

from __future__ import annotations

import time

import pytest

import durable
from durable.testing import run_until
from tests import workflows

pytestmark = pytest.mark.django_db


def test_run_until__none_settles_through_short_sleeps():
    handle = durable.start(workflows.three_steps, 1, nap=0.05)
    run_until()
    assert handle.status == "completed"
    assert handle.result()["result"] == 4


def test_run_until__none_does_not_wait_for_a_timer_far_ahead():
    handle = durable.start(workflows.sleeper, 60)
    began = time.monotonic()
    run_until()
    assert handle.status == "waiting_for_timer"
    assert time.monotonic() - began < 5


def test_run_until__handle_stops_when_its_instance_ends():
    failing = durable.start(workflows.explodes)
    run_until(failing)
    assert failing.status == "failed"


def test_run_until__handle_stops_when_its_instance_is_paused():
    handle = durable.start(workflows.sleeper, 60)
    durable.pause(handle.instance_id, "checking")
    run_until(handle, timeout=1)
    assert handle.status == "paused"


def test_run_until__predicate_stops_as_soon_as_it_holds():
    handle = durable.start(workflows.three_steps, 1, nap=60)
    run_until(lambda: handle.status == "waiting_for_timer")
    assert handle.status == "waiting_for_timer"


def test_run_until__timeout_raises_and_names_what_it_waited_for():
    handle = durable.start(workflows.sleeper, 60)
    with pytest.raises(TimeoutError, match=rf"instance {handle.instance_id} to an end.*waiting_for_timer.*0\.2 s"):
        run_until(handle, timeout=0.2)

    def timer_fired() -> bool:
        return handle.status != "waiting_for_timer"

    with pytest.raises(TimeoutError, match="make timer_fired true"):
        run_until(timer_fired, timeout=0.1)


def test_run_until__inside_the_db_transaction_on_commit_callbacks_run_only_through_each_pass(
    completed, django_capture_on_commit_callbacks
):
    # The `db` fixture's transaction never commits: without each_pass the signal is never sent.
    quiet = durable.start(workflows.three_steps, 1, nap=0.01)
    run_until(quiet)
    heard = durable.start(workflows.three_steps, 2, nap=0.01)
    run_until(heard, each_pass=lambda: django_capture_on_commit_callbacks(execute=True))
    assert quiet.status == heard.status == "completed"
    assert completed == [heard.instance_id]


@pytest.mark.django_db(transaction=True)
def test_run_until__with_real_commits_callbacks_run_by_themselves(completed):
    handle = durable.start(workflows.three_steps, 3, nap=0.01)
    run_until(handle)
    assert completed == [handle.instance_id]
