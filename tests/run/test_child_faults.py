"""Database faults at every statement of a parent that starts a child and waits for it: the child is
started exactly once, its effect made once, and the parent completes."""

from __future__ import annotations

import pytest
from django.db import connection

import durable
from durable.models import Status, WorkflowInstance
from tests import child_workflows as cw
from tests.run.test_faults import Injector, fast_recovery, settle  # noqa: F401 - the fixture
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def run_parent(instance_id: str, injector: Injector) -> str:
    durable.start(cw.parent, 4, instance_id=instance_id)
    with connection.execute_wrapper(injector):
        return settle(instance_id, injector)


def check(instance_id: str, fault: str) -> None:
    row = WorkflowInstance.objects.get(id=instance_id)
    assert row.status == Status.COMPLETED, f"{fault}: {row.status} {row.status_reason} {row.error}"
    assert row.result == {"child": 8}, fault
    children = list(WorkflowInstance.objects.filter(parent_id=instance_id).values_list("id", "status"))
    assert children == [(f"{instance_id}/0", Status.COMPLETED)], f"{fault}: children {children}"
    steps = sorted(Ledger.objects.filter(instance_id__startswith=instance_id).values_list("instance_id", "step"))
    assert steps == [(instance_id, "parent after child"), (f"{instance_id}/0", "double 4")], f"{fault}: {steps}"


def test_fault_sweep__every_statement_of_a_parent_and_its_child(fast_recovery, capsys):  # noqa: F811
    clean = Injector()
    assert run_parent("kid-clean", clean) == Status.COMPLETED
    check("kid-clean", "no fault")
    statements = clean.count
    missed = 0
    for k in range(statements):
        instance_id = f"kid-{k}"
        injector = Injector(fail_at=k)
        run_parent(instance_id, injector)
        missed += injector.fired is None
        check(instance_id, f"fault at statement {k} ({(injector.fired or '')[:60]})")
    with capsys.disabled():
        print(
            f"\nchild fault sweep ({connection.vendor}): {statements - missed} of {statements} statements failed "
            "once, each in a fresh run; every parent completed, each child started once, each effect once"
        )
    assert missed <= max(3, statements // 10), f"{missed} of {statements} faults never fired"
