"""durable_show and durable_list say what an instance is doing (ctx.set_details), its code version and wait labels."""

from __future__ import annotations

import pytest

from durable.management import format as fmt
from durable.models import Status, WorkflowInstance
from tests import version_workflows as vw
from tests.commands.test_durable_show import cells, section

pytestmark = pytest.mark.django_db


@pytest.fixture
def approving(drain, settings) -> str:
    vw.start_progress(drain, settings, ("approve-1", "o-1", "2026.12.1"))
    return "approve-1"


def test_show__details_version_and_labels(run, approving):
    out, _ = run("durable_show", approving)
    lines = out.splitlines()
    assert "Details    order o-1: waiting for the manager" in lines
    assert "Version    2026.12.1" in lines
    assert any(line.startswith("Waiting    manager approval: versiontest.approved where order=o-1") for line in lines)
    waits = section(out, "Waits")
    assert cells(waits[1])[:3] == ["#", "NAME", "LABEL"]
    assert cells(waits[3])[:4] == ["1", "versiontest.approved", "manager approval", "versiontest.approved"]
    timers = section(out, "Timers")
    assert cells(timers[3])[:4] == ["1", "timeout", "versiontest.approved", "manager approval"]


def test_list__a_cut_waiting_cell_keeps_the_label_first(run, approving):
    summary = WorkflowInstance.objects.get(id=approving).waiting_for
    said = fmt.waiting(summary, WorkflowInstance.objects.get(id=approving).updated_at, 40)
    assert said.startswith("manager approval: ") and len(said) <= 40
    out, _ = run("durable_list")
    assert "manager approval: versiontest.approved" in out


def test_list_and_cancel__select_by_code_version(run, drain, settings):
    vw.start_progress(drain, settings, ("old-1", "o-1", "v1"), ("new-1", "o-2", "v2"))
    out, _ = run("durable_list", "--code-version", "v1")
    assert "old-1" in out and "new-1" not in out
    out, _ = run("durable_cancel", "--code-version", "v1", "--reason", "old code")
    statuses = dict(WorkflowInstance.objects.values_list("id", "status"))
    assert statuses == {"old-1": Status.CANCELLED, "new-1": Status.WAITING_FOR_EVENT}
