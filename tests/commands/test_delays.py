"""durable_start --start-in / --start-at / --debounce: what it prints, and bad input as CommandError."""

from __future__ import annotations

import re

import pytest
from django.core.management.base import CommandError

from durable.models import Status, WorkflowInstance

pytestmark = pytest.mark.django_db


def test_start_in__pending_and_says_when(run):
    out, _ = run("durable_start", "delayed", "--input", '["cli"]', "--start-in", "240")
    assert re.search(r"Started delayed: instance \S+ \(starts in (4m|3m 5\d)s?\)", out), out
    assert WorkflowInstance.objects.get().status == Status.PENDING


def test_start_at__with_an_offset(run):
    run("durable_start", "delayed", "--input", '["cli"]', "--start-at", "2099-06-01T08:00:00+02:00")
    assert WorkflowInstance.objects.get().run_after.isoformat().startswith("2099-06-01T06:00:00")


def test_debounce__the_second_call_reports_the_same_instance(run):
    first, _ = run("durable_start", "delayed", "--input", '["a"]', "--business-key", "k", "--debounce", "60")
    second, _ = run("durable_start", "delayed", "--input", '["b"]', "--business-key", "k", "--debounce", "60")
    instance = WorkflowInstance.objects.get()
    assert instance.pk in first and f"Debounced delayed: instance {instance.pk} (starts in" in second
    assert instance.input["args"] == ["b"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--start-at", "2099-06-01T08:00:00"], "no UTC offset"),
        (["--start-at", "soon"], "not an ISO 8601"),
        (["--start-in", "-3"], "must not be negative"),
        (["--debounce", "5"], "needs a business_key"),
        (["--start-in", "5", "--start-at", "2099-06-01T08:00:00Z"], "not both"),
    ],
)
def test_bad_options__command_error_and_nothing_stored(run, args, says):
    with pytest.raises(CommandError, match=says):
        run("durable_start", "delayed", "--input", '["x"]', *args)
    assert not WorkflowInstance.objects.exists()
