"""Sagas through a real durable_worker: unwinding after a failure, on cancel (in-process and over HTTP), on
ctx.compensate(), a compensation that keeps failing, and a worker killed in the middle of one."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest

import durable
from durable.models import HistoryStep, Status, WorkflowInstance
from tests import saga_workflows as sw
from tests.conftest import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


ledger = sw.ledger


def ended(instance_id: str, status: str, timeout: float = 60) -> WorkflowInstance:
    def check():
        row = WorkflowInstance.objects.get(id=instance_id)
        return row if row.status == status else None

    return wait_for(check, timeout=timeout, what=f"{instance_id} to be {status}")  # type: ignore[return-value]


def test_sagas__failure_compensate_and_a_failing_compensation_through_the_worker(worker, tmp_path):
    fault = tmp_path / "down"
    fault.write_text("down")
    failing = durable.start(sw.three_then_fail)
    timing_out = durable.start(sw.compensate_on_timeout)
    stubborn = durable.start(sw.undo_keeps_failing, str(fault))

    # Three activities with compensations, the fourth fails: newest first, each exactly once.
    row = ended(failing.instance_id, Status.FAILED)
    assert row.compensated is True and row.error["type"] == "ActivityError"
    assert ledger(failing.instance_id) == sw.EXPECTED["saga.three_then_fail"]
    compensations = HistoryStep.objects.filter(instance_id=failing.instance_id, kind="compensation")
    assert list(compensations.values_list("status", flat=True)) == ["completed"] * 3

    # ctx.compensate() in `except WaitTimeout:`, then the workflow goes on and completes.
    assert timing_out.result(timeout=60) == {"status": "timed out, undone, went on"}
    assert ledger(timing_out.instance_id) == sw.EXPECTED["saga.compensate_on_timeout"]

    # A compensation that keeps failing pauses the instance; once fixed, retry runs it.
    row = ended(stubborn.instance_id, Status.PAUSED)
    assert "Compensation 'saga.fragile_release'" in row.status_reason
    attempts = HistoryStep.objects.get(instance_id=stubborn.instance_id, kind="compensation").attempt
    assert attempts == sw.QUICK.max_attempts
    fault.unlink()
    durable.retry(stubborn.instance_id)
    row = ended(stubborn.instance_id, Status.FAILED)
    assert row.compensated is True
    assert ledger(stubborn.instance_id) == sw.EXPECTED["saga.undo_keeps_failing"]


def post(url: str, body: dict, credentials: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {credentials}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_sagas__cancel_of_waiting_instances_in_process_and_over_http(worker, live_server):
    from django.contrib.auth.models import User

    User.objects.create_superuser("saga-operator", "", "pw")
    credentials = base64.b64encode(b"saga-operator:pw").decode()
    handles = {name: durable.start(sw.reserve_then_wait) for name in ("call", "call-no", "http", "http-no")}
    for handle in handles.values():
        wait_for(lambda h=handle: h.status == Status.WAITING_FOR_EVENT, timeout=30, what="the instance to wait")

    durable.cancel(handles["call"].instance_id, "changed plans")
    durable.cancel(handles["call-no"].instance_id, compensate=False)
    code, answer = post(f"{live_server.url}/durable/cancel/{handles['http'].instance_id}", {}, credentials)
    assert code == 200 and answer["status"] in (Status.COMPENSATING, Status.CANCELLED)
    code, answer = post(
        f"{live_server.url}/durable/instances/{handles['http-no'].instance_id}/cancel/",
        {"compensate": False, "reason": "no undo"},
        credentials,
    )
    assert code == 200 and answer["status"] == Status.CANCELLED and answer["compensated"] is False

    for name in ("call", "http"):
        row = ended(handles[name].instance_id, Status.CANCELLED)
        assert row.compensated is True, name
        assert ledger(row.id) == sw.EXPECTED["saga.reserve_then_wait"]
    assert WorkflowInstance.objects.get(id=handles["call"].instance_id).status_reason == "changed plans"
    for name in ("call-no", "http-no"):
        row = WorkflowInstance.objects.get(id=handles[name].instance_id)
        assert row.status == Status.CANCELLED and row.compensated is False
        assert ledger(row.id) == ["reserve:seat"]
    with pytest.raises(durable.WorkflowCancelled):
        handles["call"].result()


def test_sagas__worker_killed_in_the_middle_of_the_second_compensation(worker_factory, tmp_path):
    marker = tmp_path / "releases.txt"
    first = worker_factory(DURABLE_LEASE_SECONDS="2")
    handle = durable.start(sw.slow_unwind, 1.5, str(marker))
    wait_for(
        lambda: marker.exists() and len(marker.read_text().splitlines()) >= 2,
        timeout=60,
        what="the second compensation to start",
    )
    first.kill()
    assert ledger(handle.instance_id)[-1] == "release:three", "the kill lands in the second compensation"
    assert WorkflowInstance.objects.get(id=handle.instance_id).status == Status.COMPENSATING
    worker_factory(DURABLE_LEASE_SECONDS="2")
    row = ended(handle.instance_id, Status.FAILED, timeout=90)
    assert row.compensated is True
    assert ledger(handle.instance_id) == [
        "reserve:one",
        "reserve:two",
        "reserve:three",
        "release:three",
        "release:two",
        "release:one",
    ]
    started = [line.split()[0] for line in marker.read_text().splitlines()]
    # "two" started twice (the killed attempt and the one after), and its ledger row exists once.
    assert started == ["three", "two", "two", "one"]


def test_sagas__the_armed_list_survives_replay_and_code_that_stops_arming_is_caught(worker_factory):
    first = worker_factory()
    kept, changed = durable.start(sw.arms_then_waits), durable.start(sw.arms_then_waits)
    for handle in (kept, changed):
        wait_for(lambda h=handle: h.status == Status.WAITING_FOR_EVENT, timeout=30, what="the instance to wait")
    durable.send_event("saga.wake", "/t", {"id": kept.instance_id})
    row = ended(kept.instance_id, Status.FAILED)
    # The resumed run rebuilt both arms from the history and ran them newest first.
    assert row.compensated is True
    assert ledger(kept.instance_id) == ["reserve:x", "release:extra:None@2=None", "release:x:saga.reserve@0=x-ref"]

    first.stop()
    worker_factory(DURABLE_TEST_SAGA_ARMING="off")  # a deploy whose code no longer arms "extra"
    durable.send_event("saga.wake", "/t", {"id": changed.instance_id})
    row = ended(changed.instance_id, Status.PAUSED)
    assert "history has arm 'saga.release' but the code called wait_event 'saga.wake'" in row.status_reason
    assert ledger(changed.instance_id) == ["reserve:x"]
