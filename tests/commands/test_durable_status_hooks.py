"""durable_status shows failing hooks (table and --json) when there are any, and nothing about hooks otherwise."""

from __future__ import annotations

import json

import pytest

import durable
from durable import db, health, hooks
from durable.run import executor
from tests import hook_workflows as hw

pytestmark = pytest.mark.django_db


def test_status__lists_failing_hooks_only_when_some_fail(run, monkeypatch, tmp_path):
    monkeypatch.setattr(db, "_waker", None)
    durable.start(hw.finishes, str(tmp_path / "ok"), instance_id="fine")
    executor.run_due()
    hooks.run_due("test", seconds=5)
    table, _ = run("durable_status")
    assert "hook" not in table.lower()
    assert health.status().failing_hooks == 0

    durable.start(hw.finishes, str(tmp_path / "bad"), fails=100, instance_id="broken")
    executor.run_due()
    hooks.run_due("test", seconds=5)
    table, _ = run("durable_status")
    assert "Failing hooks: 1 (latest first)" in table
    assert "tests.hook_workflows.on_finish on completed of broken (hooks.finishes): failing" in table
    assert "RuntimeError: hook attempt 1 fails on purpose" in table
    shown = json.loads(run("durable_status", "--json")[0])
    assert shown["failing_hooks"] == 1
    [failing] = shown["failing_hook_runs"]
    assert (failing["instance_id"], failing["status"], failing["attempts"]) == ("broken", "failing", 1)
