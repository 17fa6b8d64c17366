"""OTLP/protobuf: real SDK exports read as protobuf give exactly the records of their JSON mapping.

Spans, logs and metrics come from the real OpenTelemetry SDK and its OTLP encoders; the
JSON twin of each request is protobuf's own JSON mapping (base64 ids, int64 as strings,
enum names), read by the already-tested `otlp_json` path. Malformed requests are built by
hand with the generated pb2 classes, since the SDK cannot produce them.
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import fields
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToJson
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, set_span_in_context

from mcp_sessions.errors import MalformedInputError, UnknownFormatError
from mcp_sessions.formats import read_path
from mcp_sessions.formats.otlp_proto import (
    logs_from_bytes,
    logs_from_message,
    metrics_from_bytes,
    traces_from_bytes,
    traces_from_message,
)
from mcp_sessions.ingest import ingest_file
from mcp_sessions.model import LogRecord, SkippedRecords, Span
from mcp_sessions.store import Store

RESOURCE = Resource.create({"service.name": "shop", "deployment.environment": "test", "host.cpus": 8})


def sdk_trace_request() -> ExportTraceServiceRequest:
    """A checkout trace with every span kind, events, a link, an error and typed attributes."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.proto", "1.2.3")
    unversioned = provider.get_tracer("tests.unversioned")
    with tracer.start_as_current_span("warmup", kind=SpanKind.INTERNAL) as warmup:
        pass
    with tracer.start_as_current_span(
        "POST /checkout",
        kind=SpanKind.SERVER,
        links=[Link(warmup.get_span_context(), {"link.reason": "follows"})],
        attributes={
            "session.id": "proto-session",
            "http.response.status_code": 500,
            "retry.ratio": 0.25,
            "cache.hit": False,
            "items": ["apple", "pear"],
            "item.ids": [3, 5, 8],
        },
    ) as server:
        server.add_event("cart loaded", {"cart.size": 2, "cart.total": 12.5})
        with unversioned.start_as_current_span("SELECT price", kind=SpanKind.CLIENT):
            pass
        with tracer.start_as_current_span("publish order", kind=SpanKind.PRODUCER):
            pass
        with tracer.start_as_current_span("charge card", kind=SpanKind.CONSUMER) as charge:
            try:
                raise ValueError("card declined")
            except ValueError as exc:
                charge.record_exception(exc)
                charge.set_status(Status(StatusCode.ERROR, "card declined"))
        server.set_status(Status(StatusCode.OK))
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def sdk_logs_request() -> ExportLogsServiceRequest:
    """Log records inside and outside a span, with string, map, list and bytes bodies."""
    span_exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=RESOURCE)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("tests.logs", "0.4")
    with tracer_provider.get_tracer("tests.logs").start_as_current_span("work") as span:
        logger.emit(
            timestamp=1_700_000_000_000_000_000,
            observed_timestamp=1_700_000_000_000_000_500,
            context=set_span_in_context(span),
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            body="disk almost full",
            attributes={"disk.free": 0.05, "disk.name": "sda"},
        )
        logger.emit(
            observed_timestamp=1_700_000_000_100_000_000,
            context=set_span_in_context(span),
            severity_number=SeverityNumber.INFO,
            body={"user": "ann", "steps": [1, "two", 3.0, True], "nested": {"deep": None}},
            event_name="checkout.completed",
        )
    logger.emit(timestamp=1_700_000_000_200_000_000, body=b"\x00\xffraw", attributes={"tags": ["a", "b"]})
    provider.shutdown()
    tracer_provider.shutdown()
    return encode_logs(exporter.get_finished_logs())


def sdk_metrics_request():
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("tests.metrics")
    meter.create_counter("orders").add(3, {"shop": "north"})
    meter.create_histogram("checkout.duration", unit="ms").record(12.5)
    meter.create_up_down_counter("queue.depth").add(-1)
    data = reader.get_metrics_data()
    provider.shutdown()
    return encode_metrics(data)


def read(path: Path) -> tuple[str, list]:
    with read_path(path) as parsed:
        return parsed.format, list(parsed.records)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def assert_same_records(from_proto: list, from_json: list) -> None:
    assert len(from_proto) == len(from_json)
    for proto_record, json_record in zip(from_proto, from_json, strict=True):
        assert type(proto_record) is type(json_record)
        for f in fields(proto_record):
            assert getattr(proto_record, f.name) == getattr(json_record, f.name), f.name
        assert proto_record == json_record


