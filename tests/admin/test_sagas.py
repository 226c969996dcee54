"""A saga as the viewer shows it while it compensates: the row, the page, the counts, the filter, the timeline."""

from __future__ import annotations

import pytest

import durable
from durable.models import Status
from tests import saga_workflows as sw
from tests.admin.test_instances import LIST, page, text
from tests.admin.test_operations import messages_of, operate

pytestmark = pytest.mark.django_db


def test_viewer__compensating_on_the_row_the_page_the_counts_and_the_timeline(admin_client, saga_compensating):
    compensating = saga_compensating
    shown = text(admin_client.get(LIST))
    assert "trip-1 saga.waits_to_retry_an_undo — Compensating compensating: 1 of 3 done, retry 2 of 3 in" in shown
    assert "Compensating 1" in shown
    filtered = text(admin_client.get(LIST, {"status__exact": "compensating"}))
    assert "trip-1" in filtered
    response = admin_client.get(page(compensating))
    body = response.content.decode()
    assert 'durable-tone--compensating">Compensating</span>' in body
    shown = text(response)
    assert "saga compensating: 1 of 3 done" in shown
    # Three arms and two compensations (the second waiting to retry), each marked as the saga's.
    assert body.count("durable-step--saga") == 5
    assert "saga compensation saga.release" in shown and "saga arm compensation saga.patient_release" in shown
    assert '("b") "undoes saga.patient_reserve (step 2)"' in shown


def test_viewer__cancel_runs_the_compensations_and_says_so(operator_client, drain):

    handle = durable.start(sw.reserve_then_wait)
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    response = operate(operator_client, handle.instance_id, "cancel")
    assert messages_of(response) == [
        f"Instance {handle.instance_id} is compensating: its armed compensations run, then it is cancelled."
    ]
    drain(handle)
    assert handle.status == Status.CANCELLED
    assert sw.ledger(handle.instance_id) == sw.EXPECTED["saga.reserve_then_wait"]
