"""Structured content of the analysis tools (get_session, find_slow_spans, find_errors)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from mcp_sessions.render.models import SessionItem


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


class PatternItem(BaseModel):
    kind: str
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


class SessionOverview(BaseModel):
    session: SessionItem
    pages: list[str]
    counts: dict[str, int]
    errors: list[ErrorItem]
    slowest_requests: list[RequestItem]
    patterns: list[PatternItem]
    next_calls: list[str]
