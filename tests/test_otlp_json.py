"""OTLP/JSON parsing: the public samples, and the spellings real exporters use."""

from __future__ import annotations

import copy
import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from mcp_sessions.errors import MalformedInputError, UnknownFormatError, UnsupportedFormatError
from mcp_sessions.formats import read_path
from mcp_sessions.formats.otlp_json import parse_request
from mcp_sessions.model import LogRecord, SkippedRecords, Span

SPANS_PER_FILE = {
    "highlight-traces.json": 512,
    "highlight-fs.json": 218,
    "highlight-nextjs.json": 8,
    "spec-example-trace.json": 1,
}
LOG_FILES = ("highlight-log.json", "spec-example-logs.json", "spec-example-events.json")


def records(path: Path) -> list:
    with read_path(path) as parsed:
        return list(parsed.records)


@pytest.mark.parametrize(("name", "count"), SPANS_PER_FILE.items())
def test_sample_span_counts(samples, name, count):
    spans = [r for r in records(samples / "otlp" / name) if isinstance(r, Span)]
    assert len(spans) == count


@pytest.mark.parametrize("name", LOG_FILES)
def test_each_sample_log_file_has_one_record(samples, name):
    logs = [r for r in records(samples / "otlp" / name) if isinstance(r, LogRecord)]
    assert len(logs) == 1


def test_spec_trace_uppercase_ids_and_kind(samples):
    (span,) = records(samples / "otlp" / "spec-example-trace.json")
    assert span.trace_id == "5b8efff798038103d269b633813fc60c"
    assert span.span_id == "eee19b7ec3c1b174"
    assert span.parent_span_id == "eee19b7ec3c1b173"
    assert span.kind == "server"
    assert span.service == "my.service"
    assert span.scope == "my.library@1.0.0"
    assert span.duration_ns == 1_000_000_000


def test_spec_log_every_anyvalue_type(samples):
    (log,) = records(samples / "otlp" / "spec-example-logs.json")
    assert log.attributes["string.attribute"] == "some string"
    assert log.attributes["boolean.attribute"] is True
    assert log.attributes["int.attribute"] == 10
    assert log.attributes["double.attribute"] == 637.704
    assert log.attributes["array.attribute"] == ["many", "values"]
    assert log.attributes["map.attribute"] == {"some.map.key": "some value"}
    assert log.severity_number == 10
    assert log.trace_id == "5b8efff798038103d269b633813fc60c"


def test_events_sample_keeps_event_name(samples):
    (log,) = records(samples / "otlp" / "spec-example-events.json")
    assert log.event_name == "browser.page_view"


def test_highlight_error_spans_and_exception_events(samples):
    spans = [r for r in records(samples / "otlp" / "highlight-fs.json") if isinstance(r, Span)]
    assert sum(s.is_error for s in spans) == 114
    assert sum(1 for s in spans for e in s.events if e.name == "exception") == 112


MINIMAL_SPAN = {
    "traceId": "5B8EFFF798038103D269B633813FC60C",
    "spanId": "EEE19B7EC3C1B174",
    "name": "GET /cart",
    "kind": "SPAN_KIND_CLIENT",
    "startTimeUnixNano": 1_000,
    "endTimeUnixNano": "3000",
    "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
    "attributes": [{"key": "http.method", "value": {"stringValue": "GET"}}],
    "unknownField": {"ignored": True},
}


def _request(container_key: str = "resourceSpans", scope_key: str = "scopeSpans", span=None) -> dict:
    return {
        container_key: [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
                scope_key: [{"spans": [span or MINIMAL_SPAN]}],
            }
        ]
    }


@pytest.mark.parametrize(
    "doc",
    [
        _request(),
        _request(scope_key="instrumentationLibrarySpans"),  # OTLP before 0.15
        _request(container_key="batches"),  # Tempo
        {"result": _request()},  # Jaeger API v3
    ],
    ids=["canonical", "instrumentationLibrarySpans", "batches", "result-wrapper"],
)
def test_legacy_and_wrapped_spellings(doc):
    (span,) = list(parse_request(doc))
    assert span.trace_id == "5b8efff798038103d269b633813fc60c"
    assert span.kind == "client"
    assert span.status_code == "error"
    assert span.status_message == "boom"
    assert (span.start_ns, span.end_ns) == (1000, 3000)
    assert span.service == "shop"
    assert span.attributes == {"http.method": "GET"}


def test_base64_ids_from_protobuf_json_mapping():
    span = dict(MINIMAL_SPAN, traceId="W47/95gDgQPSabYzgT/GDA==", spanId="7uGbfsPBsXQ=", parentSpanId="")
    (parsed,) = list(parse_request(_request(span=span)))
    assert parsed.trace_id == "5b8efff798038103d269b633813fc60c"
    assert parsed.span_id == "eee19b7ec3c1b174"
    assert parsed.parent_span_id is None


