"""The ingest fast paths give exactly what the general code gives.

Ingest reads canonical OTLP spans, promotes attributes and applies the text rules through
shortcuts (see otlp_json._canonical_span, semconv.pick, redact.redact_text's memo and
RedactionReport.may_hold_known). Each test here holds a shortcut against the general
path it replaces, on real recordings and on generated or mutated input.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import itertools
import json
import string
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_sessions import semconv
from mcp_sessions.config import SESSION_KEYS, USER_KEYS
from mcp_sessions.errors import MalformedInputError
from mcp_sessions.formats import otlp_json, read_path
from mcp_sessions.formats.coerce import SPAN_ID_HEX, TRACE_ID_HEX, normalize_id
from mcp_sessions.model import Span, SpanEvent
from mcp_sessions.redact import MASK, RedactionReport, redact_span, redact_text, rules_from_config, text_rules
from mcp_sessions.redact_detect import whole_token
from mcp_sessions.semconv import first

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHOP = ROOT / "fixtures" / "recordings" / "otlp" / "sdk-shop.jsonl"


def _raw_spans() -> list[tuple[dict[str, Any], dict[str, Any], str | None]]:
    """(raw span, parsed resource, scope) for every span of the fixture shop's export."""
    out = []
    for line in SHOP.read_text().splitlines():
        for container in json.loads(line).get("resourceSpans", ()):
            resource = otlp_json.attributes(container["resource"].get("attributes"), "resource")
            for scope_spans in container["scopeSpans"]:
                for raw in scope_spans["spans"]:
                    out.append((raw, resource, "scope"))
    return out


RAW_SPANS = _raw_spans()


def _checked(raw: Any, resource: dict[str, Any]) -> Span | MalformedInputError:
    try:
        return otlp_json._span(raw, resource, "scope", "spans[0]")
    except MalformedInputError as exc:
        return exc


def test_the_fast_path_reads_every_canonical_span_of_the_fixture_exactly():
    fast = [otlp_json._canonical_span(raw, resource, scope) for raw, resource, scope in RAW_SPANS]
    assert sum(span is not None for span in fast) >= 0.8 * len(RAW_SPANS)  # the shortcut is the common path
    for span, (raw, resource, _) in zip(fast, RAW_SPANS, strict=True):
        if span is not None:
            assert span == _checked(raw, resource)


odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10**20),
    st.floats(allow_nan=False),
    st.sampled_from(["", " 12 ", "1.5e3", "SPAN_KIND_SERVER", "server", "2", "STATUS_CODE_ERROR", "0" * 16]),
    st.sampled_from(["W47/95gDgQPSabYzgT/GDA==", "7uGbfsPBsXQ=", "AAAAAAAAAAA=", "5B8EFFF798038103D269B633813FC60C"]),
    st.text(max_size=30),
    st.just([]),
    st.just({}),
    st.just([{"key": "a", "value": {"intValue": "x"}}]),
    st.sampled_from([{"code": 2, "message": ""}, {"message": 0}, {"code": "STATUS_CODE_ERROR", "message": "boom"}]),
)
fields = st.sampled_from(
    [
        "traceId",
        "spanId",
        "parentSpanId",
        "name",
        "kind",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "status",
        "attributes",
        "events",
        "links",
    ]
)


@FUZZ
@given(st.integers(0, len(RAW_SPANS) - 1), st.lists(st.tuples(fields, odd_values), max_size=3), st.booleans())
def test_mutated_spans_read_alike_or_go_the_checked_way(index, changes, status_code):
    raw, resource, _ = RAW_SPANS[index]
    raw = copy.deepcopy(raw)
    for field, value in changes:
        raw[field] = value
    if status_code and isinstance(raw.get("status"), dict):
        raw["status"]["code"] = changes[0][1] if changes else 2
    fast = otlp_json._canonical_span(raw, resource, "scope")
    if fast is not None:
        assert fast == _checked(raw, resource)


@FUZZ
@given(
    st.one_of(
        st.binary(min_size=16, max_size=16).map(lambda b: base64.b64encode(b).decode()),
        st.binary(min_size=8, max_size=8).map(lambda b: base64.b64encode(b).decode()),
        st.binary(min_size=8, max_size=16).map(lambda b: b.hex()),
        st.binary(min_size=8, max_size=16).map(lambda b: b.hex().upper()),
        st.text(alphabet=string.ascii_letters + string.digits + "+/=-_ ", max_size=26),
    ),
    st.sampled_from([TRACE_ID_HEX, SPAN_ID_HEX]),
)
def test_ids_map_as_normalize_id_maps_them(value, width):
    try:
        expected: str | type[MalformedInputError] = normalize_id(value, width, "id") or ""
    except MalformedInputError:
        expected = MalformedInputError
    try:
        got: str | type[MalformedInputError] = otlp_json._hex_id(value, width)
    except MalformedInputError:
        got = MalformedInputError
    assert got == expected


