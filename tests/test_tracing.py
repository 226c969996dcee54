"""Spans through the OpenTelemetry SDK's in-memory exporter: one trace per instance, a span per segment and attempt."""

from __future__ import annotations

import json

import pytest

import durable
from durable import tracing
from durable.models import Status, WorkflowInstance
from tests import event_workflows, workflows

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
export = pytest.importorskip("opentelemetry.sdk.trace.export")
in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")

# A trace context from "another service": trace 0af7..., span b7ad... (the W3C example).
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"


@pytest.fixture
def spans(monkeypatch):
    """Finished spans, from a provider of the test's own (the global one stays untouched)."""
    exporter = in_memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", lambda: provider.get_tracer(tracing.TRACER_NAME))
    return exporter.get_finished_spans


def named(finished, prefix: str) -> list:
    return [s for s in finished() if s.name.startswith(prefix)]


def test_tracing__one_trace_per_instance_with_each_step_once_across_segments(spans, db, drain):
    handle = durable.start(workflows.three_steps, 1, nap=0.05, instance_id="t-three")
    drain(lambda: handle.status == Status.COMPLETED)

    (start,) = named(spans, "durable.start")
    segments = named(spans, "durable.run")
    attempts = named(spans, "durable.activity")
    assert start.name == "durable.start three_steps"
    assert start.attributes[tracing.INSTANCE_ID] == "t-three"
    # Up to the sleep, and after it: two segments, both children of the instance's start.
    assert len(segments) == 2
    assert {s.attributes[tracing.OUTCOME] for s in segments} == {"suspended", "completed"}
    assert all(s.parent.span_id == start.context.span_id for s in segments)
    # Three activity attempts, each step once (the second segment replays the first two: no spans).
    assert sorted(s.attributes[tracing.STEP] for s in attempts) == [0, 1, 3]
    assert all(s.attributes[tracing.ACTIVITY] == "add" and s.attributes[tracing.ATTEMPT] == 1 for s in attempts)
    assert all(s.attributes[tracing.OUTCOME] == "completed" for s in attempts)
    segment_ids = {s.context.span_id for s in segments}
    assert all(s.parent.span_id in segment_ids for s in attempts)
    assert len({s.context.trace_id for s in spans()}) == 1
    assert WorkflowInstance.objects.get(id="t-three").trace["traceparent"].split("-")[1] == (
        f"{start.context.trace_id:032x}"
    )


def test_tracing__a_failed_attempt_is_its_own_span_marked_failed(spans, db, drain):
    handle = durable.start(workflows.flaky_flow, 2, instance_id="t-flaky")
    drain(lambda: handle.status == Status.COMPLETED)
    attempts = named(spans, "durable.activity flaky")
    assert [(s.attributes[tracing.ATTEMPT], s.attributes[tracing.OUTCOME]) for s in attempts] == [
        (1, "failed"),
        (2, "completed"),
    ]
    assert attempts[0].events and attempts[0].events[0].name == "exception"


def test_tracing__a_cloudevent_with_a_traceparent_parents_the_segment_it_resumes(spans, db, drain, admin_client):
    handle = durable.start(event_workflows.waits_once, "k-trace", instance_id="t-event")
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    body = {
        "specversion": "1.0",
        "type": "thing.happened",
        "source": "/other-service",
        "id": "ev-traced",
        "data": {"key": "k-trace"},
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=1",
    }
    response = admin_client.post("/durable/", json.dumps(body), content_type="application/cloudevents+json")
    assert response.status_code == 202, response.content
    drain(lambda: handle.status == Status.COMPLETED)

    (start,) = named(spans, "durable.start")
    first, resumed = sorted(named(spans, "durable.run"), key=lambda s: s.start_time)
    assert first.parent.span_id == start.context.span_id
    assert f"{resumed.context.trace_id:032x}" == TRACE_ID
    assert f"{resumed.parent.span_id:016x}" == SPAN_ID
    assert [link.context.span_id for link in resumed.links] == [start.context.span_id]


def test_tracing__the_starting_requests_span_is_the_instances_parent(spans, db):
    provider_tracer = tracing._tracer()
    with provider_tracer.start_as_current_span("POST /orders") as request_span:
        durable.start(workflows.three_steps, 1, instance_id="t-request")
    (start,) = named(spans, "durable.start")
    assert start.parent.span_id == request_span.get_span_context().span_id
    assert start.context.trace_id == request_span.get_span_context().trace_id


def test_tracing__off_by_setting_stores_and_emits_nothing(spans, db, drain, settings):
    settings.DURABLE_TRACING = False
    handle = durable.start(workflows.three_steps, 1, nap=0.0, instance_id="t-off")
    drain(lambda: handle.status == Status.COMPLETED)
    assert spans() == ()
    assert WorkflowInstance.objects.get(id="t-off").trace is None


def test_tracing__without_an_sdk_nothing_is_stored(db, drain):
    # The API's own no-op tracer (no provider configured in this process): no valid context to keep.
    handle = durable.start(workflows.three_steps, 1, nap=0.0, instance_id="t-nosdk")
    drain(lambda: handle.status == Status.COMPLETED)
    assert WorkflowInstance.objects.get(id="t-nosdk").trace is None
