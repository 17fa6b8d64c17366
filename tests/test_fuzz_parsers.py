"""Property tests: every parser reads or rejects arbitrary and mutated input with a clear error.

Anything other than records or an InputError (a crash, a hang, a TypeError) is a bug.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_sessions.errors import InputError
from mcp_sessions.formats import jaeger, otlp_json, otlp_proto, read_path, zipkin

FUZZ = settings(max_examples=150, deadline=2_000, suppress_health_check=[HealthCheck.too_slow])
ROOT = Path(__file__).resolve().parents[1]
SEEDS = [
    json.loads(line)
    for line in (ROOT / "fixtures" / "recordings" / "otlp" / "sdk-shop.jsonl").read_text().splitlines()
    if line.strip()
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)
otlp_keys = st.sampled_from(
    [
        "resourceSpans",
        "scopeSpans",
        "spans",
        "traceId",
        "spanId",
        "parentSpanId",
        "name",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "attributes",
        "events",
        "links",
        "status",
        "kind",
        "resource",
        "key",
        "value",
        "stringValue",
        "intValue",
        "resourceLogs",
        "scopeLogs",
        "logRecords",
        "data",
        "traceID",
        "spanID",
        "references",
        "id",
        "timestamp",
        "duration",
        "localEndpoint",
        "tags",
        "annotations",
        "processes",
    ]
)
shaped = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(otlp_keys, children, max_size=5),
    max_leaves=30,
)


def consume(parse: Any, doc: Any) -> None:
    with contextlib.suppress(InputError):
        list(parse(doc))


@FUZZ
@given(st.one_of(json_values, shaped))
def test_otlp_json_reads_or_rejects(doc):
    consume(otlp_json.parse_request, doc)


@FUZZ
@given(st.one_of(json_values, shaped))
def test_jaeger_reads_or_rejects(doc):
    if jaeger.looks_like_jaeger(doc):
        consume(jaeger.parse, doc)


@FUZZ
@given(st.one_of(json_values, shaped))
def test_zipkin_reads_or_rejects(doc):
    if zipkin.looks_like_zipkin(doc):
        consume(zipkin.parse, doc)


@FUZZ
@given(st.binary(max_size=400))
def test_protobuf_reads_or_rejects_bytes(data):
    for parse in (otlp_proto.traces_from_bytes, otlp_proto.logs_from_bytes, otlp_proto.metrics_from_bytes):
        consume(parse, data)


def _mutate(value: Any, path: list[Any], replacement: Any) -> Any:
    if not path:
        return replacement
    head, *rest = path
    if isinstance(value, dict) and head in value:
        return {**value, head: _mutate(value[head], rest, replacement)}
    if isinstance(value, list) and isinstance(head, int) and head < len(value):
        return [*value[:head], _mutate(value[head], rest, replacement), *value[head + 1 :]]
    return value


def _paths(value: Any, prefix: list[Any] | None = None) -> list[list[Any]]:
    prefix = prefix or []
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, [*prefix, k])
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            out += _paths(v, [*prefix, i])
    return out


@FUZZ
@given(st.data())
def test_mutated_real_exports_read_or_reject(data):
    seed = data.draw(st.sampled_from(SEEDS))
    path = data.draw(st.sampled_from(_paths(seed)))
    doc = _mutate(seed, path, data.draw(st.one_of(json_values, shaped)))
    consume(otlp_json.parse_request, doc)


@settings(max_examples=80, deadline=3_000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_read_path_on_arbitrary_files(content):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input"
        path.write_bytes(content)
        with contextlib.suppress(InputError), read_path(path) as parsed:
            list(parsed.records)


@settings(max_examples=60, deadline=3_000, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=1, max_value=2000), st.binary(min_size=1, max_size=8))
def test_truncated_and_corrupted_real_files(cut, noise):
    body = (ROOT / "fixtures" / "recordings" / "otlp" / "sdk-shop.jsonl").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        for variant in (body[:cut], body[:cut] + noise + body[cut + len(noise) :]):
            path = Path(tmp) / "input.json"
            path.write_bytes(variant)
            with contextlib.suppress(InputError), read_path(path) as parsed:
                list(parsed.records)
