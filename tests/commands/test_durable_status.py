"""durable_status without a worker process: the rows it reads are written here, as a worker's loop would."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import durable
from durable import db, health
from durable.models import WorkerHeartbeat
from tests import workflows

pytestmark = pytest.mark.django_db


def beat_at(moment: dt.datetime, pid: int = 4242) -> None:
    WorkerHeartbeat.objects.create(
        id=f"box:{pid}", host="box", pid=pid, started_at=moment, last_seen_at=moment, runs={"cluster": True}
    )


def test_status__no_worker_and_nothing_waiting_is_fine(run):
    out, err = run("durable_status")
    assert "Workers (0 running, 0 seen)" in out and "none has been seen" in out
    assert "Runnable backlog: 0 instance(s); lag (oldest waiting): -" in out and err == ""


def test_status__waiting_instances_and_no_worker_exit_1_saying_what_to_run(run):
    for i in range(3):
        durable.start(workflows.three_steps, i)
    with pytest.raises(SystemExit) as exited:
        run("durable_status")
    assert exited.value.code == 1


def test_status__a_worker_seen_lately_is_running_one_gone_is_listed_as_gone(run, capsys):
    beat_at(db.now())
    beat_at(db.now() - dt.timedelta(hours=2), pid=7)
    durable.start(workflows.three_steps, 1)
    out, _ = run("durable_status", "--json")
    shown = json.loads(out)
    assert [(w["pid"], w["running"]) for w in shown["workers"]] == [(4242, True), (7, False)]
    assert shown["backlog"] == 1 and shown["stranded"] is False
    table, _ = run("durable_status")
    assert "Workers (1 running, 2 seen)" in table
    assert "box:4242" in table and "cluster x?, timer loop" in table and "gone" in table


def test_status__the_backlog_count_is_bounded(run, monkeypatch):
    monkeypatch.setattr(health, "COUNT_LIMIT", 2)
    beat_at(db.now())
    for i in range(4):
        durable.start(workflows.three_steps, i)
    out, _ = run("durable_status")
    assert "Runnable backlog: 2+ instance(s)" in out


def test_start__warns_when_no_worker_has_been_seen_and_not_when_one_has(run):
    _, err = run("durable_start", "three_steps", "--input", "[1]")
    assert "(durable.W005) No durable_worker has been seen in the last minute" in err
    assert "python manage.py durable_worker" in err
    beat_at(db.now())
    _, err = run("durable_start", "three_steps", "--input", "[2]")
    assert err == ""
