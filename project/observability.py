"""The demo's OpenTelemetry SDK, for measuring what tracing costs (DURABLE_DEMO_OTEL=1): spans are made,
batched and exported as a real exporter would receive them, then dropped."""

from __future__ import annotations

import os


def configure() -> bool:
    """Install an SDK tracer provider with a batching processor, once per process; False when not asked."""
    if os.environ.get("DURABLE_DEMO_OTEL") != "1":
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Dropping(SpanExporter):
        """Receives every batch, keeps nothing."""

        def export(self, spans):
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropping()))
    trace.set_tracer_provider(provider)
    return True
