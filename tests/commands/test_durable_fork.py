"""durable_fork ID --from N [--id NEW]: restart from a step; bad input is a CommandError and stores nothing."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

import durable
from durable.models import WorkflowInstance
from tests import fork_workflows as fw

pytestmark = pytest.mark.django_db


def test_fork__prints_the_new_instance(run, order_failed_at_charge, drain):
    out, _ = run("durable_fork", order_failed_at_charge, "--from", "2")
    assert out == "Forked order-1 as order-1:fork-1 from step 2; it is pending and runs on a worker.\n"
    fw.deploy_fix()
    drain(durable.get_handle("order-1:fork-1"))
    assert fw.ledger("order-1:fork-1") == ["charge", "ship"]
    run("durable_fork", order_failed_at_charge, "--from", "0", "--id", "again")
    assert WorkflowInstance.objects.get(pk="again").fork_position == 0


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("order-1", "--from", "9"), "its history has 3 steps"),
        (("nobody", "--from", "0"), "No workflow instance has id 'nobody'"),
        (("order-1", "--from", "1", "--id", "order-1"), "exists already"),
    ],
)
def test_fork__refused_with_a_clear_message_and_nothing_stored(run, order_failed_at_charge, args, said):
    with pytest.raises(CommandError, match=said):
        run("durable_fork", *args)
    assert WorkflowInstance.objects.count() == 1
