"""Wordings new users tripped on: a pending instance "started", a paused one's reason said over and over."""

from __future__ import annotations

import re

import pytest

import durable
from durable.models import Status, WorkflowInstance
from tests import admin_workflows, workflows
from tests.admin.test_instances import LIST, page, text

pytestmark = pytest.mark.django_db

REASON = "paused by the demo, to show a paused instance; resume it here"


def row_of(shown: str, instance_id: str) -> str:
    """The list row of one instance, as text: from its id to the next row's checkbox or the end."""
    return re.search(rf"{re.escape(instance_id)} .*?(?= \S+ viewer_| \d+ workflow instances?)", shown).group(0)


def test_pending_instance__the_list_says_not_yet_started_and_the_page_waiting_for_a_worker(admin_client, drain):
    durable.start(admin_workflows.viewer_order, "o-9", instance_id="ran-first")
    drain()
    durable.start(admin_workflows.viewer_nap, 60, instance_id="not-yet")
    assert WorkflowInstance.objects.get(pk="not-yet").status == Status.PENDING

    listing = text(admin_client.get(LIST))
    # SPEC's columns (section 6, and the business key of section 11); an instance no worker has run yet has not started.
    assert re.search(r"Id Workflow Key Status Waiting for Started Updated Elapsed", listing, re.I), listing
    assert re.search(r"not-yet viewer_nap — Pending a worker to run it not yet [\d:]+ ", listing), listing
    assert re.search(r"ran-first viewer_order — \S+ .* \d\d:\d\d:\d\d \d\d:\d\d:\d\d", listing), listing

    shown = text(admin_client.get(page("not-yet")))
    assert re.search(r"status Pending waiting for a worker to run it created [\d: -]+ updated ", shown)
    assert "Timeline now waiting for a worker to run it Events" in shown
    assert not re.search(r"\bstart(ed)?\b", shown, re.I), shown
    # Once it has run, its steps say when they started.
    assert re.search(r"# step status attempt started recorded", text(admin_client.get(page("ran-first"))))


def test_paused_instance__its_reason_is_said_once(admin_client, drain):
    durable.start(admin_workflows.viewer_nap, 60, instance_id="held")
    drain()
    durable.pause("held", REASON)
    shown = text(admin_client.get(page("held")))
    assert shown.count(REASON) == 1, [shown[m.start() - 80 : m.start()] for m in re.finditer(re.escape(REASON), shown)]
    assert f"status Paused {REASON} waiting for an operator to resume it created" in shown
    assert "now waiting for an operator to resume it Waits" in shown
    assert re.search(r"Incidents when what details [\d: -]+ paused reason: as under status, above", shown)
    # The list has no status column of its own: there the reason stays with what it waits for.
    assert f"an operator to resume it ({REASON})" in text(admin_client.get(LIST))

    durable.resume("held", "the fix is out")
    drain()
    log = text(admin_client.get(page("held")))
    assert re.search(rf"resumed reason: the fix is out [\d: -]+ paused reason: {re.escape(REASON)}", log), log


def test_paused_after_errors__the_error_is_said_once_for_all_its_attempts(admin_client, drain):
    handle = durable.start(workflows.pauses_after_errors)
    drain(handle)
    instance = WorkflowInstance.objects.get(pk=handle.instance_id)
    assert instance.status == Status.PAUSED and "upstream is down" in instance.status_reason
    response = admin_client.get(page(instance.pk))
    # Folded tracebacks aside: they quote the error as Python raised it.
    response.content = re.sub(rb'<pre class="durable-code">.*?</pre>', b"", response.content, flags=re.S)
    shown = text(response)
    assert shown.count(instance.status_reason) == 1
    assert shown.count("upstream is down") == 2, "the pause's reason, and the step's error once for both attempts"
    assert re.search(
        r"needs_fix retrying 2 of 10 [\d:.]+ RuntimeError : upstream is down traceback next attempt once resumed "
        r"attempts 1–2 failed \(the last at [\d:]+\), each with the error above (restart from here )?… now waiting "
        r"for an operator",
        shown,
    ), shown
