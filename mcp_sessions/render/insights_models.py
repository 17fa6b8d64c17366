"""Structured content of the analysis tools (get_session, find_slow_spans, find_errors)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from mcp_sessions.render.models import PatternItem, SessionItem


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


class LoopItem(BaseModel):
    traces: int = Field(description="traces in scope where the operation runs as an N+1")
    fewest_per_trace: int
    most_per_trace: int
    calls: int = Field(description="calls inside those loops, all traces together")
    worst_trace_id: str
    worst_parent_span_id: str | None = Field(description="the span that makes the calls of the longest loop")


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


class SlowSpans(BaseModel):
    scope: str
    group_by: str
    total: int = Field(description="operations (or spans) in scope")
    shown: int
    operations: list[SlowOperation]
    spans: list[SlowSpan]
    next_call: str | None


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
    code_location: str | None
    stack: list[str]
    preceding_action: str | None = Field(description="the last thing the user did before the first occurrence")


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
