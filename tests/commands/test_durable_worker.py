"""durable_worker: --run-once runs due work in this process (the full worker runs in tests/e2e)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

import durable
from tests import workflows


@pytest.mark.django_db
def test_durable_worker__run_once_runs_due_instances_in_this_process():
    handle = durable.start(workflows.catches_activity_error)
    out = StringIO()
    call_command("durable_worker", "--run-once", stdout=out)
    assert "Ran 1 instance(s)" in out.getvalue()
    assert handle.status == "waiting_for_timer", "the retry backoff is a durable timer"
