"""The one table of status transitions and `apply`: allowed statuses, incidents, signals, permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

import durable
from durable import db, leases, signals, transitions
from durable.exceptions import InstanceNotFound, InvalidTransition, LeaseLost
from durable.models import ACTIVE, TERMINAL, Status, WorkflowInstance
from tests import workflows

pytestmark = pytest.mark.django_db


def test_table__every_operator_permission_exists_and_no_operation_leaves_an_ended_instance():
    codenames = set(Permission.objects.filter(content_type__app_label="durable").values_list("codename", flat=True))
    for transition in transitions.OPERATIONS.values():
        assert transition.codename in codenames, transition.name
        assert transition.allowed <= set(Status)
    assert transitions.OPERATIONS["cancel"].allowed == ACTIVE
    assert not any(t.allowed & TERMINAL for name, t in transitions.OPERATIONS.items() if name != "retry")
    assert all(
        t.permission is None for name, t in transitions.TRANSITIONS.items() if name not in transitions.OPERATIONS
    )


@pytest.mark.parametrize(
    ("name", "status"),
    [("resume", Status.WAITING_FOR_TIMER), ("retry", Status.PAUSED), ("pause", Status.PAUSED)],
)
def test_apply__refuses_a_status_the_transition_does_not_start_from(drain, name, status):
    handle = durable.start(workflows.sleeper, 30)
    drain()
    if status == Status.PAUSED:
        durable.pause(handle.instance_id)
    before = WorkflowInstance.objects.get(id=handle.instance_id)
    with pytest.raises(InvalidTransition, match=f"Cannot {name} instance {handle.instance_id}: it is {status}"):
        transitions.apply(handle.instance_id, name)
    after = WorkflowInstance.objects.get(id=handle.instance_id)
    assert (after.status, after.incidents, after.updated_at) == (before.status, before.incidents, before.updated_at)


def test_apply__unknown_instance():
    with pytest.raises(InstanceNotFound, match="No workflow instance has id 'nope'"):
        transitions.apply("nope", "cancel")


def test_apply__logs_one_incident_and_sends_one_signal_after_commit(drain, django_capture_on_commit_callbacks):
    handle = durable.start(workflows.sleeper, 30)
    drain()
    sent = []

    def receiver(sender, **kwargs):
        sent.append((sender, kwargs["instance_id"], kwargs["status"], kwargs.get("reason")))

    signals.workflow_cancelled.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            transitions.apply(handle.instance_id, "cancel", "customer left")
            assert sent == []
    finally:
        signals.workflow_cancelled.disconnect(receiver)
    assert sent == [("sleeper", handle.instance_id, Status.CANCELLED, "customer left")]
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.status == Status.CANCELLED and row.status_reason == "customer left" and row.finished_at
    assert [(i["kind"], i["reason"]) for i in row.incidents] == [("cancelled", "customer left")]
    assert not row.timers.exists()


def test_apply__held_by_a_worker_that_lost_its_lease_changes_nothing():
    handle = durable.start(workflows.three_steps, 1)
    leases.claim("worker-a", 1, 30)
    with pytest.raises(LeaseLost), db.atomic():
        transitions.apply(handle.instance_id, "complete", held_by="worker-b", workflow_name="three_steps")
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.status == Status.RUNNING and row.incidents == []


@pytest.mark.parametrize("operation", ["cancel", "pause", "resume", "retry"])
def test_client_operations__share_one_signature(operation):
    import inspect

    parameters = list(inspect.signature(getattr(durable, operation)).parameters.values())
    shared = [("instance_id", inspect.Parameter.empty), ("reason", "")]
    # SPEC section 12: cancel alone also takes compensate (keyword-only), True by default.
    extra = [("compensate", True)] if operation == "cancel" else []
    assert [(p.name, p.default) for p in parameters] == shared + extra
    assert all(p.kind == p.KEYWORD_ONLY for p in parameters[2:])
