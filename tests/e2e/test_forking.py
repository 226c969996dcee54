"""Restart from a step through a real durable_worker: a fork of a failed instance runs from the failed step on."""

from __future__ import annotations

import pytest

import durable
from durable.models import HistoryStep, Status, WorkflowInstance
from tests import fork_workflows as fw
from tests.conftest import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def status_of(instance_id: str) -> str:
    return WorkflowInstance.objects.values_list("status", flat=True).get(pk=instance_id)


def test_worker__a_fork_from_the_failed_step_reruns_only_from_there(worker):
    original = durable.start(fw.order, "o-1", instance_id="order-1")
    wait_for(lambda: status_of(original.instance_id) == Status.FAILED, timeout=60, what="the original to fail")
    assert fw.ledger(original.instance_id) == ["reserve", "invoice"]

    fw.deploy_fix()  # what deploying the corrected code does here (the worker reads it when the step runs)
    fork = durable.fork(original.instance_id, 2)
    assert fork.result(timeout=60) == {
        "reserved": "reserve done",
        "invoiced": "invoice done",
        "charged": {"charged": "o-1"},
    }
    # Steps 0-1 were replayed from the copy by the worker, not run again.
    assert fw.ledger(original.instance_id) == ["reserve", "invoice"]
    assert fw.ledger(fork.instance_id) == ["charge", "ship"]
    assert list(HistoryStep.objects.filter(instance_id=fork.instance_id).values_list("position", "status")) == [
        (0, "completed"), (1, "completed"), (2, "completed"), (3, "completed")
    ]  # fmt: skip
    assert status_of(original.instance_id) == Status.FAILED
    print(f"fork of order-1 from step 2 ran {len(fw.ledger(fork.instance_id))} of 4 steps on the worker")
