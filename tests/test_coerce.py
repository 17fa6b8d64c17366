import pytest

from mcp_sessions.errors import MalformedInputError
from mcp_sessions.formats.coerce import enum_value, normalize_id, to_int


@pytest.mark.parametrize(
    ("raw", "width", "expected"),
    [
        ("5B8EFFF798038103D269B633813FC60C", 32, "5b8efff798038103d269b633813fc60c"),
        ("W47/95gDgQPSabYzgT/GDA==", 32, "5b8efff798038103d269b633813fc60c"),  # protobuf JSON base64
        ("W47_95gDgQPSabYzgT_GDA", 32, "5b8efff798038103d269b633813fc60c"),  # url-safe, unpadded
        ("7uGbfsPBsXM=", 16, "eee19b7ec3c1b173"),
        ("d269b633813fc60c", 32, "0000000000000000d269b633813fc60c"),  # 64-bit Zipkin/Jaeger id
        ("abc", 16, "0000000000000abc"),
        (255, 16, "00000000000000ff"),
    ],
)
def test_ids_in_every_spelling_normalise_to_padded_lowercase_hex(raw, width, expected):
    assert normalize_id(raw, width, "traceId") == expected


def test_zero_and_empty_optional_ids_mean_no_parent():
    assert normalize_id("", 16, "parentSpanId", optional=True) is None
    assert normalize_id("0000000000000000", 16, "parentSpanId", optional=True) is None
    assert normalize_id("AAAAAAAAAAA=", 16, "parentSpanId", optional=True) is None


@pytest.mark.parametrize("raw", ["xyz", "a-b-c-d", "W47/95gDgQPSabYzgT/GDAAA"])
def test_base64_that_is_not_an_ids_width_is_rejected(raw):
    with pytest.raises(MalformedInputError, match="neither a hex id nor a base64 id"):
        normalize_id(raw, 32, "traceId")


def test_garbage_id_names_the_field():
    with pytest.raises(MalformedInputError, match=r"spans\[3\]\.spanId"):
        normalize_id("not an id!", 16, "spans[3].spanId")
    with pytest.raises(MalformedInputError, match="missing id"):
        normalize_id(None, 16, "spanId")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1544712660000000000", 1544712660000000000), (12, 12), (1.5e3, 1500), ("1.5e3", 1500), (None, None)],
)
def test_int64_as_string_or_number(raw, expected):
    assert to_int(raw, "x") == expected


@pytest.mark.parametrize("raw", ["twelve", True, float("nan"), [1]])
def test_bad_integers_are_rejected_with_the_field(raw):
    with pytest.raises(MalformedInputError, match="startTimeUnixNano"):
        to_int(raw, "startTimeUnixNano")


@pytest.mark.parametrize("raw", [2, "2", "SPAN_KIND_SERVER", "server", "Server"])
def test_enum_by_number_or_name(raw):
    assert enum_value(raw, {"server": "server"}, {2: "server"}, "span_kind_", "kind", "unspecified") == "server"


def test_unknown_enum_falls_back_to_default():
    assert enum_value(9, {}, {2: "server"}, "span_kind_", "kind", "unspecified") == "unspecified"


# ---- the bounds every stored value meets ----------------------------------------------------------

from mcp_sessions.formats.coerce import (  # noqa: E402
    MAX_ATTRIBUTE_DEPTH,
    MAX_ATTRIBUTE_VALUES,
    MAX_TIME_NS,
    attributes_problem,
    checked_records,
    to_time_ns,
)
from mcp_sessions.model import LogRecord, SkippedRecords, Span  # noqa: E402


@pytest.mark.parametrize("raw", [2**63, -(2**63) - 1, "18446744073709551615", 1e30, "9" * 41])
def test_integers_beyond_64_bits_are_refused_naming_the_field(raw):
    with pytest.raises(MalformedInputError, match=r"^spans\[3\]\.x[ :]"):
        to_int(raw, "spans[3].x")


@pytest.mark.parametrize("raw", ["-1", MAX_TIME_NS + 1, "18446744073709551615"])
def test_times_outside_the_stored_range_are_refused(raw):
    with pytest.raises(MalformedInputError, match=r"endTimeUnixNano .* is out of range"):
        to_time_ns(raw, "spans[0].endTimeUnixNano")


def test_times_inside_the_range_pass_in_every_spelling():
    assert to_time_ns("1700000000000000000", "t") == 1_700_000_000_000_000_000
    assert to_time_ns(0, "t") == 0 and to_time_ns(MAX_TIME_NS, "t") == MAX_TIME_NS
    assert to_time_ns(None, "t", default=5) == 5


def nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_attribute_bounds():
    assert attributes_problem({"a": "b", "n": 2**63 - 1, "f": 1.5, "l": [1, {"k": "v"}]}, "attributes") is None
    assert attributes_problem({"deep": nested(MAX_ATTRIBUTE_DEPTH - 1)}, "attributes") is None
    deep = attributes_problem({"deep": nested(MAX_ATTRIBUTE_DEPTH + 1)}, "attributes")
    assert deep and deep.startswith("attributes.deep") and "nests more than" in deep
    wide = attributes_problem({f"k{i}": i for i in range(MAX_ATTRIBUTE_VALUES + 1)}, "attributes")
    assert wide == f"attributes holds more than {MAX_ATTRIBUTE_VALUES} values"
    big = attributes_problem({"x": {"y": [1, 2**64]}}, "attributes")
    assert big == "attributes.x.y[1] 18446744073709551616 is out of range (more than 64 bits)"


def span(span_id: str, **fields: object) -> Span:
    base: dict = dict(trace_id="a" * 32, span_id=span_id, parent_span_id=None, name="s", kind="internal")
    return Span(**{**base, "start_ns": 1, "end_ns": 2, **fields})


