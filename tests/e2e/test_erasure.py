"""Erasure after a real durable_worker ran the instances: no table durable, django-q2 or the admin log
writes holds the marker afterwards, and the timeline keeps every step with its times."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

import durable
from durable import erasure
from durable.models import HistoryStep, HookRun, HookStatus, Status, WorkflowInstance
from tests import erasure_workflows as ew
from tests.conftest import wait_for
from tests.test_erasure import EMAIL, MARKER, TIMELINE, holding, timeline
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

KEY = "auth.user:42"
TIMELINE_RECORDED = TIMELINE.index("recorded_at")


def status_of(instance_id: str, status: str) -> bool:
    return WorkflowInstance.objects.filter(pk=instance_id, status=status).exists()


def test_worker__erase_by_key_leaves_no_marker_anywhere_and_keeps_the_timeline(worker):
    subject = durable.start(ew.subject, EMAIL, business_key=KEY)
    failing = durable.start(ew.fails, EMAIL, business_key=KEY)
    waiting = durable.start(ew.waits, MARKER, business_key=KEY)
    bystander = durable.start(ew.subject, "bo@example.org", business_key="auth.user:43")
    for handle in (subject, waiting, bystander):
        wait_for(lambda h=handle: status_of(h.instance_id, Status.WAITING_FOR_EVENT), timeout=60)
    # An event's data, through the worker's run of the wait; a published value; a sent event.
    durable.send_event("erasure.confirmed", "/crm", {"email": EMAIL, "note": f"confirmed {EMAIL}"})
    durable.send_event("erasure.confirmed", "/crm", {"email": "bo@example.org"})
    assert subject.result(timeout=60)["found"] == {"email": EMAIL, "note": f"found {EMAIL}"}
    assert bystander.result(timeout=60)["found"]["email"] == "bo@example.org"
    wait_for(lambda: status_of(failing.instance_id, Status.FAILED), timeout=60)
    # Its "failed" hook gave up with the instance's error (and so the marker) in the hook row.
    wait_for(lambda: HookRun.objects.filter(instance_id=failing.instance_id, status=HookStatus.GAVE_UP).exists())
    # An operator cancels one from the admin, saying why in words that hold the marker.
    admin = Client()
    admin.force_login(User.objects.create_superuser("operator", "", "x"))
    url = f"/admin/durable/workflowinstance/{waiting.instance_id}/operate/cancel/"
    assert admin.post(url, {"reason": f"{EMAIL} asked us to stop"}).status_code == 302
    assert status_of(waiting.instance_id, Status.CANCELLED)

    found = {hit.split(".")[0] for hit in holding(MARKER)}
    assert found >= {
        "durable_instance", "durable_history", "durable_value", "durable_event", "durable_hook", "django_admin_log"
    }  # fmt: skip
    before = {h.instance_id: timeline(h.instance_id) for h in (subject, failing, waiting)}
    assert len(before[subject.instance_id]) == 5 and len(before[failing.instance_id]) == 1
    kept = WorkflowInstance.objects.filter(pk=bystander.instance_id).values().get()

    done = durable.erase(business_key=KEY, reason="GDPR request 17")

    assert sorted(done.erased) == sorted([subject.instance_id, failing.instance_id, waiting.instance_id])
    assert holding(MARKER) == []
    assert {pk: timeline(pk) for pk in before} == before
    assert all(step[TIMELINE_RECORDED] is not None for steps in before.values() for step in steps)
    rows = {row.pk: row for row in WorkflowInstance.objects.filter(business_key=KEY)}
    assert {pk: row.status for pk, row in rows.items()} == {
        subject.instance_id: Status.COMPLETED,
        failing.instance_id: Status.FAILED,
        waiting.instance_id: Status.CANCELLED,
    }
    assert all(row.erased_at and row.erase_reason == "GDPR request 17" for row in rows.values())
    assert WorkflowInstance.objects.filter(pk=bystander.instance_id).values().get() == kept
    assert not HistoryStep.objects.filter(instance_id=bystander.instance_id, result=erasure.MARKER).exists()
    # The "erased" hook ran once for each erased instance, and for nothing else.
    wait_for(lambda: Ledger.objects.filter(step__startswith="erased:").count() == 3, timeout=60)
    assert sorted(Ledger.objects.filter(step__startswith="erased:").values_list("instance_id", flat=True)) == sorted(
        done.erased
    )
    # The worker goes on running new work after the erasure.
    again = durable.start(ew.fails, "someone-else")
    wait_for(lambda: status_of(again.instance_id, Status.FAILED), timeout=60)
    assert holding(MARKER) == []


def test_worker__an_active_instance_is_refused_unless_cancel(worker):
    handle = durable.start(ew.waits, MARKER, business_key=KEY)
    wait_for(lambda: status_of(handle.instance_id, Status.WAITING_FOR_EVENT), timeout=60)
    with pytest.raises(durable.InvalidTransition):
        durable.erase(handle.instance_id)
    assert status_of(handle.instance_id, Status.WAITING_FOR_EVENT)
    durable.erase(handle.instance_id, cancel=True)
    assert status_of(handle.instance_id, Status.CANCELLED)
    # An event sent afterwards does not revive it, and the worker keeps it as it is.
    durable.send_event("erasure.shared", "/crm", {"topic": MARKER})
    row = WorkflowInstance.objects.get(pk=handle.instance_id)
    assert row.status == Status.CANCELLED and row.input == erasure.MARKER
