"""Without the metrics and otel extras: recording is a no-op, runs go on, the endpoint says what to install.

Not skipped without prometheus-client: the CI job without the extras runs these for real (there
the libraries are absent); elsewhere it is taken away for the test.
"""

from __future__ import annotations

import pytest

import durable
from durable import metrics, tracing
from durable.models import Status, WorkflowInstance
from tests import workflows


@pytest.fixture
def without_prometheus(monkeypatch):
    monkeypatch.setattr(metrics, "prometheus_client", None)
    assert not metrics.available() and not metrics.enabled()


def test_metrics__without_the_extra_runs_record_nothing_and_complete(without_prometheus, db, drain):
    durable.start(workflows.three_steps, 1, nap=0.0, instance_id="m-bare")
    durable.start(workflows.flaky_flow, 2, instance_id="m-bare-flaky")
    drain(lambda: WorkflowInstance.objects.filter(id__startswith="m-bare", status=Status.COMPLETED).count() == 2)


def test_metrics__without_the_extra_the_endpoint_says_what_to_install(without_prometheus, admin_client):
    response = admin_client.get("/durable/metrics/")
    assert response.status_code == 501
    assert response.json()["error_type"] == "metrics_unavailable"
    assert "durable[metrics]" in response.json()["error"]


def test_metrics__a_failing_recorder_never_fails_the_caller(monkeypatch, caplog):
    if not metrics.available():
        pytest.skip("prometheus-client is not installed")

    def broken():
        raise RuntimeError("registry gone")

    monkeypatch.setattr(metrics, "_families", broken)
    metrics.activity("add", "completed", 0.01)
    assert "recording a metric failed" in caplog.text


def test_tracing__without_the_extra_runs_store_no_trace_and_complete(monkeypatch, db, drain):
    monkeypatch.setattr(tracing, "trace", None)
    assert not tracing.enabled()
    handle = durable.start(workflows.three_steps, 1, nap=0.0, instance_id="t-bare")
    drain(lambda: handle.status == Status.COMPLETED)
    assert WorkflowInstance.objects.get(id="t-bare").trace is None