def reference_promote(span: Span) -> tuple[Any, ...]:
    """promote() as it read before `pick`: `first` over the span's whole attribute mapping (the span's own code
    location when it names a function or a file)."""
    attrs = span.attributes
    exception = next((e.attributes for e in span.events if e.name == "exception"), None) or {}
    own = first(attrs, "code.function.name", "code.function") or first(attrs, "code.file.path", "code.filepath")
    code_source: Mapping[str, Any] = attrs if own else exception
    function = first(code_source, "code.function.name", "code.function")
    namespace = code_source.get("code.namespace")
    if function and namespace and "." not in str(function):
        function = f"{namespace}.{function}"
    text, number = semconv._str_or_none, semconv._int_or_none
    full = first(attrs, "url.full", "http.url")
    path = first(attrs, "http.target", "url.path")
    url = str(full) if full else None
    if not full and path:
        query = attrs.get("url.query")
        if query and "?" not in str(path):
            path = f"{path}?{query}"
        host = first(attrs, "server.address", "http.host", "net.host.name")
        scheme = first(attrs, "url.scheme", "http.scheme")
        url = str(path)
        if host and scheme:
            port = first(attrs, "server.port", "net.host.port")
            authority = f"{host}:{port}" if port and ":" not in str(host) and str(port) not in ("80", "443") else host
            url = f"{scheme}://{authority}{path}"
    return (
        text(reference_session(attrs) or first(span.resource, *SESSION_KEYS)),
        text(first(attrs, *USER_KEYS) or first(span.resource, *USER_KEYS)),
        text(first(attrs, "http.request.method", "http.method")),
        text(first(attrs, "http.route")),
        number(first(attrs, "http.response.status_code", "http.status_code")),
        url,
        text(first(attrs, "db.system.name", "db.system")),
        text(first(attrs, "db.query.text", "db.statement")),
        text(first(exception, "exception.type") or first(attrs, "exception.type")),
        text(first(exception, "exception.message") or first(attrs, "exception.message")),
        text(function),
        text(first(code_source, "code.file.path", "code.filepath")),
        number(first(code_source, "code.line.number", "code.lineno")),
    )


def reference_session(attrs: dict) -> object:
    """The span's own session key, else a baggage `session.id`, else a session header (semconv._session_of)."""
    found = first(attrs, *SESSION_KEYS)
    header = attrs.get("http.request.header.baggage")
    header = header[0] if isinstance(header, list) and header else header
    if not found and isinstance(header, str) and header.strip():
        entries = dict(m.split(";")[0].strip().partition("=")[::2] for m in header.split(",") if "=" in m)
        found = next((entries[k] for k in SESSION_KEYS if entries.get(k)), None)
    value = first(attrs, "http.request.header.x-session-id", "http.request.header.x_session_id")
    value = value[0] if isinstance(value, list) and value else value
    if not found and isinstance(value, str) and value.strip():
        found = value.strip()
    return found


attribute_names = st.sampled_from([*semconv._MEANING, "other", "http.request.header.x"])
attribute_values = st.one_of(
    st.none(),
    st.just(""),
    st.just(0),
    st.just(False),
    st.integers(-1, 500),
    st.sampled_from(["a.b", "x", "80", "/p?q"]),
)
attribute_maps = st.dictionaries(attribute_names, attribute_values, max_size=12)


@FUZZ
@given(attribute_maps, attribute_maps, st.none() | attribute_maps)
def test_promote_reads_what_first_reads(attributes, resource, exception):
    events = () if exception is None else (SpanEvent(1, "exception", exception),)
    span = Span("a" * 32, "b" * 16, None, "n", "server", 1, 2, attributes=attributes, resource=resource, events=events)
    assert tuple(semconv.promote(span)) == reference_promote(span)


