"""What every Python generator shares: a tracer provider per service, exporting to the capture server."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter


def provider(service: str, exporter: SpanExporter, **resource: str) -> TracerProvider:
    """A provider whose spans go through the SDK's own batch processor to `exporter`."""
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": service, **resource}))
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
    return tracer_provider


def zipkin(base: str) -> SpanExporter:
    from opentelemetry.exporter.zipkin.json import ZipkinExporter

    return ZipkinExporter(endpoint=f"{base}/api/v2/spans")


def otlp_proto(base: str) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=f"{base}/v1/traces")