def test_protobuf_json_omits_zero_times():
    span = {k: v for k, v in MINIMAL_SPAN.items() if k not in ("startTimeUnixNano", "endTimeUnixNano")}
    (parsed,) = list(parse_request(_request(span=span)))
    assert (parsed.start_ns, parsed.end_ns) == (0, 0)


def test_bad_field_is_named_with_its_path():
    span = dict(MINIMAL_SPAN, startTimeUnixNano="yesterday")
    with pytest.raises(
        MalformedInputError, match=r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.startTimeUnixNano"
    ):
        list(parse_request(_request(span=span)))


def test_parser_does_not_mutate_its_input():
    doc = _request()
    before = copy.deepcopy(doc)
    list(parse_request(doc))
    assert doc == before


def test_json_lines_mix_traces_logs_and_metrics(tmp_path, samples):
    lines = [
        json.dumps(_request()),
        (samples / "otlp" / "spec-example-logs.json").read_text().replace("\n", ""),
        json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "a"}, {"name": "b"}]}]}]}),
        "",
    ]
    path = tmp_path / "collector.json"  # the file exporter's name says .json; content says JSON Lines
    path.write_text("\n".join(lines))
    with read_path(path) as parsed:
        assert parsed.format == "otlp-jsonl"
        kinds = Counter(type(r).__name__ for r in parsed.records)
    assert kinds == {"Span": 1, "LogRecord": 1, "SkippedRecords": 1}
    with read_path(path) as parsed:
        skipped = [r for r in parsed.records if isinstance(r, SkippedRecords)]
    assert skipped[0].count == 2


def test_json_lines_bad_line_is_named(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(_request()) + "\n" + '{"resourceSpans": [\n')
    with read_path(path) as parsed, pytest.raises(MalformedInputError, match="line 2"):
        list(parsed.records)


def test_gzip_and_bom_are_unwrapped(tmp_path):
    body = json.dumps(_request()).encode()
    gz = tmp_path / "export.json.gz"
    gz.write_bytes(gzip.compress(body))
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + body)
    for path in (gz, bom):
        assert len(records(path)) == 1


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (b"", MalformedInputError, "empty"),
        (b'{"resourceSpans": [{"scopeSpans": [', MalformedInputError, "truncated"),
        (b"\x00\x01binary", UnknownFormatError, "not JSON"),
        (b'{"hello": "world"}', UnknownFormatError, "keys hello"),
        (b'[{"traceId": "aaaaaaaaaaaaaaaa", "id": "b", "binaryAnnotations": []}]', UnsupportedFormatError, "Zipkin v1"),
    ],
)
def test_bad_files_fail_with_a_clear_message(tmp_path, content, error, message):
    path = tmp_path / "input.json"
    path.write_bytes(content)
    with pytest.raises(error, match=message):
        records(path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"kvlistValue": [{"key": "a", "value": {"intValue": "1"}}]}, {"a": 1}),  # bare list, no "values"
        ({"kvlistValue": [1]}, {}),
        ({"arrayValue": [{"stringValue": "x"}]}, ["x"]),
        ({"arrayValue": {"values": "nope"}}, []),
        ({"kvlistValue": None}, {}),
    ],
)
def test_odd_anyvalue_shapes_are_read_not_crashed_on(value, expected):
    span = dict(MINIMAL_SPAN, attributes=[{"key": "v", "value": value}])
    (parsed,) = list(parse_request(_request(span=span)))
    assert parsed.attributes["v"] == expected


def test_truncated_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.json.gz"
    path.write_bytes(gzip.compress(json.dumps(_request()).encode())[:15])
    with pytest.raises(MalformedInputError, match="gzip stream is corrupt or truncated"):
        records(path)


@pytest.mark.parametrize(
    ("end", "known"),
    [("3000", True), ("1000", True), ("0", False), (0, False), (None, False), ("500", False)],
    ids=["after the start", "at the start", "zero string", "zero", "absent", "before the start"],
)
@pytest.mark.parametrize("shape", ["canonical", "with events"])
def test_a_span_whose_end_was_not_recorded_says_so(end, known, shape):
    """End 0, absent, or before the start: no end was recorded (the store infers one from the children);
    the span's end reads as its start, never earlier."""
    span = {k: v for k, v in MINIMAL_SPAN.items() if k != "endTimeUnixNano"}
    if end is not None:
        span["endTimeUnixNano"] = end
    if shape == "with events":  # not the canonical shape: the general parser reads it
        span["events"] = [{"timeUnixNano": "1500", "name": "retry"}]
    (parsed,) = list(parse_request(_request(span=span)))
    assert parsed.end_known is known
    assert parsed.end_ns == (3000 if end == "3000" else 1000)