@pytest.mark.parametrize("meaning", list(semconv.SPELLINGS))
def test_promote_takes_the_first_spelling_present_in_every_combination(meaning):
    keys = semconv.SPELLINGS[meaning][:4]
    shapes = [None, "", 0, "v"]  # absent, empty, falsy but present, a value
    for values in itertools.product(shapes, repeat=len(keys)):
        attributes = {
            k: f"{v}{i}" if v == "v" else v for i, (k, v) in enumerate(zip(keys, values, strict=True)) if v is not None
        }
        for other in ({}, {k: "other" for k in keys}):  # the resource, and the exception event's attributes
            span = Span("a" * 32, "b" * 16, None, "n", "server", 1, 2, attributes=attributes, resource=other)
            assert tuple(semconv.promote(span)) == reference_promote(span)
            with_event = Span(
                "a" * 32,
                "b" * 16,
                None,
                "n",
                "server",
                1,
                2,
                attributes=attributes,
                events=(SpanEvent(1, "exception", other),),
            )
            assert tuple(semconv.promote(with_event)) == reference_promote(with_event)


def test_promote_reads_the_fixture_spans_as_first_does():
    with read_path(SHOP) as parsed:
        spans = [r for r in parsed.records if isinstance(r, Span)]
    assert spans
    for span in spans:
        assert tuple(semconv.promote(span)) == reference_promote(span)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    return []


def _fixture_strings() -> list[str]:
    """Every string of every fixture recording (the planted secrets among them) and some near misses."""
    texts: set[str] = set()
    for path in sorted((ROOT / "fixtures").glob("recordings*/**/*")):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".har"):
            for line in path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):  # a whole-document file: its lines are not JSON
                    texts.update(_strings(json.loads(line)))
    near = [
        "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl",
        "Bearer abcdefgh1234",
        "ſk Baſic abcdefghijk",
        "4242 4242 4242 4242",
        "a=b&token=x&api_key=y",
        '{"token": "x"}',
    ]
    return sorted(texts | set(near))


CONFIG = rules_from_config(
    {
        "keys": {"mask": ["ssn"], "mask_containing": ["passcode"], "keep": ["token_count"]},
        "patterns": [
            {"name": "employee_id", "regex": r"EMP-\d{4}"},
            {"name": "ticket", "regex": "t-\\d+", "ignore_case": True},
        ],
    }
)


@pytest.mark.parametrize("rules", [None, CONFIG], ids=["built-in rules", "configured rules"])
def test_memoised_text_rules_mask_and_count_as_the_rules_do(rules):
    texts = _fixture_strings()
    assert any("PLANTED" in t for t in texts)
    report = RedactionReport() if rules is None else RedactionReport(rules)
    first_pass = [redact_text(t, report) for t in texts]  # fills the memo
    counts = dict(report.counts)
    expected: Counter[str] = Counter()
    for text in texts:
        for rule, n in text_rules(text, report.rules)[1]:
            expected[rule] += n
    assert counts == dict(expected)
    assert max(n for text in texts for _, n in text_rules(text, report.rules)[1]) > 1  # a text masked twice
    second_pass = [redact_text(t, report) for t in texts]  # served from it
    assert second_pass == first_pass
    assert dict(report.counts) == {rule: 2 * n for rule, n in counts.items()}
    for text, masked in zip(texts, first_pass, strict=True):
        assert masked == text_rules(text, report.rules)[0]
    assert counts.get("jwt") and counts.get("bearer") and counts.get("card_number")


@FUZZ
@given(
    st.lists(st.text(alphabet="abcdef123 =;", min_size=6, max_size=12), min_size=17, max_size=40),
    st.text(alphabet="abcdef123 =;[]", max_size=30),
    st.text(alphabet="abcdef123 =;[]", max_size=30),
    st.integers(0, 39),
    st.booleans(),
)
def test_known_value_heads_never_miss_a_known_value(values, before, after, index, embed):
    report = RedactionReport()
    for value in values:
        report.remember(value)
    text = before + (values[index % len(values)] if embed else "") + after
    # Known values are masked as whole tokens: no letter or digit glued to either end.
    if any(whole_token(value).search(text) for value in report.known):
        assert report.may_hold_known(text)
    if embed and not before[-1:].isalnum():
        assert report.may_hold_known(text)


def test_a_span_nothing_masks_passes_through_and_a_masked_one_is_rebuilt():
    report = RedactionReport()
    clean = Span("a" * 32, "b" * 16, None, "GET /", "server", 1, 2, attributes={"http.method": "GET", "n": 3})
    assert redact_span(clean, report) is clean
    secret = Span("a" * 32, "c" * 16, None, "GET /", "server", 1, 2, attributes={"auth_token": "abcdefgh"})
    masked = redact_span(secret, report)
    assert masked.attributes == {"auth_token": MASK}
    assert (masked.trace_id, masked.span_id, masked.name) == (secret.trace_id, secret.span_id, secret.name)
