"""durable_erase (ID | --business-key K) [--reason R] [--cancel]: erases, refuses bad input with a clear message."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from durable.models import Status, WorkflowInstance
from tests.test_erasure import MARKER, completed_subject, holding, waiting

pytestmark = pytest.mark.django_db


def test_erase__by_id_says_what_it_did_and_again_that_nothing_changed(run, drain):
    instance_id = completed_subject(drain)
    out, _ = run("durable_erase", instance_id, "--reason", "ticket 9")
    assert out == f"Erased instance {instance_id}.\n"
    assert holding(MARKER) == []
    assert WorkflowInstance.objects.get(pk=instance_id).erase_reason == "ticket 9"
    out, _ = run("durable_erase", instance_id)
    assert out == f"Instance {instance_id} was erased already; nothing changed.\n"
    assert WorkflowInstance.objects.get(pk=instance_id).erase_reason == "ticket 9"


def test_erase__by_business_key_with_cancel(run, drain):
    ended = completed_subject(drain, key="auth.user:42")
    active = waiting(drain, MARKER, key="auth.user:42")
    other = waiting(drain, "other-topic", key="auth.user:43")
    with pytest.raises(CommandError, match=f"Cannot erase instance {active}: it has not ended"):
        run("durable_erase", "--business-key", "auth.user:42")
    out, _ = run("durable_erase", "--business-key", "auth.user:42", "--cancel")
    assert out.splitlines()[0] == "Erasing the instances of business key 'auth.user:42'..."
    assert sorted(out.splitlines()[1:]) == sorted([f"Erased instance {ended}.", f"Erased instance {active}."])
    assert holding(MARKER) == []
    assert WorkflowInstance.objects.get(pk=active).status == Status.CANCELLED
    assert WorkflowInstance.objects.get(pk=other).erase_reason is None
    out, _ = run("durable_erase", "--business-key", "nobody")
    assert "No instance has business key 'nobody'; nothing to erase." in out


def test_erase__unknown_id_both_or_neither_are_refused(run, drain):
    with pytest.raises(CommandError, match="No workflow instance has id 'nope'"):
        run("durable_erase", "nope")
    instance_id = completed_subject(drain)
    with pytest.raises(CommandError, match="exactly one of them"):
        run("durable_erase", instance_id, "--business-key", "auth.user:42")
    with pytest.raises(CommandError, match="exactly one of them"):
        run("durable_erase")
    assert WorkflowInstance.objects.get(pk=instance_id).erase_reason is None


def test_erase__from_the_shell_exits_non_zero_with_the_message(manage, transactional_db):
    done = manage("durable_erase", "nope")
    assert done.returncode != 0
    assert "No workflow instance has id 'nope'" in done.stderr


def test_erased_instances__show_and_list_print_the_marker_and_the_steps(run, drain):
    import durable
    from tests import erasure_workflows as ew

    completed = completed_subject(drain)
    failed = durable.start(ew.fails, "x@example.org")
    drain(failed)
    run("durable_erase", completed)
    run("durable_erase", failed.instance_id, "--reason", "asked")
    out, _ = run("durable_show", completed)
    assert "[erased]" in out and "erasure.flaky" in out and MARKER not in out
    out, _ = run("durable_show", failed.instance_id)
    assert "[erased]" in out and "erasure.look_up" in out
    out, _ = run("durable_list")
    assert completed in out and failed.instance_id in out
