"""Structured content: the same facts as the markdown, typed, for scripts and tests.

These pydantic models are the tools' published output schemas.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SessionItem(BaseModel):
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


class SessionList(BaseModel):
    sessions: list[SessionItem]
    total: int = Field(description="sessions matching the filters")
    shown: int
    next_cursor: str | None = Field(description="pass as `cursor` (with the same filters and sort) for more")
    unsessioned_traces: int = Field(description="traces that carry no session key; see list_traces")


class PatternItem(BaseModel):
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


class TracePatternMark(BaseModel):
    kind: str = Field(description="n_plus_one | duplicate_calls | sequential_calls")
    fingerprint: str
    service: str | None
    count: int = Field(description="calls involved")
    impact_ms: float
    parent_span_id: str | None


class TraceItem(BaseModel):
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


class TraceList(BaseModel):
    traces: list[TraceItem]
    total: int
    shown: int
    next_cursor: str | None


class HiddenGroup(BaseModel):
    name: str
    service: str | None
    count: int
    total_ms: float
    errors: int


class SpanNode(BaseModel):
    span_id: str
    parent_span_id: str | None
    depth: int
    name: str
    service: str | None
    kind: str
    offset_ms: float = Field(description="start relative to the trace start")
    duration_ms: float
    self_ms: float
    status: str
    error: str | None = Field(description="status message or exception, truncated")
    http_status: int | None
    hidden_children: list[HiddenGroup]


class TraceView(BaseModel):
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


class IngestedFile(BaseModel):
    source: str
    status: str = Field(description="stored, unchanged (already ingested) or failed")
    format: str | None
    spans: int
    logs: int
    duplicates: int = Field(0, description="records identical to one already read: stored once")
    spans_id_reused: int = Field(0, description="spans kept beside a different record with the same trace and span id")
    records_refused: int = Field(0, description="records under a session or user erased by `forget`: not stored")
    error: str | None


class IngestReport(BaseModel):
    files: list[IngestedFile]
    stored: int
    unchanged: int
    failed: int
    redactions: dict[str, int] = Field(description="values masked at ingest, by rule")


class TimelineEntry(BaseModel):
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


class Timeline(BaseModel):
    session_id: str
    start: str
    entries: list[TimelineEntry]
    total: int = Field(description="entries matching the filters")
    first: int = Field(description="index of the first entry shown (0-based)")
    shown: int
    next_cursor: str | None
    counts: dict[str, int] = Field(description="events by kind in the whole session, and linked requests")


# find_slow_spans, find_errors, get_session


class LoopItem(BaseModel):
    traces: int = Field(description="traces in scope where the operation runs as an N+1")
    fewest_per_trace: int
    most_per_trace: int
    calls: int = Field(description="calls inside those loops, all traces together")
    worst_trace_id: str
    worst_parent_span_id: str | None = Field(description="the span that makes the calls of the longest loop")


class SlowOperation(BaseModel):
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


class SlowSpan(BaseModel):
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


class SlowSpans(BaseModel):
    scope: str
    group_by: str
    total: int = Field(description="operations (or spans) in scope")
    shown: int
    operations: list[SlowOperation]
    spans: list[SlowSpan]
    next_call: str | None


class MessageCount(BaseModel):
    message: str
    count: int


class ErrorItem(BaseModel):
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


class ErrorList(BaseModel):
    scope: str
    total: int = Field(description="error groups in scope")
    occurrences: int
    shown: int
    truncated: bool = Field(description="true when more failures exist than were read")
    errors: list[ErrorItem]
    next_call: str | None


class RequestItem(BaseModel):
    method: str | None
    url: str | None
    status: int | None
    duration_ms: float | None
    trace_id: str | None
    backend_ms: float | None = None


class SessionOverview(BaseModel):
    session: SessionItem
    pages: list[str]
    counts: dict[str, int]
    errors: list[ErrorItem]
    slowest_requests: list[RequestItem]
    patterns: list[PatternItem]
    next_calls: list[str]


# diff_against_baseline


class DiffCompanion(BaseModel):
    label: str
    count_before: int
    count_after: int
    delta_ms: float


class DiffFinding(BaseModel):
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


class DiffSideInfo(BaseModel):
    kind: str = Field(description="session, trace, or median (automatic baseline)")
    name: str
    session_ids: list[str]
    trace_ids: list[str]
    steps: int
    requests: int
    spans: int
    wait_ms: float = Field(description="time waited in requests, summed over steps")


class DiffTrust(BaseModel):
    overall: float = Field(description="mean share of steps, requests and backend work that matched")
    steps: float | None
    requests: float | None
    backend: float | None
    low: bool = Field(description="true: too different to compare; findings are not listed")
    low_threshold: float


class DiffView(BaseModel):
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


class DraftedFile(BaseModel):
    path: str = Field(description="a suggested path; the tool writes nothing")
    language: Literal["python"] = "python"
    content: str
    lines: int


class DraftedStep(BaseModel):
    number: int
    role: Literal["replay", "setup", "action"] = Field(description="setup: kept because a later step needs it")
    summary: str = Field(description="recorded request or action (untrusted text)")
    trace_id: str | None
    offset_ms: float | None = Field(description="when it happened, after the session start")


class EnvironmentVariable(BaseModel):
    name: str
    purpose: str
    required: bool


class RegressionDraft(BaseModel):
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


class CriticalStretch(BaseModel):
    row: int = Field(description="index into trace.spans of the span the caller waited on")
    start_ms: float = Field(description="offset from the trace start")
    end_ms: float


class SpanLoop(BaseModel):
    fingerprint: str = Field(description="the repeated operation (statement normalised, URL templated)")
    service: str | None
    parent_row: int = Field(description="index into trace.spans of the span that ran the loop")
    rows: list[int] = Field(description="indices into trace.spans of every repeated call, in time order")
    total_ms: float
    impact_ms: float = Field(description="estimated avoidable time")


class TraceWaterfall(BaseModel):
    trace: TraceView = Field(description="get_trace's answer with every span up to `span_limit`, in tree order")
    critical: list[CriticalStretch] = Field(description="the critical path: what the root waited for, in time order")
    loops: list[SpanLoop] = Field(description="N+1 loops: one operation repeated one call after another")
    attributes: list[dict[str, str]] = Field(description="per row: recorded attributes as stored (redacted), bounded")
    span_limit: int = Field(description="most spans a view draws; a larger trace keeps root, slowest branch, errors")


class SessionPicture(BaseModel):
    overview: SessionOverview
    timeline: Timeline = Field(description="get_timeline's answer with every entry up to `entry_limit`")
    entry_limit: int


class AlignedSide(BaseModel):
    count: int
    wait_ms: float = Field(description="what the user waited for in it, summed")
    errors: int
    statuses: list[int]
    trace_ids: list[str]
    span_ids: list[str]


class AlignedRow(BaseModel):
    depth: int = Field(description="0: a step (user action or run of traces); 1: a request; deeper: backend work")
    level: str = Field(description="step, request, op or error")
    label: str
    baseline_label: str | None = Field(description="what the baseline ran instead (matched loosely)")
    baseline: AlignedSide | None = Field(description="null: the baseline has no such node")
    target: AlignedSide | None = Field(description="null: the target has no such node")
    findings: list[int] = Field(description="ranks (in diff.findings) of the findings about this node")


class DiffPicture(BaseModel):
    diff: DiffView = Field(description="diff_against_baseline's answer")
    rows: list[AlignedRow] = Field(description="both sides aligned: steps, then the requests and work under each")
    total_rows: int
    truncated: bool = Field(description="true: more aligned nodes exist than `rows` holds")


class ReportData(BaseModel):
    """What `mcp-sessions report` embeds in its HTML file, for the same views to draw offline."""

    kind: Literal["session", "trace"]
    generated: str = Field(description="ISO 8601 UTC")
    version: str = Field(description="the mcp-sessions version that wrote it")
    session: SessionPicture | None
    traces: dict[str, TraceWaterfall] = Field(description="by trace id; the traces a view may open")
    main_trace: str | None = Field(description="the trace a trace report opens on")
    trace_count: int = Field(description="traces of the session in all; those not in `traces` were left out")
