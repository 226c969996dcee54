"""Child workflows and continue as new through real durable_worker processes (2 q2 workers each)."""

from __future__ import annotations

import pytest

import durable
from durable import inspect
from durable.models import ChildWait, Status, WorkflowInstance
from durable.testing import replay
from tests import child_workflows as cw
from tests.conftest import wait_for
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def status_of(instance_id: str) -> str | None:
    return WorkflowInstance.objects.filter(id=instance_id).values_list("status", flat=True).first()


def reaches(instance_id: str, status: str, timeout: float = 60) -> None:
    wait_for(lambda: status_of(instance_id) == status, timeout=timeout, what=f"{instance_id} to be {status}")


def test_children__complete_fail_cancel_and_detached_through_two_workers(worker_factory):
    worker_factory()
    worker_factory()
    done = durable.start(cw.parent, 21, instance_id="e2e-order")
    failing = durable.start(cw.catches, instance_id="e2e-catch")
    durable.start(cw.waiting_parent, "e2e-wait", True, instance_id="e2e-wait")

    # A child that completes: the parent, released while it waited, takes its result.
    assert done.result(timeout=60) == {"child": 42}
    assert status_of("e2e-order/0") == Status.COMPLETED
    assert Ledger.objects.filter(instance_id="e2e-order/0").count() == 1
    assert replay("e2e-order").verdict == "match"

    # A child that fails: ChildFailed carries its error into the parent, which catches it.
    assert failing.result(timeout=60) == {"failed": "e2e-catch/0", "type": "ValueError", "message": "no stock"}

    # Cancel of a parent waiting for its child: the child is cancelled, the detached one lives on.
    reaches("e2e-wait", Status.WAITING_FOR_CHILD)
    reaches("e2e-wait/1", Status.WAITING_FOR_EVENT)
    durable.cancel("e2e-wait", "withdrawn")
    reaches("e2e-wait/1", Status.CANCELLED)
    assert status_of("e2e-wait") == Status.CANCELLED
    assert status_of("e2e-wait-detached") == Status.WAITING_FOR_EVENT
    assert not ChildWait.objects.exists()
    durable.send_event("child.go", "/test", {"key": "e2e-wait"})
    assert durable.get_handle("e2e-wait-detached").result(timeout=60) == "e2e-wait"
    view = inspect.instance("e2e-wait", children=True)
    assert {(c.instance_id, c.status, c.detached) for c in view.children} == {
        ("e2e-wait-detached", Status.COMPLETED, True),
        ("e2e-wait/1", Status.CANCELLED, False),
    }


def test_gather_and_first__over_children_through_two_workers(worker_factory):
    worker_factory()
    worker_factory()
    batch = durable.start(cw.gathers, 4, instance_id="e2e-gather")
    failing = durable.start(cw.gathers, 2, failing=True, instance_id="e2e-gather-fail")
    raced = durable.start(cw.first_or_timer, "e2e-first", 60, instance_id="e2e-first")
    # Four children and a parallel step, gathered in order; each child ran its activity once.
    assert batch.result(timeout=60) == {"results": [0, 2, 4, 6, 100]}
    assert [Ledger.objects.filter(instance_id=f"e2e-gather/{n}").count() for n in range(4)] == [1, 1, 1, 1]
    assert replay("e2e-gather").verdict == "match"
    assert failing.result(timeout=60) == {"failed": "e2e-gather-fail/2", "message": "gathered"}
    # A child's end decides a first against a timer: the timer is withdrawn.
    reaches("e2e-first/0", Status.WAITING_FOR_EVENT)
    durable.send_event("child.go", "/test", {"key": "e2e-first"})
    assert raced.result(timeout=60) == {"index": 0, "value": "e2e-first"}
    assert not inspect.instance("e2e-first").timers


def test_continue_as_new__fifty_runs_through_two_workers(worker_factory):
    worker_factory()
    worker_factory()
    handle = durable.start(cw.counter, 0, 50, instance_id="e2e-loop")
    assert handle.result(timeout=120) == 50
    view = inspect.instance("e2e-loop")
    assert view.summary.run == 51
    assert sorted({step.run for step in view.history}) == list(range(1, 52))
    assert [s.kind for s in view.history if s.run == 51] == ["activity"]
    assert Ledger.objects.filter(instance_id="e2e-loop").count() == 51
    assert replay("e2e-loop").verdict == "match"