def test_protobuf_traces_match_their_json_mapping(tmp_path: Path):
    request = sdk_trace_request()
    proto_format, from_proto = read(write(tmp_path / "traces.pb", request.SerializeToString()))
    json_format, from_json = read(write(tmp_path / "traces.json", MessageToJson(request).encode()))
    assert (proto_format, json_format) == ("otlp-proto", "otlp-json")
    assert_same_records(from_proto, from_json)

    # The comparison above only means something if the export exercises every field.
    spans = {span.name: span for span in from_proto}
    assert len(spans) == 5
    server = spans["POST /checkout"]
    assert server.kind == "server" and server.status_code == "ok" and server.parent_span_id is None
    assert server.attributes["items"] == ["apple", "pear"] and server.attributes["item.ids"] == [3, 5, 8]
    assert server.attributes["retry.ratio"] == 0.25 and server.attributes["cache.hit"] is False
    (event,) = server.events
    assert (event.name, event.attributes) == ("cart loaded", {"cart.size": 2, "cart.total": 12.5})
    (link,) = server.links
    assert (link.trace_id, link.span_id) == (spans["warmup"].trace_id, spans["warmup"].span_id)
    assert link.attributes == {"link.reason": "follows"}
    assert server.resource["service.name"] == "shop" and server.resource["host.cpus"] == 8
    assert server.scope == "tests.proto@1.2.3" and spans["SELECT price"].scope == "tests.unversioned"
    charge = spans["charge card"]
    assert (charge.kind, charge.status_code, charge.status_message) == ("consumer", "error", "card declined")
    assert charge.parent_span_id == server.span_id and charge.events[0].name == "exception"
    assert {span.kind for span in from_proto} == {"internal", "server", "client", "producer", "consumer"}
    assert all(len(s.trace_id) == 32 and len(s.span_id) == 16 and s.end_ns >= s.start_ns > 0 for s in from_proto)


def test_protobuf_logs_match_their_json_mapping(tmp_path: Path):
    request = sdk_logs_request()
    proto_format, from_proto = read(write(tmp_path / "logs.pb", request.SerializeToString()))
    json_format, from_json = read(write(tmp_path / "logs.json", MessageToJson(request).encode()))
    assert (proto_format, json_format) == ("otlp-proto", "otlp-json")
    assert_same_records(from_proto, from_json)

    warn, event, raw = from_proto
    assert (warn.severity_number, warn.severity_text, warn.body) == (13, "WARN", "disk almost full")
    assert warn.time_ns == 1_700_000_000_000_000_000 and warn.observed_time_ns == 1_700_000_000_000_000_500
    assert warn.trace_id is not None and warn.span_id is not None and warn.scope == "tests.logs@0.4"
    # No timestamp: the observed time stands in, as in the JSON path.
    assert event.time_ns == event.observed_time_ns == 1_700_000_000_100_000_000
    assert event.event_name == "checkout.completed" and event.trace_id == warn.trace_id
    assert event.body == {"user": "ann", "steps": [1, "two", 3.0, True], "nested": {"deep": None}}
    assert raw.body == base64.b64encode(b"\x00\xffraw").decode() and raw.attributes == {"tags": ["a", "b"]}
    assert raw.trace_id is None and raw.span_id is None and raw.severity_number is None


def test_every_anyvalue_type_matches_the_json_mapping(tmp_path: Path):
    def kv(key: str, **value) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(**value))

    values = [
        kv("s", string_value="text"),
        kv("b", bool_value=True),
        kv("i", int_value=-(2**62)),
        kv("d", double_value=-0.5),
        kv("raw", bytes_value=b"\x01\x02\xfe"),
        kv("list", array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="x")])),
        kv("map", kvlist_value=KeyValueList(values=[kv("inner", array_value=ArrayValue())])),
        KeyValue(key="unset"),
    ]
    request = ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                scope_logs=[
                    logs_pb2.ScopeLogs(
                        log_records=[logs_pb2.LogRecord(time_unix_nano=5, attributes=values, body=values[6].value)]
                    )
                ]
            )
        ]
    )
    (from_proto,) = read(write(tmp_path / "values.pb", request.SerializeToString()))[1]
    (from_json,) = read(write(tmp_path / "values.json", MessageToJson(request).encode()))[1]
    assert_same_records([from_proto], [from_json])
    assert from_proto.attributes == {
        "s": "text",
        "b": True,
        "i": -(2**62),
        "d": -0.5,
        "raw": "AQL+",
        "list": [1, "x"],
        "map": {"inner": []},
        "unset": None,
    }
    assert from_proto.body == {"inner": []}


