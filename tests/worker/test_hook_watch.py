"""The timer loop's HookWatch: a query every DURABLE_HOOK_POLL seconds at most, none between, and
the hooks task asked for once a hook falls due (a retry, or a dead worker's lease)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from durable import db, hooks
from durable.models import HookRun, WorkflowInstance
from durable.worker.loop import HookWatch

pytestmark = pytest.mark.django_db(transaction=True)


def looked(watch: HookWatch) -> int:
    with CaptureQueriesContext(connection) as queries:
        watch.look()
    return len(queries)


def test_hook_watch__idle_it_looks_once_per_poll_and_asks_once_a_hook_is_due(monkeypatch, settings):
    asked: list[dict] = []
    monkeypatch.setattr(db, "_waker", lambda **kwargs: asked.append(kwargs))
    if connection.vendor == "postgresql":
        db.sync_clock()
    settings.DURABLE_HOOK_POLL = 3600
    watch = HookWatch()
    assert looked(watch) == 1 and asked == []
    assert [looked(watch) for _ in range(20)] == [0] * 20

    # A retry due in a moment (written by another process): seen at the next poll, then remembered.
    moment = db.now()
    WorkflowInstance.objects.create(id="w1", workflow_name="hooks.waits", status="cancelled")
    row = HookRun.objects.create(
        instance_id="w1", workflow_name="hooks.waits", hook_name="h", trigger="cancelled",
        next_attempt_at=moment + dt.timedelta(seconds=0.2),
    )  # fmt: skip
    watch._look_at = 0.0
    assert looked(watch) == 1 and asked == []
    assert looked(watch) == 0
    HookRun.objects.filter(id=row.id).update(next_attempt_at=moment - dt.timedelta(seconds=1))
    watch._due = moment - dt.timedelta(seconds=1)  # as if the 0.2 s had passed
    assert looked(watch) == 1 and asked == [{"hooks": True}]
    assert looked(watch) == 0
    assert hooks.next_due() is not None
