"""OpenTelemetry spans (the `durable[otel]` extra): one trace per instance, a span per run segment and activity attempt.

Only the OpenTelemetry API is used; the project installs and configures the SDK and its exporter.
Without the API installed, with DURABLE_TRACING off, or with no SDK configured (the API's no-op
tracer), nothing is recorded and nothing is stored.

One trace per instance across replays, workers and days: when an instance starts, a short
`durable.start` span is made (a child of the caller's current span: the request that started it,
or the incoming CloudEvent's `traceparent`), and its W3C trace context is kept on the instance.
Every run segment is a child of it; a segment resumed by a CloudEvent that carried a
`traceparent` is a child of that one instead, linked to the instance's start. Replayed steps get
no spans: only activity attempts that really run do.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from durable.conf import settings
from durable.engine.types import Step, StepKind, StepStatus

logger = logging.getLogger(__name__)

try:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the extra is not installed
    trace = None  # type: ignore[assignment]

TRACER_NAME = "durable"
# The span attributes a user filters by.
INSTANCE_ID, WORKFLOW, STEP, ACTIVITY, ATTEMPT, OUTCOME = (
    "durable.instance_id",
    "durable.workflow",
    "durable.step",
    "durable.activity",
    "durable.attempt",
    "durable.outcome",
)


def enabled() -> bool:
    return trace is not None and bool(settings.TRACING)


def _tracer():
    return trace.get_tracer(TRACER_NAME)


def _propagator():
    return TraceContextTextMapPropagator()


def _carrier_of(span: Any) -> dict[str, str] | None:
    if not span.get_span_context().is_valid:
        return None  # the API's no-op tracer: no SDK configured
    carrier: dict[str, str] = {}
    _propagator().inject(carrier, context=trace.set_span_in_context(span))
    return carrier or None


def start_trace(instance_id: str, workflow: str, parent: dict[str, Any] | None = None) -> dict[str, str] | None:
    """Open the instance's trace: a `durable.start` span under `parent` (a CloudEvent's trace
    context) or the current span; returns the trace context to keep on the instance."""
    if not enabled():
        return None
    try:
        context = _propagator().extract(_text(parent)) if parent else None
        span = _tracer().start_span(
            f"durable.start {workflow}", context=context, attributes={INSTANCE_ID: instance_id, WORKFLOW: workflow}
        )
        span.end()
        return _carrier_of(span)
    except Exception:
        logger.exception("starting a trace failed", extra={"instance_id": instance_id, "workflow": workflow})
        return None


def woken_by(history: list[Step]) -> dict[str, str] | None:
    """The trace context of the CloudEvent that resumed this segment: the last recorded step is
    the wait it resolved, and the event carried the distributed-tracing extension."""
    if not history or not enabled():
        return None
    last = history[-1]
    if last.kind != StepKind.WAIT_EVENT or last.status != StepStatus.COMPLETED or not isinstance(last.result, dict):
        return None
    return _text(last.result.get("extensions"))


def _text(extensions: Any) -> dict[str, str] | None:
    if not isinstance(extensions, dict) or not isinstance(extensions.get("traceparent"), str):
        return None
    carrier = {"traceparent": extensions["traceparent"]}
    if isinstance(extensions.get("tracestate"), str):
        carrier["tracestate"] = extensions["tracestate"]
    return carrier


@contextlib.contextmanager
def segment(instance_id: str, workflow: str, instance_trace: dict | None, event_trace: dict | None) -> Iterator[Any]:
    """The span of one run segment (yields None when tracing is off)."""
    if not enabled() or not (instance_trace or event_trace):
        yield None
        return
    propagator = _propagator()
    parent = propagator.extract(event_trace or instance_trace or {})
    links = []
    if event_trace and instance_trace:
        started = trace.get_current_span(propagator.extract(instance_trace)).get_span_context()
        links.append(trace.Link(started, {"durable.link": "instance start"}))
    with _tracer().start_as_current_span(
        f"durable.run {workflow}",
        context=parent,
        links=links,
        attributes={INSTANCE_ID: instance_id, WORKFLOW: workflow},
        record_exception=True,
    ) as span:
        yield span


def outcome(span: Any, kind: str) -> None:
    if span is not None:
        span.set_attribute(OUTCOME, kind)


@contextlib.contextmanager
def activity(instance_id: str, workflow: str, name: str, position: int, attempt: int) -> Iterator[Any]:
    """The span of one activity attempt, a child of the segment's (yields None when tracing is off)."""
    if not enabled() or not trace.get_current_span().get_span_context().is_valid:
        yield None
        return
    attributes = {INSTANCE_ID: instance_id, WORKFLOW: workflow, ACTIVITY: name, STEP: position, ATTEMPT: attempt}
    with _tracer().start_as_current_span(f"durable.activity {name}", attributes=attributes) as span:
        try:
            yield span
        except BaseException:
            span.set_attribute(OUTCOME, "failed")
            raise
        span.set_attribute(OUTCOME, "completed")
