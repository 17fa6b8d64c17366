"""Structured content: the same facts as the markdown, typed, for scripts and tests.

These pydantic models are the tools' published output schemas. Every one derives from
`Bounded`, so every recorded string placed in structured content (a URL, a span name, a
message, an attribute value, a dictionary key) is cut at FIELD_CHARS when it is dumped, the
cut said in the value itself (`…[cut from 20,972,500 chars]`), like the text's `quote`.
A field typed `Whole` (a drafted test file: a cut one is a broken one) is kept whole.

`structured` dumps a model within a budget like the text's (STRUCTURED_CHARS, twice the
largest text answer): when the dump is larger, every string is cut shorter (halving the
limit, down to MIN_FIELD_CHARS) until it fits. The rows themselves are already as many as
the text shows.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    SerializerFunctionWrapHandler,
    field_serializer,
)

from mcp_sessions.config import CHARS_PER_TOKEN, MAX_BUDGET_TOKENS
from mcp_sessions.cuts import cut_text

FIELD_CHARS = 2_000
MIN_FIELD_CHARS = 120
STRUCTURED_CHARS = 2 * MAX_BUDGET_TOKENS * CHARS_PER_TOKEN
# Each model builds its validator when first used, not when the module loads: start-up reads the
# published schemas from tools/output_schemas.json and needs none of them built.
DEFERRED = ConfigDict(defer_build=True)


class _WholeText:
    """Marks a string field that is ours and kept whole (see `Whole`)."""


Whole = Annotated[str, _WholeText()]


def cut(text: str, limit: int = FIELD_CHARS) -> str:
    """`text`, or its start and `…[cut from N chars]` within `limit` characters (`cuts.cut_text`)."""
    return cut_text(text, limit)


def _bounded(value: Any, limit: int) -> Any:
    """Every string in a dumped value (keys too) through `cut`; dumped models were cut by their own serializer."""
    kind = type(value)
    if kind is str:
        return value if len(value) <= limit else cut(value, limit)
    if kind is list:
        return [_bounded(v, limit) for v in value]
    if kind is dict:
        return {_bounded(k, limit): _bounded(v, limit) for k, v in value.items()}
    return value


class Bounded(BaseModel):
    """An output model whose every string field is bounded when dumped (the module docstring)."""

    model_config = DEFERRED

    @field_serializer("*", mode="wrap")
    def _bound(self, value: Any, handler: SerializerFunctionWrapHandler, info: FieldSerializationInfo) -> Any:
        out = handler(value)
        if isinstance(value, BaseModel) or (isinstance(value, list) and value and isinstance(value[0], BaseModel)):
            return out  # dumped by its own serializer
        field = type(self).model_fields.get(info.field_name)
        if field is not None and any(isinstance(m, _WholeText) for m in field.metadata):
            return out
        context = info.context
        return _bounded(out, context.get("field_chars", FIELD_CHARS) if isinstance(context, dict) else FIELD_CHARS)


def structured(model: BaseModel, budget: int = STRUCTURED_CHARS) -> dict[str, Any]:
    """`model` dumped as JSON values within `budget` characters of JSON where cutting strings can do it."""
    limit = FIELD_CHARS
    while True:
        dumped = model.model_dump(mode="json", context={"field_chars": limit})
        if limit <= MIN_FIELD_CHARS or len(orjson.dumps(dumped)) <= budget:
            return dumped
        limit = max(MIN_FIELD_CHARS, limit // 2)


class SessionItem(Bounded):
    session_id: str
    user_id: str | None
    service: str | None
    services: list[str]
    sources: list[str]
    start: str = Field(description="ISO 8601 UTC")
    duration_ms: float
    first_url: str | None
    trace_count: int
    span_count: int
    error_count: int
    log_count: int


class SessionList(Bounded):
    sessions: list[SessionItem]
    total: int = Field(description="sessions matching the filters")
    shown: int
    next_cursor: str | None = Field(description="pass as `cursor` (with the same filters and sort) for more")
    unsessioned_traces: int = Field(description="traces that carry no session key; see list_traces")


class PatternItem(Bounded):
    kind: str = Field(description="n_plus_one | duplicate_calls | sequential_calls | over_fetching")
    fingerprint: str
    service: str | None
    count: int
    total_ms: float
    impact_ms: float
    trace_id: str | None
    parent_span_id: str | None
    span_ids: list[str]
    example: str | None
    code_location: str | None


class TracePatternMark(Bounded):
    kind: str = Field(description="n_plus_one | duplicate_calls | sequential_calls")
    fingerprint: str
    service: str | None
    count: int = Field(description="calls involved")
    impact_ms: float
    parent_span_id: str | None


class TraceItem(Bounded):
    trace_id: str
    session_id: str | None
    root_span_id: str | None
    root_service: str | None
    root_name: str | None
    http_method: str | None
    http_route: str | None
    http_status: int | None
    start: str
    duration_ms: float
    span_count: int
    error_count: int
    services: list[str]
    patterns: list[TracePatternMark] = Field(
        default_factory=list, description="N+1, duplicate and sequential calls found in the trace at ingest"
    )


class TraceList(Bounded):
    traces: list[TraceItem]
    total: int
    shown: int
    next_cursor: str | None


class HiddenGroup(Bounded):
    name: str
    service: str | None
    count: int
    total_ms: float
    errors: int


class SpanNode(Bounded):
    span_id: str
    parent_span_id: str | None
    depth: int
    name: str
    service: str | None
    kind: str
    offset_ms: float = Field(description="start relative to the trace start, as recorded")
    duration_ms: float = Field(description="as recorded; where no end was recorded, up to the end its children imply")
    self_ms: float
    status: str
    error: str | None = Field(description="status message or exception, truncated")
    http_status: int | None
    hidden_children: list[HiddenGroup]
    target: str | None = Field(None, description="what the span called: method, host and path; statement; destination")
    end_recorded: bool = Field(
        default=True, description="false: no end was recorded, duration_ms is inferred from children"
    )
    stream: bool = Field(default=False, description="a long-lived stream (RPC stream, SSE, websocket): not slow work")
    after_root_ms: float = Field(default=0.0, description="time the span ran after its root had answered")


class TraceView(Bounded):
    trace: TraceItem
    focus_span_id: str | None
    spans: list[SpanNode]
    total_spans: int = Field(description="spans in the trace (or under the focused span)")
    shown_spans: int
    error_spans: int
    log_count: int
    truncated: bool
    patterns: list[PatternItem] = Field(
        default_factory=list, description="N+1, duplicate and sequential calls in the trace (or under the focus)"
    )
    shared_ids: int = Field(0, description="spans stored beside a different record with the same span id")
    detail_call: str | None = Field(None, description="the get_span call for a span shown (any span id works alike)")


class IngestedFile(Bounded):
    source: str
    status: str = Field(description="stored, unchanged (already ingested) or failed")
    format: str | None
    spans: int
    logs: int
    duplicates: int = Field(0, description="records identical to one already read: stored once")
    spans_id_reused: int = Field(0, description="spans kept beside a different record with the same trace and span id")
    records_refused: int = Field(0, description="records under a session or user erased by `forget`: not stored")
    error: str | None


class IngestReport(Bounded):
    files: list[IngestedFile]
    stored: int
    unchanged: int
    failed: int
    redactions: dict[str, int] = Field(description="values masked at ingest, by rule")


class TimelineEntry(Bounded):
    offset_ms: float | None = Field(description="time since the session start; null when the recording has none")
    kind: str
    summary: str
    url: str | None
    target: str | None
    level: str | None
    method: str | None
    status: int | None
    duration_ms: float | None
    trace_id: str | None
    link: str | None = Field(description="how the trace was linked: traceparent, sentry-trace, b3, time-window")
    backend_ms: float | None
    backend_spans: int | None
    backend_errors: int | None
    host: str | None = Field(None, description="a request's host[:port]")
    party: str | None = Field(None, description="first-party | third-party: the request's site against the page's")
    size_bytes: int | None = Field(None, description="response body size, from either recorded copy")
    mime_type: str | None = None
    timings: dict[str, float] = Field(
        default_factory=dict, description="HAR timing phases in ms: blocked, DNS, connect, TLS, send, wait, receive"
    )
    copy_method: str | None = Field(
        None, description="the request's other recorded copy (HAR) was paired by: trace-context | method-url-time"
    )


class Timeline(Bounded):
    session_id: str
    start: str
    entries: list[TimelineEntry]
    total: int = Field(description="entries matching the filters")
    first: int = Field(description="index of the first entry shown (0-based)")
    shown: int
    next_cursor: str | None
    counts: dict[str, int] = Field(description="events by kind in the whole session, and linked requests")


# find_slow_spans, find_errors, get_session


class LoopItem(Bounded):
    traces: int = Field(description="traces in scope where the operation runs as an N+1")
    fewest_per_trace: int
    most_per_trace: int
    calls: int = Field(description="calls inside those loops, all traces together")
    worst_trace_id: str
    worst_parent_span_id: str | None = Field(description="the span that makes the calls of the longest loop")


class SlowOperation(Bounded):
    service: str | None
    fingerprint: str = Field(description="the operation: SQL normalised, URL templated")
    count: int
    trace_count: int
    critical_ms: float = Field(description="time on the critical path, summed: what the user waited for")
    self_ms: float = Field(description="exclusive time, summed")
    total_ms: float
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float
    share: float | None = Field(description="fraction of the scope's critical path")
    worst_trace_id: str
    worst_span_id: str
    n_plus_one: LoopItem | None = Field(None, description="set when the operation runs as an N+1 loop in scope")
    code_location: str | None = Field(None, description="file:line in function of the worst span (code.* attributes)")
    target: str | None = Field(None, description="what the worst span called: method, host and path; statement; ...")
    after_root_ms: float = Field(
        default=0.0, description="time its spans ran after their trace's root answered, summed"
    )
    stream: bool = Field(default=False, description="a long-lived stream (RPC stream, SSE, websocket): not slow work")


class SlowSpan(Bounded):
    trace_id: str
    span_id: str
    service: str | None
    name: str
    fingerprint: str | None
    duration_ms: float
    self_ms: float
    critical_ms: float
    share: float | None = Field(description="fraction of its trace's duration spent on the critical path")
    code_location: str | None = Field(None, description="file:line in function (code.* attributes)")
    target: str | None = Field(None, description="what the span called: method, host and path; statement; ...")
    after_root_ms: float = Field(default=0.0, description="time the span ran after its trace's root answered")
    stream: bool = Field(default=False, description="a long-lived stream (RPC stream, SSE, websocket): not slow work")


class StreamItem(Bounded):
    trace_id: str
    span_id: str
    service: str | None
    name: str
    duration_ms: float


class AfterRootItem(Bounded):
    service: str | None
    fingerprint: str
    count: int = Field(description="spans of the operation that ran on after their root answered")
    after_root_ms: float = Field(description="their time after the root answered, summed")
    worst_trace_id: str
    worst_span_id: str


class SlowSpans(Bounded):
    scope: str
    group_by: str
    total: int = Field(description="operations (or spans) in scope")
    shown: int
    operations: list[SlowOperation]
    spans: list[SlowSpan]
    next_call: str | None
    detail_call: str | None = Field(None, description="get_span on the first row's span: attributes, events, links")
    after_root: list[AfterRootItem] = Field(
        default_factory=list,
        description="operations whose spans ran on after their trace's root answered (async work, consumers), "
        "ranked on their own by that time",
    )
    after_root_count: int = Field(default=0, description="operations in scope with time after their root answered")
    streams: list[StreamItem] = Field(
        default_factory=list,
        description="long-lived streams (RPC streams, SSE, websockets, message waits) in scope, longest first: "
        "never ranked as slow work",
    )
    stream_count: int = Field(default=0, description="streams in scope")


class MessageCount(Bounded):
    message: str
    count: int


class ErrorItem(Bounded):
    fingerprint: str
    source: str = Field(description="backend | browser | log")
    kind: str
    title: str
    count: int
    first_seen: str | None
    last_seen: str | None
    session_ids: list[str]
    trace_ids: list[str]
    service: str | None
    trace_id: str | None
    span_id: str | None
    http_status: int | None
    code_location: str | None = Field(
        description="the first application frame of the stack (file:line in function), else the code.* attributes"
    )
    stack: list[str]
    preceding_action: str | None = Field(description="the last thing the user did before the first occurrence")
    target: str | None = Field(None, description="what the failing call went to: host:port, peer service, database")
    messages: list[MessageCount] = Field(default_factory=list, description="distinct messages, most frequent first")
    message_count: int = Field(0, description="how many distinct messages the group holds")
    also_seen_as: dict[str, int] = Field(
        default_factory=dict,
        description="the same failure restated in the same traces: failed spans, error logs, "
        "the enclosing spans an exception propagated through",
    )


class ErrorList(Bounded):
    scope: str
    total: int = Field(description="error groups in scope")
    occurrences: int
    shown: int
    truncated: bool = Field(description="true when more failures exist than were read")
    errors: list[ErrorItem]
    next_call: str | None
    detail_call: str | None = Field(None, description="get_span on the first failed span shown: attributes, events")


class RequestItem(Bounded):
    method: str | None
    url: str | None
    status: int | None
    duration_ms: float | None
    trace_id: str | None
    backend_ms: float | None = None


class SessionOverview(Bounded):
    session: SessionItem
    pages: list[str]
    counts: dict[str, int]
    errors: list[ErrorItem]
    slowest_requests: list[RequestItem]
    patterns: list[PatternItem]
    next_calls: list[str]


# diff_against_baseline


class DiffCompanion(Bounded):
    label: str
    count_before: int
    count_after: int
    delta_ms: float


class DiffFinding(Bounded):
    rank: int
    kind: str = Field(description="errors, status, added, removed, count, latency, size, step-added, step-removed")
    level: str = Field(description="step, request, backend (a trace no request accounts for), op, error")
    label: str = Field(description="the fingerprint: method + URL template, normalised statement, operation")
    baseline_label: str | None = Field(description="what the baseline ran instead (matched loosely)")
    context: list[str] = Field(description="the request and operations it ran under, outermost first")
    service: str | None
    count_before: int
    count_after: int
    before_ms: float
    after_ms: float
    delta_ms: float = Field(description="time it added in all (negative: saved)")
    per_wait_delta_ms: float = Field(description="time it added to a typical wait (median over the steps)")
    steps: int
    errors_before: int
    errors_after: int
    statuses_before: list[int]
    statuses_after: list[int]
    size_before: int | None = Field(description="response bytes per occurrence")
    size_after: int | None
    p_value: float | None = Field(description="Mann-Whitney p-value when the timing change was tested")
    trace_ids: list[str]
    baseline_trace_ids: list[str]
    span_ids: list[str]
    baseline_span_ids: list[str]
    baseline_session_ids: list[str]
    companions: list[DiffCompanion] = Field(description="the other statements of the same N+1 loop")
    next_call: str | None


class DiffSideInfo(Bounded):
    kind: str = Field(description="session, trace, or median (automatic baseline)")
    name: str
    session_ids: list[str]
    trace_ids: list[str]
    steps: int
    requests: int
    spans: int
    wait_ms: float = Field(description="time waited in requests, summed over steps")


class DiffTrust(Bounded):
    overall: float = Field(description="mean share of steps, requests and backend work that matched")
    steps: float | None
    requests: float | None
    backend: float | None
    low: bool = Field(description="true: too different to compare; findings are not listed")
    low_threshold: float


class DiffView(Bounded):
    mode: str = Field(description="actions (browser steps) or traces (backend-only steps)")
    target: DiffSideInfo
    baseline: DiffSideInfo
    trust: DiffTrust
    significant: bool = Field(description="whether any significant change was found")
    findings: list[DiffFinding]
    total_findings: int
    shown: int
    unconfirmed: int = Field(description="timing differences the samples could not confirm")
    minor: int = Field(description="structural differences below every tolerance")
    truncated: bool


# draft_regression_test


class DraftedFile(Bounded):
    path: str = Field(description="a suggested path; the tool writes nothing")
    language: Literal["python"] = "python"
    content: Whole = Field(description="the whole file, never cut")
    lines: int


class DraftedStep(Bounded):
    number: int
    role: Literal["replay", "setup", "action"] = Field(description="setup: kept because a later step needs it")
    summary: str = Field(description="recorded request or action (untrusted text)")
    trace_id: str | None
    offset_ms: float | None = Field(description="when it happened, after the session start")


class EnvironmentVariable(Bounded):
    name: str
    purpose: str
    required: bool


class RegressionDraft(Bounded):
    session_id: str
    style: Literal["api", "ui"]
    focus: str = Field(description="which requests the draft covers, in words")
    files: list[DraftedFile]
    steps: list[DraftedStep]
    api_requests: int = Field(description="API requests recorded in the session")
    left_out: dict[str, int] = Field(description="other requests not replayed, by reason")
    environment: list[EnvironmentVariable]
    notes: list[str]
    run: str = Field(description="the command that runs the file once saved")
    text_shows: Literal["file", "outline"] = Field(description="outline: the file did not fit the text budget")


# The MCP Apps views (render/apps/): what the app-only view_* tools return and `mcp-sessions report`
# embeds. Each wraps the answer model its tool returns, with what only a picture needs beside it.


class CriticalStretch(Bounded):
    row: int = Field(description="index into trace.spans of the span the caller waited on")
    start_ms: float = Field(description="offset from the trace start")
    end_ms: float


class SpanLoop(Bounded):
    fingerprint: str = Field(description="the repeated operation (statement normalised, URL templated)")
    service: str | None
    parent_row: int = Field(description="index into trace.spans of the span that ran the loop")
    rows: list[int] = Field(description="indices into trace.spans of every repeated call, in time order")
    total_ms: float
    impact_ms: float = Field(description="estimated avoidable time")


class TraceWaterfall(Bounded):
    trace: TraceView = Field(description="get_trace's answer with every span up to `span_limit`, in tree order")
    critical: list[CriticalStretch] = Field(description="the critical path: what the root waited for, in time order")
    loops: list[SpanLoop] = Field(description="N+1 loops: one operation repeated one call after another")
    attributes: list[dict[str, str]] = Field(description="per row: recorded attributes as stored (redacted), bounded")
    span_limit: int = Field(description="most spans a view draws; a larger trace keeps root, slowest branch, errors")


class SessionPicture(Bounded):
    overview: SessionOverview
    timeline: Timeline = Field(description="get_timeline's answer with every entry up to `entry_limit`")
    entry_limit: int


class AlignedSide(Bounded):
    count: int
    wait_ms: float = Field(description="what the user waited for in it, summed")
    errors: int
    statuses: list[int]
    trace_ids: list[str]
    span_ids: list[str]


class AlignedRow(Bounded):
    depth: int = Field(description="0: a step (user action or run of traces); 1: a request; deeper: backend work")
    level: str = Field(description="step, request, op or error")
    label: str
    baseline_label: str | None = Field(description="what the baseline ran instead (matched loosely)")
    baseline: AlignedSide | None = Field(description="null: the baseline has no such node")
    target: AlignedSide | None = Field(description="null: the target has no such node")
    findings: list[int] = Field(description="ranks (in diff.findings) of the findings about this node")


class DiffPicture(Bounded):
    diff: DiffView = Field(description="diff_against_baseline's answer")
    rows: list[AlignedRow] = Field(description="both sides aligned: steps, then the requests and work under each")
    total_rows: int
    truncated: bool = Field(description="true: more aligned nodes exist than `rows` holds")


class ReportData(Bounded):
    """What `mcp-sessions report` embeds in its HTML file, for the same views to draw offline."""

    kind: Literal["session", "trace"]
    generated: str = Field(description="ISO 8601 UTC")
    version: str = Field(description="the mcp-sessions version that wrote it")
    session: SessionPicture | None
    traces: dict[str, TraceWaterfall] = Field(description="by trace id; the traces a view may open")
    main_trace: str | None = Field(description="the trace a trace report opens on")
    trace_count: int = Field(description="traces of the session in all; those not in `traces` were left out")


class AttributeItem(BaseModel):
    model_config = DEFERRED

    key: str
    value: str | int | float | bool | None = Field(description="as recorded (redacted); lists and maps as JSON text")
    cut_from: int | None = Field(None, description="the value's length in characters, when it was cut")


class SpanEventItem(BaseModel):
    model_config = DEFERRED

    name: str
    offset_ms: float = Field(description="time after the span's start")
    exception_type: str | None = None
    exception_message: str | None = None
    stack: list[str] = Field(default_factory=list, description="excerpt keeping the throw site")
    attributes: list[AttributeItem] = Field(default_factory=list, description="the event's other attributes")
    attribute_count: int = 0


class SpanLinkItem(BaseModel):
    model_config = DEFERRED

    trace_id: str
    span_id: str
    stored: bool = Field(description="the linked span is stored: get_span shows it")
    attributes: list[AttributeItem]
    attribute_count: int


class SpanRecordView(BaseModel):
    model_config = DEFERRED

    name: str
    service: str | None
    kind: str
    status: str
    status_message: str | None
    shared: bool = Field(description="Zipkin's server half, reusing its client's span id")
    scope: str | None = Field(description="the instrumentation scope that recorded it")
    start: str = Field(description="ISO 8601 UTC")
    start_ns: int
    end_ns: int
    offset_ms: float = Field(description="start after the trace's first start, as recorded")
    duration_ms: float = Field(description="end minus start, as recorded")
    target: str | None = Field(description="what it called: method, host and path; statement; destination; RPC")
    code_location: str | None
    attributes: list[AttributeItem]
    attribute_count: int = Field(description="attributes the record holds (shown: len(attributes))")
    resource: list[AttributeItem]
    resource_count: int
    events: list[SpanEventItem]
    event_count: int
    links: list[SpanLinkItem]
    link_count: int


class SpanDetail(BaseModel):
    model_config = DEFERRED

    trace_id: str
    span_id: str
    parent_span_id: str | None
    parent_name: str | None
    parent_service: str | None
    children: int = Field(description="spans naming this one as their parent")
    records: list[SpanRecordView] = Field(description="every record stored under this id, in start order")
    record_count: int
    truncated: bool = Field(description="true when the text budget left out attributes, events or links")
    next_calls: list[str]