def test_metrics_are_counted_and_skipped(tmp_path: Path):
    request = sdk_metrics_request()
    assert list(metrics_from_bytes(request.SerializeToString())) == [SkippedRecords("metric", 3)]
    assert read(write(tmp_path / "metrics.pb", request.SerializeToString())) == (
        "otlp-proto",
        [SkippedRecords("metric", 3)],
    )
    assert list(metrics_from_bytes(b"")) == []


@pytest.mark.parametrize(
    ("make_request", "record_type"),
    [(sdk_trace_request, Span), (sdk_logs_request, LogRecord), (sdk_metrics_request, SkippedRecords)],
    ids=["traces", "logs", "metrics"],
)
def test_detection_tells_the_three_requests_apart(tmp_path: Path, make_request, record_type):
    """All three put their payload in field 1: the bytes alone would decode as any of them."""
    data = make_request().SerializeToString()
    fmt, records = read(write(tmp_path / "export.bin", data))
    assert fmt == "otlp-proto"
    assert records and all(type(record) is record_type for record in records)


def test_logs_bytes_read_as_traces_show_why_detection_checks_ids():
    """Field numbers line up down to the record: a log record decodes as a span with no ids."""
    record = logs_pb2.LogRecord(time_unix_nano=1, severity_number=9, severity_text="INFO")
    data = ExportLogsServiceRequest(resource_logs=[{"scope_logs": [{"log_records": [record]}]}]).SerializeToString()
    assert list(traces_from_bytes(data)) == [
        SkippedRecords(
            "rejected span", 1, reason="resource_spans[0].scope_spans[0].spans[0]: trace_id is 0 bytes, expected 16"
        )
    ]
    assert [r.severity_text for r in logs_from_bytes(data)] == ["INFO"]


def test_length_prefixed_stream_of_two_requests(tmp_path: Path):
    """The Collector file exporter's `format: proto`: a 4-byte big-endian length before each message."""
    traces = sdk_trace_request().SerializeToString()
    logs = sdk_logs_request().SerializeToString()
    stream = b"".join(len(message).to_bytes(4, "big") + message for message in (traces, logs))
    fmt, records = read(write(tmp_path / "collector.proto", stream))
    assert fmt == "otlp-proto-stream"
    assert [type(r) for r in records] == [Span] * 5 + [LogRecord] * 3
    assert records == list(traces_from_bytes(traces)) + list(logs_from_bytes(logs))


def test_gzip_wrapped_protobuf(tmp_path: Path):
    data = sdk_trace_request().SerializeToString()
    fmt, records = read(write(tmp_path / "traces.pb.gz", gzip.compress(data)))
    assert fmt == "otlp-proto"
    assert records == list(traces_from_bytes(data))


def test_protobuf_that_starts_like_json_is_still_protobuf(tmp_path: Path):
    """Field 1 of length 123 is b"\\n{": after the "blank line" it looks like a JSON object."""
    for padding in range(200):
        resource_spans = trace_pb2.ResourceSpans(
            resource={"attributes": [KeyValue(key="pad", value=AnyValue(string_value="x" * padding))]},
            scope_spans=[trace_pb2.ScopeSpans(spans=[good_span(1)])],
        )
        if resource_spans.ByteSize() == ord("{"):
            break
    data = ExportTraceServiceRequest(resource_spans=[resource_spans]).SerializeToString()
    assert data.startswith(b"\n{")
    fmt, records = read(write(tmp_path / "tricky.json", data))
    assert fmt == "otlp-proto"
    assert [r.span_id for r in records] == ["0000000000000001"]


@pytest.mark.parametrize(
    "content",
    [b"\x00\x01binary", bytes(range(256)) * 4, b"\xff" * 64, b"\x00\x00\x00\x05abc"],
    ids=["short", "byte-ramp", "all-ff", "truncated-stream"],
)
def test_garbage_bytes_are_an_unknown_format(tmp_path: Path, content: bytes):
    with pytest.raises(UnknownFormatError, match="neither JSON nor an OTLP protobuf export"):
        read(write(tmp_path / "garbage.bin", content))


def test_undecodable_bytes_raise_when_called():
    for decode in (traces_from_bytes, logs_from_bytes, metrics_from_bytes):
        with pytest.raises(MalformedInputError, match="cannot decode 3 bytes as an OTLP protobuf"):
            decode(b"\xff\xff\xff")


def good_span(n: int, **overrides) -> trace_pb2.Span:
    fields = {
        "trace_id": bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
        "span_id": n.to_bytes(8, "big"),
        "name": f"span {n}",
        "start_time_unix_nano": 1_000 * n,
        "end_time_unix_nano": 1_000 * n + 500,
    }
    return trace_pb2.Span(**(fields | overrides))