def test_checked_records_fail_a_file_or_isolate_for_a_receiver():
    records = [span("1" * 16), span("2" * 16, end_ns=2**64 - 1), span("3" * 16, attributes={"d": nested(40)})]
    logs = [LogRecord(time_ns=-5, observed_time_ns=None, severity_number=None, severity_text=None, body="x")]
    before = [repr(r) for r in records]
    with pytest.raises(MalformedInputError, match=r"span 2 \(trace a+, span 2+\): end time 18446744073709551615"):
        list(checked_records(records))
    isolated = list(checked_records(records + logs, isolate=True))
    assert isolated[0] is records[0]
    assert [type(r) for r in isolated] == [Span, SkippedRecords, SkippedRecords, SkippedRecords]
    assert [r.kind for r in isolated[1:]] == ["rejected span", "rejected span", "rejected log"]
    assert "log record 1: time -5 is out of range" in isolated[3].reason
    assert [repr(r) for r in records] == before  # the input is unchanged


# ---- kept within bounds: values past the count dropped, long strings cut, both counted ------------------

from mcp_sessions.formats.coerce import (  # noqa: E402
    CUT_VALUES,
    DROPPED_VALUES,
    MAX_STORED_CHARS,
    bounded_record,
)
from mcp_sessions.model import Event, SpanEvent  # noqa: E402


def _wide_span(n: int) -> Span:
    attributes = {f"attr.{i}": f"value {i}" for i in range(n)}
    return Span("ab" * 16, "01" * 8, None, "op", "server", 1, 2, attributes=attributes)


def test_a_span_past_the_value_count_is_kept_with_the_rest_dropped_and_counted():
    out = list(checked_records([_wide_span(100_000)]))
    skipped = [r for r in out if isinstance(r, SkippedRecords)]
    (span,) = [r for r in out if isinstance(r, Span)]
    assert [(s.kind, s.count) for s in skipped] == [(DROPPED_VALUES, 100_000 - MAX_ATTRIBUTE_VALUES)]
    assert list(span.attributes) == [f"attr.{i}" for i in range(MAX_ATTRIBUTE_VALUES)]  # the first, in order
    assert attributes_problem(span.attributes, "attributes") is None
    nested = Span("ab" * 16, "02" * 8, None, "op", "server", 1, 2, attributes={"a": "x", "big": list(range(20_000))})
    note, kept_nested = checked_records([nested])
    assert isinstance(note, SkippedRecords) and note.count == 20_001  # the list and its values
    assert isinstance(kept_nested, Span) and kept_nested.attributes == {"a": "x"}


def test_long_strings_are_cut_with_the_cut_said_and_counted_and_short_records_pass_untouched():
    url = "https://shop.test/?q=" + "a" * (1 << 20)
    span = Span(
        "ab" * 16,
        "01" * 8,
        None,
        "x" * (MAX_STORED_CHARS + 1),
        "server",
        1,
        2,
        attributes={"url.full": url, "k" * 20_000: "v", "ok": ["short", "y" * 20_000]},
        events=(SpanEvent(1, "exception", {"exception.stacktrace": "s" * 40_000}),),
    )
    bounded, cuts = bounded_record(span)
    assert cuts == 5  # the name, the URL, a key, a value in a list, the event's stack
    values = [bounded.name, bounded.attributes["url.full"], bounded.attributes["ok"][1]]
    values += [bounded.events[0].attributes["exception.stacktrace"], next(k for k in bounded.attributes if k[0] == "k")]
    assert all(len(v) <= MAX_STORED_CHARS and "…[cut from " in v for v in values)
    assert bounded.attributes["url.full"].startswith("https://shop.test/?q=aaa")
    assert bounded.attributes["url.full"].endswith(f"…[cut from {len(url):,} chars]")
    short = _wide_span(5)
    assert bounded_record(short) == (short, 0) and bounded_record(short)[0] is short
    event = Event("har", 0, 1, "network", "GET /", url=url, detail={"request_headers": {"x": "h" * 30_000}})
    bounded_event, cuts = bounded_record(event)
    assert cuts == 2 and len(bounded_event.url or "") == MAX_STORED_CHARS


def test_the_ingest_summary_names_dropped_values_and_cut_strings(tmp_path):
    import json

    from mcp_sessions.ingest import ingest_file
    from mcp_sessions.render.ingest import ingest_notes
    from mcp_sessions.store import Store

    attributes = [{"key": f"a{i}", "value": {"stringValue": "v"}} for i in range(10_005)]
    attributes.append({"key": "url.full", "value": {"stringValue": "https://x.test/" + "p" * 50_000}})
    span = {
        "traceId": "ab" * 16,
        "spanId": "01" * 8,
        "name": "op",
        "kind": 2,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000100000000",
        "attributes": attributes,
    }
    doc = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]}
    path = tmp_path / "wide.json"
    path.write_text(json.dumps(doc))
    with Store(tmp_path / "s.db") as store:
        result = ingest_file(store, path)
    assert result.status == "stored" and result.counts.spans_stored == 1
    assert result.counts.skipped == {DROPPED_VALUES: 6}  # the URL came after the 10,000th value: dropped too
    notes = " ".join(ingest_notes(result.counts))
    assert "6 attribute values past 10,000 on one record dropped" in notes
    attributes.insert(0, attributes.pop())  # the long URL first: kept, and cut
    path.write_text(json.dumps(doc))
    with Store(tmp_path / "t.db") as store:
        result = ingest_file(store, path)
    assert result.counts.skipped == {DROPPED_VALUES: 6, CUT_VALUES: 1}
    assert "1 value longer than 16,384 chars cut" in " ".join(ingest_notes(result.counts))
