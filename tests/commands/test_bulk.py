"""durable_cancel / pause / resume / retry with selectors: every matching instance, progress, a count at the end."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

import durable
from durable.management import bulk_command
from durable.models import BulkOperation, Status, WorkflowInstance
from tests import bulk_workflows as bw

pytestmark = pytest.mark.django_db


@pytest.fixture
def parked(drain):
    ids = bw.start_parked(120)
    drain(lambda: not WorkflowInstance.objects.exclude(status=Status.WAITING_FOR_EVENT).exists(), timeout=120)
    return ids


def statuses(ids) -> set[str]:
    return set(WorkflowInstance.objects.filter(pk__in=ids).values_list("status", flat=True))


def test_cancel_by_status_and_workflow__shows_progress_and_the_count(run, parked, monkeypatch):
    monkeypatch.setattr(bulk_command, "PROGRESS_SECONDS", 0.0)  # a line per batch, as a long run shows them
    durable.cancel(parked[0])
    out, _ = run(
        "durable_cancel", "--status", "waiting_for_event", "--status", "cancelled", "--workflow", "bulk.parked",
        "--reason", "cleanup",
    )  # fmt: skip
    lines = out.splitlines()
    assert lines[0] == "Cancel 120 instances matching status=['cancelled', 'waiting_for_event'], workflow=bulk.parked…"
    assert lines[1:3] == ["  50/120 (49 cancelled, 1 skipped)", "  100/120 (99 cancelled, 1 skipped)"]
    assert lines[-1] == "Cancelled 119 of 120; 1 skipped (their status does not allow it)."
    assert statuses(parked) == {Status.CANCELLED}
    assert WorkflowInstance.objects.get(pk=parked[5]).status_reason == "cleanup"


def test_pause_all_then_resume_by_status(run, parked):
    assert (
        run("durable_pause", "--all")[0].splitlines()[-1]
        == "Paused 120 of 120; 0 skipped (their status does not allow it)."
    )
    assert statuses(parked) == {Status.PAUSED}
    assert "Resumed 120 of 120" in run("durable_resume", "--status", "paused")[0]


def test_retry_by_business_key_only_touches_that_key(run, drain):
    handles = [durable.start(bw.fails, business_key=key) for key in ("a", "a", "b")]
    drain(lambda: all(h.status == Status.FAILED for h in handles))
    out, _ = run("durable_retry", "--business-key", "a")
    assert out.splitlines()[-1] == "Retried 2 of 2; 0 skipped (their status does not allow it)."
    assert WorkflowInstance.objects.get(pk=handles[2].instance_id).status == Status.FAILED


def test_nothing_matches__says_so(run, parked):
    assert run("durable_pause", "--workflow", "nope")[0] == "No instance matches workflow=nope; nothing to pause.\n"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((), "Give an instance ID, or selectors"),
        (("p-00001", "--status", "paused"), "not both"),
        (("--status", "asleep"), "status must be one"),
        (("--no-compensate", "--all"), "--no-compensate works on one instance ID"),
    ],
)
def test_bad_selectors_are_refused(run, parked, args, said):
    name = "durable_cancel"
    with pytest.raises(CommandError, match=said):
        run(name, *args)
    assert statuses(parked) == {Status.WAITING_FOR_EVENT}
    assert not BulkOperation.objects.exists()


def test_an_instance_id_still_works(run, parked):
    assert run("durable_pause", parked[0])[0] == f"Instance {parked[0]} (bulk.parked) is now paused.\n"


def test_background_hands_the_job_to_the_worker(run, parked, settings):
    out, _ = run("durable_pause", "--workflow", "bulk.parked", "--background")
    job = BulkOperation.objects.get()
    assert out == f"Bulk pause #{job.pk} of 120 instances handed to the worker.\n"
    assert statuses(parked) == {Status.WAITING_FOR_EVENT}
