"""ctx.patched across a deploy: a real worker runs the old code, stops, and a worker with the new code takes over."""

from __future__ import annotations

import time

import pytest

import durable
from durable.models import HistoryStep, Status, WorkflowInstance
from tests import version_workflows as vw
from tests.conftest import wait_for
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def status(instance_id: str) -> str:
    return WorkflowInstance.objects.get(id=instance_id).status


def kinds(instance_id: str) -> list[str]:
    return list(HistoryStep.objects.filter(instance_id=instance_id).order_by("position").values_list("kind", flat=True))


def waiting(*ids: str, steps: int):
    def check() -> bool:
        return all(status(pk) == Status.WAITING_FOR_EVENT and len(kinds(pk)) >= steps for pk in ids)

    return check


def send(event_type: str, *orders: str) -> None:
    for order in orders:
        durable.send_event(event_type, "/tests/e2e/versioning", {"order": order})


def test_patched__a_deploy_between_two_waits_keeps_each_instance_on_its_side(worker_factory, settings):
    began = time.monotonic()
    settings.DURABLE_CODE_VERSION = "v1"
    old_worker = worker_factory(DURABLE_CODE_VERSION="v1")  # VERSION_TEST_MODE unset: the old code
    durable.start(vw.receipt, "o-1", instance_id="e2e-before")
    wait_for(waiting("e2e-before", steps=1), timeout=30, what="the old code to reach its first wait")
    old_worker.stop(grace=40)

    # The deploy: the new code reads VERSION_TEST_MODE at call time in the new worker.
    settings.DURABLE_CODE_VERSION = "v2"
    worker_factory(DURABLE_CODE_VERSION="v2", VERSION_TEST_MODE=vw.PATCHED)
    durable.start(vw.receipt, "o-2", instance_id="e2e-after")
    wait_for(waiting("e2e-after", steps=2), timeout=30, what="the new code to reach its first wait")
    send("versiontest.go", "o-1", "o-2")
    wait_for(waiting("e2e-before", "e2e-after", steps=3), timeout=30, what="both to reach their second wait")
    send("versiontest.done", "o-1", "o-2")  # a last segment replays each whole history again
    wait_for(
        lambda: status("e2e-before") == status("e2e-after") == Status.COMPLETED,
        timeout=30,
        what=f"both to complete (now {status('e2e-before')}, {status('e2e-after')})",
    )

    assert durable.get_handle("e2e-before").result() == {"channel": "email", "mode": vw.PATCHED}
    assert durable.get_handle("e2e-after").result() == {"channel": "sms", "mode": vw.PATCHED}
    assert kinds("e2e-before") == ["activity", "wait_event", "activity", "wait_event"]
    assert kinds("e2e-after") == ["patch", "activity", "wait_event", "activity", "wait_event"]
    for instance_id, expected in (("e2e-before", ["email", "email-confirm"]), ("e2e-after", ["sms", "sms-confirm"])):
        done = list(Ledger.objects.filter(instance_id=instance_id).order_by("pk").values_list("step", flat=True))
        assert done == expected
    assert dict(WorkflowInstance.objects.values_list("id", "code_version")) == {"e2e-before": "v1", "e2e-after": "v2"}
    print(f"\npatched across a worker restart: {time.monotonic() - began:.1f} s for both instances")
