"""durable.health on its own: the heartbeat's row, the receiver's cached read, the banner's one query."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import durable
from durable import db, health
from durable.models import WorkerHeartbeat
from tests import workflows

pytestmark = pytest.mark.django_db


def test_beat__creates_then_renews_one_row_and_forgets_workers_gone_a_day():
    WorkerHeartbeat.objects.create(
        id="old:1", host="old", pid=1, last_seen_at=db.now() - health.FORGET_AFTER - dt.timedelta(minutes=1)
    )
    health.describe(pid=99, cluster=True, workers=4)
    health.beat(runner=True, listening=False, channel=None)
    row = WorkerHeartbeat.objects.get()
    assert (row.pid, row.runs["workers"], row.listening) == (99, 4, False)
    health.beat(runner=True, listening=True, channel="postgresql")
    assert WorkerHeartbeat.objects.get().listening is True
    health.forget()
    assert not WorkerHeartbeat.objects.exists()


def test_runner_listening__read_at_most_once_a_second_and_only_fresh_rows_count():
    health.forget_listening()
    WorkerHeartbeat.objects.create(id="a:1", host="a", pid=1, listening=True, last_seen_at=db.now())
    with CaptureQueriesContext(connection) as captured:
        assert health.runner_listening() is True
        assert health.runner_listening() is True
    assert len(captured) == 1
    WorkerHeartbeat.objects.update(last_seen_at=db.now() - dt.timedelta(minutes=1))
    health.forget_listening()
    assert health.runner_listening() is False
    health.forget_listening()


def test_stranded__needs_both_waiting_work_and_no_worker_seen_within_the_minute():
    assert health.stranded() is False, "nothing waits"
    durable.start(workflows.three_steps, 1)
    assert health.stranded() is True
    WorkerHeartbeat.objects.create(id="a:1", host="a", pid=1, last_seen_at=db.now() - dt.timedelta(seconds=50))
    assert health.stranded() is False, "seen within the minute"
    WorkerHeartbeat.objects.update(last_seen_at=db.now() - dt.timedelta(seconds=70))
    assert health.stranded() is True
