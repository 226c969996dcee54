"""--business-key on durable_start and durable_list, and the key in durable_show (SPEC 11)."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

import durable
from durable.models import WorkflowInstance
from tests import workflows

pytestmark = pytest.mark.django_db


def test_start__stores_the_business_key(run):
    out, _ = run("durable_start", "keyed", "--input", '{"label": "x"}', "--business-key", "order-42", "-v", "0")
    instance = WorkflowInstance.objects.get(pk=out.strip())
    assert instance.business_key == "order-42"
    assert instance.input == {"args": [], "kwargs": {"label": "x"}}


def test_start__a_bad_key_is_a_command_error_and_starts_nothing(run):
    with pytest.raises(CommandError, match="at most 255 fit"):
        run("durable_start", "keyed", "--business-key", "k" * 256)
    with pytest.raises(CommandError, match="must not be empty"):
        run("durable_start", "keyed", "--business-key", "")
    assert not WorkflowInstance.objects.exists()


def test_list__only_instances_with_the_key(run):
    durable.start(workflows.keyed, instance_id="one", business_key="order-1")
    durable.start(workflows.keyed, instance_id="two", business_key="order-2")
    durable.start(workflows.keyed, instance_id="three", business_key="order-1")
    out, _ = run("durable_list", "--business-key", "order-1")
    listed = [line.split()[0] for line in out.splitlines()[2:] if line]
    assert sorted(listed) == ["one", "three"]
    out, _ = run("durable_list", "--business-key", "nobody")
    assert out.strip() == "No instances match."


def test_show__prints_the_key_when_there_is_one(run):
    durable.start(workflows.keyed, instance_id="k", business_key="invoice-9")
    durable.start(workflows.keyed, instance_id="n")
    out, _ = run("durable_show", "k")
    assert "Key        invoice-9" in out.splitlines()
    out, _ = run("durable_show", "n")
    assert not any(line.startswith("Key ") for line in out.splitlines())
