"""Model records: what every parser yields and every analysis consumes.

Frozen dataclasses, one shape whatever the source format. Times are integer nanoseconds
since the Unix epoch; trace ids are 32 and span ids 16 lowercase hex characters
(64-bit Zipkin/Jaeger ids are left-padded so they match OTLP ones). Attribute values are
plain JSON values (str, int, float, bool, list, dict).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, NamedTuple, TypeVar

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
    # False where the recording gave no end (Zipkin without `duration`, OTLP end 0 or before the
    # start, Jaeger without `duration`): `end_ns` is then the start as parsed, and the store keeps
    # there the end the span's children imply (analysis/tree.py).
    end_known: bool = True
    # The operation fingerprint the store derived (URL templates learned across stored values);
    # None on records straight from a parser. Not part of the span's identity.
    fingerprint: str | None = field(default=None, compare=False)

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


EventKind = Literal[
    "navigation",
    "click",
    "dblclick",
    "focus",
    "input",
    "scroll",
    "resize",
    "console",
    "network",
    "error",
    "custom",
    "websocket",
]


@dataclass(frozen=True, slots=True)
class Event:
    """One thing the browser recorded (rrweb, HAR): the frontend side of a session.

    `summary` is what a person reads ('click button "Place order"', 'GET /api/cart → 200').
    `time_ns` is None when the recording has no timestamps; `seq` keeps the recorded order.
    `session_key` is a session id the recording itself carries (baggage `session.id`, a
    recorder's session field); `client_key` names the browser/user for inactivity
    sessionization when there is none. `trace_id`/`span_id` come from the request's
    `traceparent` (or `sentry-trace`, `b3`) header. `detail` holds the bounded rest:
    headers, timings, sizes, payloads, stack; it is redacted before storage.
    """

    source: str  # "rrweb" | "har"
    seq: int
    time_ns: int | None
    kind: EventKind
    summary: str
    url: str | None = None
    target: str | None = None
    level: str | None = None
    method: str | None = None
    status: int | None = None
    duration_ns: int | None = None
    trace_id: str | None = None
    span_id: str | None = None
    session_key: str | None = None
    client_key: str | None = None
    user_id: str | None = None
    detail: Attributes = field(default_factory=dict)
    # The URL's path template the store derived (learned across stored values); None from a parser.
    url_template: str | None = field(default=None, compare=False)


Record = Span | LogRecord | SkippedRecords | Event

# Which shown event a HAR copy repeats (store/sqlite/copies.py pairs them): its source, order, time, URL.
CopyKey = tuple[str, int, int | None, str | None]


def copy_key(event: Event) -> CopyKey:
    """The key of a shown event under which its HAR copy is found (`har_twins`)."""
    return (event.source, event.seq, event.time_ns, event.url)


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


# The records the store seam (store/protocol.py) is asked with and answers with, beyond the
# indexed rows above. Cursors are opaque strings: only the store that issued one reads it.

T = TypeVar("T")

Sort = Literal["recent", "oldest", "slowest", "errors", "largest"]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: the rows, how many match in all, and the cursors that continue it.

    `resume[i]` continues the list right after `rows[i]`, for a page the text budget cuts short.
    """

    rows: list[T]
    total: int
    next_cursor: str | None
    resume: tuple[str, ...] = ()


@dataclass(frozen=True)
class SessionFilter:
    text: str | None = None
    service: str | None = None
    user_id: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    has_errors: bool | None = None
    min_duration_ns: int | None = None


@dataclass(frozen=True)
class TraceFilter:
    session_id: str | None = None
    unsessioned: bool = False
    text: str | None = None
    service: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    has_errors: bool | None = None
    min_duration_ns: int | None = None


@dataclass(frozen=True)
class SpanScope:
    """Which spans a question is about: one trace, one session's traces, or filtered data."""

    trace_id: str | None = None
    session_id: str | None = None
    service: str | None = None
    route: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None


@dataclass(frozen=True)
class TimelineItem:
    """One line of a session's story: a browser event, or a backend trace no request accounts for."""

    origin: Literal["event", "trace"]
    time_ns: int | None
    seq: int
    kind: str
    summary: str
    url: str | None
    target: str | None
    level: str | None
    method: str | None
    status: int | None
    duration_ns: int | None
    trace_id: str | None
    link_method: str | None
    backend_ns: int | None
    backend_spans: int | None
    backend_errors: int | None
    # a request's facts from either of its recorded copies (the HAR has sizes and timing phases)
    page_url: str | None = None  # the page the browser was on when it made the request
    size_bytes: int | None = None
    mime_type: str | None = None
    timings: Mapping[str, float] = field(default_factory=dict)  # HAR phases in ms: blocked, dns, connect, ...
    copy_method: str | None = None  # how its other recorded copy was paired with it, if it has one


@dataclass(frozen=True)
class TimelinePage:
    """A page of a session's timeline from `offset`; `cursor_for[n]` resumes after its first n items."""

    items: list[TimelineItem]
    total: int
    offset: int
    cursor_for: Mapping[int, str]


class CodeLocation(NamedTuple):
    """Where in the source an operation runs: `code.*` attributes under either spelling, or a stack frame."""

    function: str | None
    filepath: str | None
    lineno: int | None


class CallTarget(NamedTuple):
    """What a span called (analysis/call_targets.py): a database, a destination, an RPC method, a URL."""

    kind: Literal["database", "messaging", "rpc", "http"]
    text: str  # the whole line: `kafka publish orders.created`, `GET shop:8443/api/orders/{id}`
    core: str  # what a span name may already say: the destination, `Service/Method`, host and path, statement

    def said_by(self, name: str) -> bool:
        """Whether a span named `name` already says where it called (`publish orders.created`)."""
        return " ".join(self.core.split()).lower() in " ".join(name.split()).lower()


@dataclass(frozen=True)
class OperationRow:
    """One operation (service + fingerprint) in a scope, with its worst span."""

    service: str | None
    fingerprint: str
    count: int
    trace_count: int
    critical_ns: int
    self_ns: int
    total_ns: int
    max_ns: int
    worst_trace_id: str
    worst_span_id: str
    worst_name: str
    p50_ns: int | None = None
    p95_ns: int | None = None
    code: CodeLocation | None = None  # the worst span's code.* location, else another span's of the operation
    target: CallTarget | None = None  # what the worst span called
    after_ns: int = 0  # time its spans ran after their trace's root answered, summed
    stream: bool = False  # every span of it in scope is a long-lived stream (analysis/streams.py)


@dataclass(frozen=True)
class OperationRanking:
    """Operations of a scope, most time on the critical path first: the top rows, how many, the scope's total."""

    rows: list[OperationRow]
    total: int
    critical_total_ns: int
    after_root: list[AfterRootRow] = field(default_factory=list)  # ranked on its own, most first
    after_root_count: int = 0  # operations with time after the root answered in scope
    streams: list[StreamRow] = field(default_factory=list)  # the longest streams in scope, never ranked
    stream_count: int = 0


@dataclass(frozen=True)
class SpanRow:
    """One span ranked on its own."""

    trace_id: str
    span_id: str
    service: str | None
    name: str
    fingerprint: str | None
    duration_ns: int
    self_ns: int
    critical_ns: int
    trace_duration_ns: int
    after_ns: int = 0  # time the span ran after its trace's root answered
    stream: bool = False  # a long-lived stream (analysis/streams.py)
    code: CodeLocation | None = None
    target: CallTarget | None = None  # what the span called


@dataclass(frozen=True)
class StreamRow:
    """A long-lived stream (RPC stream, SSE, websocket, message wait): shown apart, never ranked as slow work."""

    trace_id: str
    span_id: str
    service: str | None
    name: str
    duration_ns: int


@dataclass(frozen=True)
class AfterRootRow:
    """An operation whose spans ran on after their trace's root answered, with its longest such span."""

    service: str | None
    fingerprint: str
    count: int  # spans that ran on
    after_ns: int  # their time after the root answered, summed
    worst_trace_id: str
    worst_span_id: str
    worst_after_ns: int


@dataclass(frozen=True)
class SpanRanking:
    """Single spans of a scope, most time on the critical path first, and how many spans the scope holds."""

    rows: list[SpanRow]
    total: int
    streams: list[StreamRow] = field(default_factory=list)  # the longest streams in scope, never ranked
    stream_count: int = 0


@dataclass(frozen=True)
class SpanRecords:
    """One span id's stored records in a trace, its parent's record, and how many spans it parents.

    Several records share an id where Zipkin's server half reuses its client's (`shared`), or
    where distinct records were sent under one id; all are kept, in start order.
    """

    trace_id: str
    span_id: str
    records: tuple[Span, ...]
    parent: Span | None  # the record of the parent span (its client half, where it is shared), if stored
    children: int  # spans naming this id as their parent (a shared half of the same id not counted)


@dataclass(frozen=True)
class Failures:
    """Everything that went wrong in a scope, as model records with the session each belongs to."""

    spans: list[tuple[str | None, Span]]
    events: list[tuple[str | None, Event]]
    logs: list[tuple[str | None, LogRecord]]
    truncated: bool


@dataclass(frozen=True)
class Candidate:
    """An earlier session that may serve as an automatic baseline."""

    session_id: str
    start_ns: int
    similarity: float  # weighted Jaccard of route counts


@dataclass(frozen=True)
class StoredPattern:
    """One N+1, duplicate or sequential finding inside one trace, as kept at ingest. Times are nanoseconds; ids full."""

    trace_id: str
    kind: str  # n_plus_one | duplicate_calls | sequential_calls
    service: str | None
    fingerprint: str
    parent_span_id: str | None
    parent_name: str | None
    count: int
    total_ns: int
    impact_ns: int
    span_id: str  # the first call


@dataclass(frozen=True)
class OperationLoops:
    """How an operation runs as an N+1 in a scope: in how many traces, how many times per trace."""

    traces: int
    fewest: int  # calls in the loop(s) of one trace: the least, the most, and all of them
    most: int
    calls: int
    worst_trace_id: str  # where the longest loop runs: its trace and the span that makes the calls
    worst_parent_span_id: str | None
