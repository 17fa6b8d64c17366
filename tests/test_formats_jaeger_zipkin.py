"""Jaeger JSON and Zipkin v2 JSON: the public samples, parity with OTLP, and the quirks."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from mcp_sessions.errors import MalformedInputError, UnsupportedFormatError
from mcp_sessions.formats import jaeger, read_path, zipkin
from mcp_sessions.ingest import ingest_paths
from mcp_sessions.model import Record, SkippedRecords, Span
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite.queries import totals

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
JAEGER = SAMPLES / "jaeger"
ZIPKIN = SAMPLES / "zipkin"

# Spans each sample yields, and the format it is recognised as (by content, never by name).
EXPECTED = {
    "jaeger/jaeger-apiv3-GetTrace.json": ("otlp-json", 1),
    "jaeger/jaeger-query-otlp2jaeger-in.json": ("otlp-json", 2),
    "jaeger/jaeger-query-otlp2jaeger-out.json": ("jaeger-json", 2),
    "jaeger/jaeger-ui-otlp2jaeger-multi-in.jsonl": ("otlp-jsonl", 4),
    "jaeger/jaeger-ui-otlp2jaeger-multi-out.json": ("jaeger-json", 4),
    "jaeger/jaeger-ui-statistics-testTrace.json": ("jaeger-json", 11),
    "jaeger/jaeger-ui_01.json": ("jaeger-json", 5),
    "zipkin/ascend.json": ("zipkin-json", 8),
    "zipkin/envoy.json": ("zipkin-json", 1),
    "zipkin/messaging-kafka.json": ("zipkin-json", 28),
    "zipkin/messaging.json": ("zipkin-json", 4),
    "zipkin/messaging2.json": ("zipkin-json", 11),
    "zipkin/simple-db-p6.json": ("zipkin-json", 5),
    "zipkin/skew.json": ("zipkin-json", 4),
    "zipkin/yelp.json": ("zipkin-json", 16),
    "zipkin/zipkin2-client.json": ("zipkin-json", 1),
}


@pytest.fixture
def samples() -> Path:
    if not (JAEGER.is_dir() and ZIPKIN.is_dir()):
        pytest.skip(f"public Jaeger/Zipkin samples not found at {SAMPLES} (they live in ../shared/samples)")
    return SAMPLES


def read(path: Path) -> tuple[str, list[Record]]:
    with read_path(path) as parsed:
        return parsed.format, list(parsed.records)


def spans_of(path: Path) -> list[Span]:
    return [r for r in read(path)[1] if isinstance(r, Span)]


def by_id(spans: list[Span]) -> dict[str, Span]:
    return {s.span_id: s for s in spans}


@pytest.mark.parametrize(("name", "expected"), EXPECTED.items(), ids=list(EXPECTED))
def test_sample_format_and_span_count(samples, name, expected):
    fmt, records = read(samples / name)
    assert (fmt, sum(isinstance(r, Span) for r in records)) == expected
    assert not any(isinstance(r, SkippedRecords) for r in records)


def test_every_sample_file_parses(samples):
    """Files added to the folders later are parsed too, even before they get an expected count."""
    files = sorted(p for folder in (JAEGER, ZIPKIN) for p in folder.iterdir() if p.is_file())
    assert files
    for path in files:
        assert spans_of(path), path.name


def _shape(span: Span) -> tuple:
    return (span.trace_id, span.span_id, span.parent_span_id, span.name, span.kind, span.start_ns)


def test_jaeger_query_fixture_matches_its_otlp_input(samples):
    otlp = spans_of(JAEGER / "jaeger-query-otlp2jaeger-in.json")
    jaeger_spans = spans_of(JAEGER / "jaeger-query-otlp2jaeger-out.json")
    assert sorted((*_shape(s), s.end_ns) for s in otlp) == sorted((*_shape(s), s.end_ns) for s in jaeger_spans)
    for o, j in zip(otlp, jaeger_spans, strict=True):
        assert j.resource == o.resource == {"service.name": "telemetrygen"}
        assert j.scope == o.scope == "telemetrygen"
        assert o.attributes.items() <= j.attributes.items()  # Jaeger adds otel.scope.name
        assert "span.kind" not in j.attributes
        assert j.status_code == o.status_code == "unset"


def test_jaeger_ui_multi_fixture_matches_its_otlp_json_lines(samples):
    otlp = by_id(spans_of(JAEGER / "jaeger-ui-otlp2jaeger-multi-in.jsonl"))
    jaeger_spans = by_id(spans_of(JAEGER / "jaeger-ui-otlp2jaeger-multi-out.json"))
    assert otlp.keys() == jaeger_spans.keys()
    for span_id, o in otlp.items():
        j = jaeger_spans[span_id]
        assert _shape(j) == _shape(o)
        # Jaeger stores microseconds, so the OTLP end time loses its sub-microsecond part.
        assert o.end_ns - 1000 < j.end_ns <= o.end_ns
        assert j.scope == o.scope  # otel.library.name/version ↔ the OTLP scope
        assert j.resource == o.resource  # serviceName + process tags ↔ resource attributes


def test_jaeger_typed_tags_logs_references_and_processes(samples):
    spans = spans_of(JAEGER / "jaeger-ui_01.json")
    assert {s.trace_id for s in spans} == {"0" * 31 + "1"}  # 64-bit id padded to 32
    first, tagged, child, referencing, _ = spans
    assert [e.name for e in first.events] == ["some-event", "log"]
    assert first.events[1].attributes == {"x": "y"}
    assert first.events[0].time_ns == 1485467191639875000
    assert (first.start_ns, first.end_ns) == (1485467191639875000, 1485467191639880000)
    assert tagged.attributes == {
        "peer.service": "service-y",
        "peer.ipv4": 23456,
        "error": True,
        "temperature": 72.5,
        "javascript_limit": 9223372036854775222,  # int64 sent as a string
        "blob": "AAAwOQ==",
    }
    assert tagged.is_error
    assert (first.service, child.service) == ("service-x", "service-y")
    assert child.parent_span_id == "0000000000000002"
    # CHILD_OF in the same trace is the parent; the other trace's CHILD_OF and the FOLLOWS_FROM are links.
    assert referencing.parent_span_id == "0000000000000002"
    assert [(link.span_id, link.attributes["opentracing.ref_type"]) for link in referencing.links] == [
        ("00000000000000ff", "child_of"),
        ("0000000000000002", "follows_from"),
    ]


def test_jaeger_non_hex_ids_bool_string_error_and_follows_from(samples):
    spans = spans_of(JAEGER / "jaeger-ui-statistics-testTrace.json")
    ids = {s.span_id for s in spans}
    assert len(ids) == 11 and all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    roots = [s for s in spans if s.parent_span_id is None]
    assert len(roots) == 1
    assert all(s.parent_span_id in ids for s in spans if s is not roots[0])
    assert [s.name for s in spans if s.is_error] == ["op2"]  # {"type": "bool", "value": "true"}
    (consumer,) = [s for s in spans if s.kind == "consumer"]
    (producer,) = [s for s in spans if s.kind == "producer"]
    assert consumer.parent_span_id == producer.span_id
    assert [link.span_id for link in consumer.links] == [producer.span_id]
    assert {s.service for s in spans} == {"service1", "service2"}
    assert all(s.resource["hostname"] == "foobar.org" for s in spans)


def test_zipkin_keeps_every_span_reported(samples):
    for path in sorted(ZIPKIN.glob("*.json")):
        doc = json.loads(path.read_text())
        reported = len(doc) if isinstance(doc, list) else 1
        assert len(spans_of(path)) == reported, path.name


@pytest.mark.parametrize(("name", "span_id"), [("skew.json", "74280ae0c10d8062"), ("yelp.json", "7a778764a0d0b594")])
def test_zipkin_shared_span_keeps_both_halves(samples, name, span_id):
    halves = [s for s in spans_of(ZIPKIN / name) if s.span_id == span_id]
    assert sorted((s.shared, s.kind) for s in halves) == [(False, "client"), (True, "server")]
    assert halves[0].service != halves[1].service


def test_zipkin_error_tag_even_when_empty(samples):
    spans = spans_of(ZIPKIN / "messaging-kafka.json")
    errors = [s for s in spans if "error" in s.attributes]
    assert len(errors) == 3 and all(s.is_error for s in errors)
    assert sorted((s.attributes["error"], s.status_message or "") for s in errors) == [
        ("", ""),
        ("some error", "some error"),
        ("some error", "some error"),
    ]
    assert sum(s.is_error for s in spans) == 3


def test_zipkin_envoy_span_without_service_name_is_kept(samples):
    (span,) = spans_of(ZIPKIN / "envoy.json")
    assert span.service is None and "service.name" not in span.resource
    assert span.shared and span.kind == "server"
    assert span.attributes["http.status_code"] == "200"


def test_zipkin_ids_endpoints_annotations_and_times(samples):
    ascend = spans_of(ZIPKIN / "ascend.json")
    assert ascend[0].trace_id == "0000000000000000ef86c83c0a05a6d6"  # 64-bit trace id padded
    (client,) = spans_of(ZIPKIN / "zipkin2-client.json")
    assert client.trace_id == "4d1e00c0db9010db86154a4ba6e91385"
    assert (client.span_id, client.parent_span_id) == ("4d1e00c0db9010db", "86154a4ba6e91385")
    assert (client.start_ns, client.duration_ns) == (1472470996199000000, 207000000)
    assert [(e.name, e.time_ns) for e in client.events] == [("foo", 1472470996238000000), ("bar", 1472470996403000000)]
    assert client.service == "frontend"
    assert client.attributes["peer.service"] == "backend"
    assert client.attributes["http.path"] == "/api"


def test_store_holds_every_distinct_span(samples, tmp_path):
    """Identical records are stored once; records that only share ids (the same trace exported by
    Jaeger, which keeps microseconds and the scope as tags, and as OTLP) are all kept, and counted."""
    expected: set[str] = set()
    ids: set[tuple[str, str, bool]] = set()
    per_file: dict[str, int] = {}
    for folder in (JAEGER, ZIPKIN):
        for path in sorted(folder.iterdir()):
            spans = spans_of(path)
            per_file[str(path)] = len(spans)
            expected |= {json.dumps(dataclasses.asdict(s), sort_keys=True, default=str) for s in spans}
            ids |= {(s.trace_id, s.span_id, s.shared) for s in spans}
    with Store(tmp_path / "sessions.db") as store:
        results = list(ingest_paths(store, [str(JAEGER), str(ZIPKIN)]))
        assert [r.error for r in results if r.status != "stored"] == []
        assert {r.source: r.counts.spans_read for r in results} == per_file
        counts = totals(store.conn)
    assert counts["spans"] == len(expected) == sum(r.counts.spans_stored for r in results)
    assert sum(r.counts.spans_id_reused for r in results) == len(expected) - len(ids) > 0
    assert counts["traces"] == len({trace_id for trace_id, _, _ in ids})


# Synthetic documents for the shapes and failures the samples do not cover.

JAEGER_SPAN = {
    "traceID": "abc",
    "spanID": "def",
    "operationName": "GET /cart",
    "startTime": "1000",
    "duration": 5,
    "parentSpanID": "12",
    "tags": [
        {"key": "span.kind", "type": "string", "value": "CLIENT"},
        {"key": "otel.status_code", "type": "string", "value": "ERROR"},
        {"key": "otel.status_description", "type": "string", "value": "boom"},
        {"key": "otel.scope.name", "type": "string", "value": "lib"},
    ],
    "process": {"serviceName": "shop", "tags": [{"key": "host.name", "type": "string", "value": "h1"}]},
    "logs": [{"timestamp": 1002, "fields": [{"key": "message", "type": "string", "value": "retrying"}]}],
    "warnings": ["ignored"],
}


def test_jaeger_envelope_inline_process_parent_field_and_otel_status():
    doc = {"data": [{"traceID": "abc", "spans": [JAEGER_SPAN]}], "total": 0, "limit": 0, "offset": 0, "errors": None}
    assert jaeger.looks_like_jaeger(doc)
    before = copy.deepcopy(doc)
    (span,) = list(jaeger.parse(doc))
    assert doc == before
    assert (span.trace_id, span.span_id, span.parent_span_id) == ("0" * 29 + "abc", "0" * 13 + "def", "0" * 14 + "12")
    assert (span.kind, span.status_code, span.status_message) == ("client", "error", "boom")
    assert (span.start_ns, span.end_ns, span.scope) == (1_000_000, 1_005_000, "lib")
    assert span.attributes == {"otel.scope.name": "lib"}
    assert span.resource == {"service.name": "shop", "host.name": "h1"}
    assert [(e.name, e.time_ns, dict(e.attributes)) for e in span.events] == [
        ("retrying", 1_002_000, {"message": "retrying"})
    ]


def test_jaeger_bad_field_is_named_with_its_path():
    doc = {"data": [{"traceID": "abc", "spans": [dict(JAEGER_SPAN, startTime="yesterday")]}]}
    with pytest.raises(MalformedInputError, match=r"data\[0\]\.spans\[0\]\.startTime: expected an integer"):
        list(jaeger.parse(doc))


def test_jaeger_query_error_envelope_says_so():
    doc = {"data": [], "errors": [{"code": 404, "msg": "trace not found"}]}
    assert jaeger.looks_like_jaeger(doc)
    with pytest.raises(MalformedInputError, match="trace not found"):
        list(jaeger.parse(doc))


ZIPKIN_SPAN = {"traceId": "a", "id": "b", "name": "get", "timestamp": 10, "debug": True, "tags": {"error": "x"}}


def test_zipkin_single_span_list_of_traces_and_missing_duration():
    for doc in (ZIPKIN_SPAN, [ZIPKIN_SPAN], [[ZIPKIN_SPAN], [dict(ZIPKIN_SPAN, id="c")]]):
        assert zipkin.looks_like_zipkin(doc)
        spans = list(zipkin.parse(doc))
        assert spans[0].trace_id == "0" * 31 + "a"
        assert (spans[0].start_ns, spans[0].end_ns, spans[0].kind) == (10_000, 10_000, "unspecified")
        assert (spans[0].status_code, spans[0].status_message) == ("error", "x")
        assert spans[0].attributes["zipkin.debug"] is True
    assert len(list(zipkin.parse([[ZIPKIN_SPAN], [dict(ZIPKIN_SPAN, id="c")]]))) == 2


def test_zipkin_untimed_span_is_counted_not_placed_at_epoch():
    untimed = {k: v for k, v in ZIPKIN_SPAN.items() if k != "timestamp"}
    annotated = dict(untimed, id="c", annotations=[{"timestamp": 7, "value": "ws"}])
    records = list(zipkin.parse([untimed, annotated]))
    assert [r.start_ns for r in records if isinstance(r, Span)] == [7_000]
    assert records[-1] == SkippedRecords("zipkin span without timestamp", 1)


def test_zipkin_bad_field_is_named_with_its_path():
    with pytest.raises(MalformedInputError, match=r"\[1\]\.timestamp: expected an integer"):
        list(zipkin.parse([ZIPKIN_SPAN, dict(ZIPKIN_SPAN, timestamp="soon")]))


def test_zipkin_v1_is_named_not_misread(tmp_path):
    path = tmp_path / "v1.json"
    path.write_text(json.dumps([{"traceId": "a", "id": "b", "name": "get", "binaryAnnotations": []}]))
    with pytest.raises(UnsupportedFormatError, match="Zipkin v1"):
        read(path)


def test_detection_reads_content_not_file_name(tmp_path):
    path = tmp_path / "trace.txt"
    path.write_text(json.dumps({"traceID": "abc", "spans": [JAEGER_SPAN]}))
    assert read(path)[0] == "jaeger-json"
    path.write_text(json.dumps([ZIPKIN_SPAN]))
    assert read(path)[0] == "zipkin-json"


def test_a_span_without_duration_says_its_end_was_not_recorded():
    zipkin_spans = [
        {"traceId": "a" * 16, "id": "1" * 16, "name": "get", "timestamp": 1000, "duration": 5},
        {"traceId": "a" * 16, "id": "2" * 16, "parentId": "1" * 16, "name": "redirect", "timestamp": 1001},
    ]
    done, open_ = [s for s in zipkin.parse(zipkin_spans) if isinstance(s, Span)]
    assert (done.end_known, done.end_ns) == (True, 1_005_000)
    assert (open_.end_known, open_.end_ns) == (False, open_.start_ns)
    trace = {
        "traceID": "b" * 16,
        "spans": [
            {"traceID": "b" * 16, "spanID": "1" * 16, "operationName": "a", "startTime": 10, "duration": 3},
            {"traceID": "b" * 16, "spanID": "2" * 16, "operationName": "b", "startTime": 11},
        ],
        "processes": {},
    }
    ended, unended = jaeger.parse({"data": [trace]})
    assert (ended.end_known, ended.end_ns) == (True, 13_000)
    assert (unended.end_known, unended.end_ns) == (False, unended.start_ns)
