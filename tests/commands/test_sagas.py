"""A saga in the commands: durable_show and durable_list say how far it is, durable_cancel --no-compensate."""

from __future__ import annotations

import pytest

import durable
from durable.models import Status
from tests import saga_workflows as sw

pytestmark = pytest.mark.django_db


def test_commands__show_list_and_cancel_say_the_same(run, saga_compensating, drain):
    out, _ = run("durable_show", saga_compensating)
    assert "Status     compensating\n" in out and "Saga       compensating: 1 of 3 done\n" in out
    out, _ = run("durable_list", "--status", "compensating")
    assert "compensating: 1 of 3 done" in out
    handle = durable.start(sw.reserve_then_wait)
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    out, _ = run("durable_cancel", handle.instance_id, "--no-compensate")
    assert f"Instance {handle.instance_id} (saga.reserve_then_wait) is now cancelled." in out
    assert sw.ledger(handle.instance_id) == ["reserve:seat"]
