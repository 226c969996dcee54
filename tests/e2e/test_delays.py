"""Delayed starts and debounce against real processes: a durable_worker runs delayed instances at
their time and not before, and debounced calls from several processes at once give one instance."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import pytest
from django.db import connection

import durable
from durable.models import Status, WorkflowInstance
from tests import conftest
from tests import delay_workflows as dw
from tests.conftest import ROOT
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def test_delayed_start__a_real_worker_runs_each_at_its_time_never_before(worker):
    handles, due = [], {}
    for i in range(8):
        handle = durable.start(dw.delayed, f"d{i}", start_in=0.6 + 0.15 * i)
        handles.append(handle)
        due[handle.instance_id] = WorkflowInstance.objects.get(pk=handle.instance_id).run_after
    cancelled = durable.start(dw.delayed, "never", start_in=0.8)
    durable.cancel(cancelled.instance_id, "changed my mind")
    late = []
    for handle in handles:
        began = handle.result(timeout=30)["now"]  # the database's clock, as run_after is
        late.append((began - due[handle.instance_id].timestamp()) * 1000)
    assert min(late) >= 0, f"began before its start time: {late}"
    time.sleep(0.5)
    assert cancelled.status == Status.CANCELLED
    assert not Ledger.objects.filter(step="begin:never").exists()
    assert Ledger.objects.count() == 8
    print(
        f"\n[report] delayed start lateness on {connection.vendor}: "
        f"p50 {statistics.median(late):.1f} ms, max {max(late):.1f} ms over 8 (to its first ctx.now())"
    )


CALLER = """
import time, durable
from tests import delay_workflows as dw
at = float({at!r})
while time.time() < at:
    pass
ids = set()
for i in range(10):
    ids.add(durable.start(dw.delayed, f"{{{label!r}}}-{{i}}", business_key="race", debounce=5).instance_id)
print(",".join(sorted(ids)))
"""


def test_debounce__four_processes_calling_at_once_give_one_instance():
    env = dict(os.environ, DATABASE_URL=conftest.test_database_url())
    env.pop("DJANGO_SETTINGS_MODULE", None)
    at = time.time() + 4.0  # all interpreters loaded by then
    callers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "--settings", "tests.settings", "-c", CALLER.format(at=at, label=p)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in "abcd"
    ]
    seen = set()
    for caller in callers:
        out, err = caller.communicate(timeout=60)
        assert caller.returncode == 0, err
        seen |= set(out.strip().splitlines()[-1].split(","))
    assert len(seen) == 1, f"one debounce window, not {seen}"
    instance = WorkflowInstance.objects.get()
    assert instance.status == Status.PENDING and instance.debounced