def request_with_bad_span(**bad) -> ExportTraceServiceRequest:
    spans = [good_span(1), good_span(2, **bad), good_span(3, parent_span_id=(1).to_bytes(8, "big"))]
    return ExportTraceServiceRequest(resource_spans=[trace_pb2.ResourceSpans(scope_spans=[{"spans": spans}])])


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"trace_id": b"\x01\x02\x03"}, "trace_id is 3 bytes, expected 16"),
        ({"trace_id": b""}, "trace_id is 0 bytes, expected 16"),
        ({"span_id": b"\x01" * 16}, "span_id is 16 bytes, expected 8"),
        ({"parent_span_id": b"\x01" * 4}, "parent_span_id is 4 bytes, expected 8"),
    ],
)
def test_a_span_with_a_malformed_id_is_rejected_alone(tmp_path: Path, bad: dict, reason: str):
    request = request_with_bad_span(**bad)
    records = list(traces_from_message(request))
    assert [r.span_id for r in records if isinstance(r, Span)] == ["0000000000000001", "0000000000000003"]
    assert records[1] == SkippedRecords(
        "rejected span", 1, reason=f"resource_spans[0].scope_spans[0].spans[1]: {reason}"
    )
    assert records[2].parent_span_id == "0000000000000001"
    assert list(traces_from_bytes(request.SerializeToString())) == records
    # A file holding such a request is still traces: the good spans are kept, the bad one counted.
    assert read(write(tmp_path / "partial.pb", request.SerializeToString())) == ("otlp-proto", records)


def test_a_log_with_a_malformed_id_is_rejected_alone():
    records = [
        logs_pb2.LogRecord(time_unix_nano=1, trace_id=b"\x01" * 16, span_id=b"\x02" * 8),
        logs_pb2.LogRecord(time_unix_nano=2, trace_id=b"\x01" * 5),
        logs_pb2.LogRecord(time_unix_nano=3, span_id=b"\x02" * 3),
        logs_pb2.LogRecord(severity_text="no time at all"),
        logs_pb2.LogRecord(time_unix_nano=4, trace_id=bytes(16), span_id=bytes(8)),
    ]
    request = ExportLogsServiceRequest(resource_logs=[{"scope_logs": [{"log_records": records}]}])
    out = list(logs_from_message(request))
    assert [(r.time_ns, r.trace_id, r.span_id) for r in out if isinstance(r, LogRecord)] == [
        (1, "01" * 16, "02" * 8),
        (4, None, None),  # all-zero ids mean "no trace", as in JSON
    ]
    where = "resource_logs[0].scope_logs[0].log_records"
    assert [r.reason for r in out if isinstance(r, SkippedRecords)] == [
        f"{where}[1]: trace_id is 5 bytes, expected 16",
        f"{where}[2]: span_id is 3 bytes, expected 8",
        f"{where}[3]: neither time_unix_nano nor observed_time_unix_nano is set",
    ]
    assert all(r.kind == "rejected log" and r.count == 1 for r in out if isinstance(r, SkippedRecords))


def test_ingest_stores_the_spans_of_a_protobuf_file(tmp_path: Path):
    request = sdk_trace_request()
    pb = write(tmp_path / "sdk-export.pb", request.SerializeToString())
    partial = write(tmp_path / "partial.pb", request_with_bad_span(trace_id=b"\x01\x02\x03").SerializeToString())
    with Store(tmp_path / "sessions.db") as store:
        result = ingest_file(store, pb)
        partial_result = ingest_file(store, partial)
        stored = store.conn.execute("SELECT COUNT(*), COUNT(DISTINCT trace_id) FROM spans").fetchone()
    assert (result.status, result.format) == ("stored", "otlp-proto"), result.error
    assert result.counts.spans_stored == 5
    assert partial_result.status == "stored", partial_result.error
    assert partial_result.counts.spans_stored == 2
    assert partial_result.counts.skipped == {"rejected span": 1}
    assert tuple(stored) == (7, 3)  # the SDK export holds two traces


@pytest.mark.parametrize(("end", "known"), [(3000, True), (1000, True), (0, False), (500, False)])
def test_an_end_of_zero_or_before_the_start_is_not_recorded(end: int, known: bool) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "GET /"
    span.start_time_unix_nano, span.end_time_unix_nano = 1000, end
    (parsed,) = [r for r in traces_from_message(request) if isinstance(r, Span)]
    assert parsed.end_known is known
    assert parsed.end_ns == max(1000, end)
