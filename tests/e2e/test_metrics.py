"""Metrics in prometheus-client's multiprocess mode: what real worker processes record, scraped by another process."""

from __future__ import annotations

import subprocess
import sys

import pytest

import durable
from durable.models import Status, WorkflowInstance
from project import processes
from tests import conftest, workflows
from tests.conftest import wait_for

parser = pytest.importorskip("prometheus_client.parser")

# A process other than the worker's serves the scrape, as gunicorn would.
SCRAPE = (
    "import django; django.setup(); "
    "from durable.api.metrics import exposition; import sys; sys.stdout.write(exposition()[0].decode())"
)


def test_metrics__multiprocess_mode_adds_up_what_the_worker_processes_recorded(worker_factory, tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    worker_factory(PROMETHEUS_MULTIPROC_DIR=str(folder))
    handles = [durable.start(workflows.three_steps, n, nap=0.05) for n in range(3)]
    wait_for(
        lambda: (
            WorkflowInstance.objects.filter(id__in=[h.instance_id for h in handles], status=Status.COMPLETED).count()
            == 3
        ),
        what="three workflows completed by the worker",
    )
    env = processes.child_env(DATABASE_URL=conftest.test_database_url(), PROMETHEUS_MULTIPROC_DIR=str(folder))
    text = subprocess.run(
        [sys.executable, "-c", SCRAPE], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parser.text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("durable_activity_attempts_total", (("activity", "add"), ("outcome", "completed")))] == 9
    assert samples[("durable_instances_ended_total", (("status", "completed"), ("workflow", "three_steps")))] == 3
    assert samples[("durable_timer_lateness_seconds_count", ())] >= 3
    assert samples[("durable_instances", (("status", "completed"),))] == 3
    assert samples[("durable_workers", ())] == 1
    assert any(path.suffix == ".db" for path in folder.iterdir())
