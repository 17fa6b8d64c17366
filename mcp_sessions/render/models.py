"""Structured content: the same facts as the markdown, typed, for scripts and tests.

These pydantic models are the tools' published output schemas.
"""

from __future__ import annotations

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


class Timeline(BaseModel):
    session_id: str
    start: str
    entries: list[TimelineEntry]
    total: int = Field(description="entries matching the filters")
    first: int = Field(description="index of the first entry shown (0-based)")
    shown: int
    next_cursor: str | None
    counts: dict[str, int] = Field(description="events by kind in the whole session, and linked requests")
