"""Fixtures of the viewer's tests: users with and without operation permissions, instances in each state."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

import durable
from durable.models import Status, WorkflowInstance
from tests import admin_workflows

OPERATIONS = (
    "cancel_workflowinstance",
    "pause_workflowinstance",
    "resume_workflowinstance",
    "retry_workflowinstance",
    "add_event",
)
VIEWS = ("view_workflowinstance", "view_event", "view_timer")


def staff(username: str, codenames: tuple[str, ...]) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="durable", codename__in=codenames))
    return user


@pytest.fixture
def viewer_client(client):
    """A staff user who may look at everything and operate nothing."""
    client.force_login(staff("viewer", VIEWS))
    return client


@pytest.fixture
def operator_client(client):
    """A staff user with every operation permission, but not a superuser."""
    client.force_login(staff("operator", VIEWS + OPERATIONS))
    return client


@pytest.fixture
def waiting_order(drain):
    """An instance of viewer_order waiting for payment.completed where order_id=o-1."""
    handle = durable.start(admin_workflows.viewer_order, "o-1", instance_id="order-o-1")
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    return WorkflowInstance.objects.get(pk=handle.instance_id)


@pytest.fixture
def failed_order(drain):
    handle = durable.start(admin_workflows.viewer_fails, 7, instance_id="charge-7")
    drain(handle)
    instance = WorkflowInstance.objects.get(pk=handle.instance_id)
    assert instance.status == Status.FAILED
    return instance
