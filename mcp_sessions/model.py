"""Model records: what every parser yields and every analysis consumes.

Frozen dataclasses, one shape whatever the source format. Times are integer nanoseconds
since the Unix epoch; trace ids are 32 and span ids 16 lowercase hex characters
(64-bit Zipkin/Jaeger ids are left-padded so they match OTLP ones). Attribute values are
plain JSON values (str, int, float, bool, list, dict).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SpanKind = Literal["unspecified", "internal", "server", "client", "producer", "consumer"]
StatusCode = Literal["unset", "ok", "error"]

Attributes = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """A timestamped annotation on a span (OTLP span event, Jaeger log, Zipkin annotation)."""

    time_ns: int
    name: str
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpanLink:
    """A reference from a span to another span, outside the parent relation."""

    trace_id: str
    span_id: str
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Span:
    """One unit of backend work."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    status_code: StatusCode = "unset"
    status_message: str | None = None
    attributes: Attributes = field(default_factory=dict)
    resource: Attributes = field(default_factory=dict)
    scope: str | None = None
    events: tuple[SpanEvent, ...] = ()
    links: tuple[SpanLink, ...] = ()
    # Zipkin's server half of an RPC reuses the client's span id; `shared` tells them apart.
    shared: bool = False

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def service(self) -> str | None:
        name = self.resource.get("service.name")
        return str(name) if name not in (None, "") else None

    @property
    def is_error(self) -> bool:
        return self.status_code == "error"


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One log record, tied to a trace and span when the emitter knew them."""

    time_ns: int
    observed_time_ns: int | None
    severity_number: int | None
    severity_text: str | None
    body: Any
    attributes: Attributes = field(default_factory=dict)
    resource: Attributes = field(default_factory=dict)
    scope: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    event_name: str | None = None

    @property
    def service(self) -> str | None:
        name = self.resource.get("service.name")
        return str(name) if name not in (None, "") else None


@dataclass(frozen=True, slots=True)
class SkippedRecords:
    """Records a parser read but does not store (for example OTLP metrics), by kind."""

    kind: str
    count: int
    # Why they were skipped, when it is one record's own fault (an OTLP partial success reports it).
    reason: str | None = None


Record = Span | LogRecord | SkippedRecords


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """A trace as indexed: its root, extent and counts."""

    trace_id: str
    session_id: str | None
    user_id: str | None
    root_span_id: str | None
    root_service: str | None
    root_name: str | None
    root_kind: str | None
    http_method: str | None
    http_route: str | None
    http_status: int | None
    http_url: str | None
    start_ns: int
    end_ns: int
    duration_ns: int
    span_count: int
    error_count: int
    services: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A session as indexed: who, when, where, and how much happened."""

    session_id: str
    user_id: str | None
    service: str | None
    services: tuple[str, ...]
    sources: tuple[str, ...]
    start_ns: int
    end_ns: int
    duration_ns: int
    first_url: str | None
    trace_count: int
    span_count: int
    error_count: int
    log_count: int
