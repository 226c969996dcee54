"""GET /durable/metrics/: the Prometheus text after known work, parsed by prometheus-client's own parser."""

from __future__ import annotations

import time

import pytest

import durable
from durable.models import Status, WorkflowInstance
from tests import workflows

parser = pytest.importorskip("prometheus_client.parser")

URL = "/durable/metrics/"


def scrape(api) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    response = api.get(URL)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in parser.text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def delta(after: dict, before: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
def viewer(make_client):
    return make_client("durable.view_workflowinstance")


def test_metrics__counters_and_histograms_after_known_work(viewer, drain):
    before = scrape(viewer)
    durable.start(workflows.three_steps, 1, nap=0.05, instance_id="m-three")
    durable.start(workflows.flaky_flow, 3, instance_id="m-flaky")
    drain(lambda: WorkflowInstance.objects.filter(id__in=["m-three", "m-flaky"], status=Status.COMPLETED).count() == 2)
    after = scrape(viewer)

    assert delta(after, before, "durable_activity_attempts_total", activity="add", outcome="completed") == 3
    assert delta(after, before, "durable_activity_attempts_total", activity="flaky", outcome="failed") == 2
    assert delta(after, before, "durable_activity_attempts_total", activity="flaky", outcome="completed") == 1
    assert delta(after, before, "durable_activity_duration_seconds_count", activity="add") == 3
    assert delta(after, before, "durable_instances_ended_total", workflow="three_steps", status="completed") == 1
    assert delta(after, before, "durable_instances_ended_total", workflow="flaky_flow", status="completed") == 1
    # three_steps: up to its sleep, then to its end; flaky_flow: a segment per retry wait, then the end.
    assert delta(after, before, "durable_run_segments_total", workflow="three_steps", outcome="suspended") >= 1
    assert delta(after, before, "durable_run_segments_total", workflow="three_steps", outcome="completed") == 1
    assert delta(after, before, "durable_run_segment_seconds_count", workflow="flaky_flow") >= 3
    # The sleep's timer and flaky's two retry timers fired.
    assert delta(after, before, "durable_timer_lateness_seconds_count") >= 3
    # Gauges from the database.
    assert (
        after[("durable_instances", (("status", "completed"),))]
        == WorkflowInstance.objects.filter(status=Status.COMPLETED).count()
    )
    assert after[("durable_runnable_backlog", ())] == 0
    assert after[("durable_lag_seconds", ())] == 0


def test_metrics__event_delivery(viewer, drain):
    from tests import event_workflows

    before = scrape(viewer)
    durable.start(event_workflows.waits_once, "k1", instance_id="m-waits")  # the wait, then the event
    drain(lambda: WorkflowInstance.objects.filter(id="m-waits", status=Status.WAITING_FOR_EVENT).exists())
    durable.start(event_workflows.waits_once, "k2", instance_id="m-later")  # not run yet: the event comes first
    durable.send_event("thing.happened", "tests", {"key": "k1"})
    durable.send_event("thing.happened", "tests", {"key": "k2"})
    drain(lambda: WorkflowInstance.objects.filter(id__in=["m-waits", "m-later"], status=Status.COMPLETED).count() == 2)
    after = scrape(viewer)
    assert delta(after, before, "durable_event_delivery_seconds_count") == 2


def test_metrics__backlog_and_lag_of_work_no_worker_runs(viewer):
    durable.start(workflows.sleeper, 0, instance_id="m-due")
    after = scrape(viewer)
    assert after[("durable_runnable_backlog", ())] == 1
    assert after[("durable_lag_seconds", ())] >= 0
    assert after[("durable_active_instances", (("status", "pending"), ("workflow", "sleeper")))] == 1
    assert after[("durable_active_instances_capped", ())] == 0
    assert after[("durable_workers", ())] == 0


def test_metrics__refused_without_the_view_permission(make_client):
    response = make_client().get(URL)
    assert response.status_code == 403
    assert response.json()["error_type"] == "permission_denied"


def test_metrics__token(settings, client, db):
    settings.DURABLE_METRICS_TOKEN = "scrape-me"
    assert client.get(URL).status_code in (401, 403)
    assert client.get(URL, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = client.get(URL, HTTP_AUTHORIZATION="Bearer scrape-me")
    assert ok.status_code == 200
    assert b"durable_instances" in ok.content


def test_metrics__disabled_by_setting(viewer, settings):
    settings.DURABLE_METRICS = False
    assert viewer.get(URL).status_code == 501


def test_metrics__hook_failures_by_hook(viewer, drain, tmp_path):
    from durable.testing import run_hooks
    from tests import hook_workflows

    before = scrape(viewer)
    log = str(tmp_path / "hook.log")
    durable.start(hook_workflows.finishes, log, fails=2, instance_id="m-hook")
    drain(lambda: WorkflowInstance.objects.filter(id="m-hook", status=Status.COMPLETED).exists())
    for _ in range(20):  # the retries are due 0.05 s and 0.1 s after each failure
        run_hooks(seconds=2.0)
        if len(hook_workflows.attempts(log)) >= 3:
            break
        time.sleep(0.1)
    after = scrape(viewer)
    assert len(hook_workflows.attempts(log)) == 3
    assert delta(after, before, "durable_hook_failures_total", hook="tests.hook_workflows.on_finish") == 2


def test_metrics__queue_depth_in_progress_and_oldest_in_line(viewer):
    from tests import queue_workflows

    for i in range(3):  # q_one: one in progress at a time; nothing runs them here
        durable.start(queue_workflows.one_at_a_time, instance_id=f"m-q-{i}")
    after = scrape(viewer)
    assert after[("durable_queue_in_progress", (("queue", "q_one"),))] == 1
    assert after[("durable_queue_depth", (("queue", "q_one"),))] == 2
    assert after[("durable_queue_oldest_pending_seconds", (("queue", "q_one"),))] >= 0
    assert after[("durable_queue_depth", (("queue", "default"),))] == 0, "a queue without limits has no line"
    assert after[("durable_queue_oldest_pending_seconds", (("queue", "q_two"),))] == 0
