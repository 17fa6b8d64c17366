"""What every pattern detector returns, and the span facts they share.

A finding is one `Pattern`, whatever found it: the rendering and the ranking never need
to know which detector spoke. `impact_ns` is the time a fix would plausibly save, the
one number findings of different kinds are ranked by.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

from mcp_sessions import urls
from mcp_sessions.analysis.fingerprint import span_fingerprint
from mcp_sessions.analysis.tree import TimedSpan, TraceTree
from mcp_sessions.model import Event, Span
from mcp_sessions.semconv import promote

PatternKind = Literal["n_plus_one", "duplicate_calls", "sequential_calls", "over_fetching"]

# Ids carried per finding: enough to drill into several examples, bounded whatever the trace.
MAX_IDS = 20

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_KIND_ORDER = {"n_plus_one": 0, "duplicate_calls": 1, "sequential_calls": 2, "over_fetching": 3}


@dataclass(frozen=True, slots=True)
class EventRef:
    """One recorded browser event: its recorder and sequence number (unique together), and its time."""

    source: str
    seq: int
    time_ns: int | None


@dataclass(frozen=True)
class Pattern:
    """One finding. Times are nanoseconds; ids are full; recorded text (`example`) is untrusted."""

    kind: PatternKind
    fingerprint: str  # the operation: normalised statement, request template, or the steps joined
    service: str | None
    count: int  # calls involved
    total_ns: int  # their durations added up
    impact_ns: int  # estimated avoidable time: what ranks findings
    wall_ns: int  # first start to last end
    start_ns: int | None  # when the first involved call started
    trace_id: str | None  # the trace it lies in; None when it spans several
    trace_ids: tuple[str, ...]  # every trace involved, in time order (bounded)
    parent_span_id: str | None  # the span all calls share as parent, when they do
    parent_name: str | None
    span_ids: tuple[str, ...]  # the calls (or the traces' server spans), in time order (bounded)
    events: tuple[EventRef, ...] = ()  # browser events involved, in time order (bounded)
    example: str | None = None  # one raw statement or request, as recorded (redacted at ingest)
    code_function: str | None = None
    code_filepath: str | None = None
    code_lineno: int | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)  # kind-specific extras, plain values

    @property
    def event_seqs(self) -> tuple[int, ...]:
        return tuple(e.seq for e in self.events)


def rank(patterns: Iterable[Pattern]) -> list[Pattern]:
    """Most avoidable time first; ties broken by stable keys so the order never varies."""
    return sorted(
        patterns,
        key=lambda p: (
            -p.impact_ns,
            -p.total_ns,
            _KIND_ORDER[p.kind],
            p.fingerprint,
            p.trace_id or "",
            p.span_ids,
            tuple((e.source, e.seq) for e in p.events),
        ),
    )


def bounded(ids: Iterable[str]) -> tuple[str, ...]:
    """Distinct ids in first-seen order, at most MAX_IDS."""
    out: list[str] = []
    for value in ids:
        if value not in out:
            out.append(value)
            if len(out) == MAX_IDS:
                break
    return tuple(out)


class CallSpan(TimedSpan, Protocol):
    """What the detectors inside traces read of a span: its place in the tree and what it called.

    The promoted facts, as the writer stores them in their own columns (semconv.promote): a
    model `Span` is read through `as_call`, a stored row carries them as they are, so patterns
    found at ingest and on a trace read back are the same patterns.
    """

    @property
    def trace_id(self) -> str: ...
    @property
    def service(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def fingerprint(self) -> str | None: ...
    @property
    def http_method(self) -> str | None: ...
    @property
    def http_route(self) -> str | None: ...
    @property
    def http_url(self) -> str | None: ...
    @property
    def db_system(self) -> str | None: ...
    @property
    def db_statement(self) -> str | None: ...
    @property
    def code_function(self) -> str | None: ...
    @property
    def code_filepath(self) -> str | None: ...
    @property
    def code_lineno(self) -> int | None: ...


CallT = TypeVar("CallT", bound=CallSpan)


class Call(NamedTuple):
    """A model `Span` as the detectors read it (see `CallSpan`)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    shared: bool
    kind: str
    start_ns: int
    end_ns: int
    end_known: bool
    service: str | None
    name: str
    fingerprint: str
    http_method: str | None
    http_route: str | None
    http_url: str | None
    db_system: str | None
    db_statement: str | None
    code_function: str | None
    code_filepath: str | None
    code_lineno: int | None


def as_call(span: Span) -> Call:
    p = promote(span)
    return Call(
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.shared,
        span.kind,
        span.start_ns,
        span.end_ns,
        span.end_known,
        span.service,
        span.name,
        span_fingerprint(span),
        p.http_method,
        p.http_route,
        p.http_url,
        p.db_system,
        p.db_statement,
        p.code_function,
        p.code_filepath,
        p.code_lineno,
    )


def calls_tree(tree: TraceTree[Span]) -> TraceTree[Call]:
    """The same tree (indices, clamped times) over the spans read as calls."""
    return TraceTree(
        spans=tuple(as_call(s) for s in tree.spans),
        roots=tree.roots,
        parent=tree.parent,
        children=tree.children,
        depth=tree.depth,
        clamped=tree.clamped,
        ends=tree.ends,
        end_known=tree.end_known,
    )


def statement(span: CallSpan) -> str | None:
    return span.db_statement


def http_method(span: CallSpan) -> str | None:
    return span.http_method.upper() if span.http_method else None


def fingerprint(span: CallSpan) -> str:
    return span.fingerprint or span.name


def is_outbound(span: CallSpan) -> bool:
    """A call that leaves the process: a client or producer span, or any database span."""
    return span.kind in ("client", "producer") or span.db_system is not None


_READ_SQL = re.compile(r"^\s*\(?\s*(?:SELECT|WITH)\b", re.I)
_WRITE_SQL = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE|UPSERT|REPLACE|CREATE|ALTER|DROP|TRUNCATE)\b", re.I)


def is_read(span: CallSpan) -> bool:
    """A call that changes nothing: a SELECT, or an HTTP GET/HEAD/OPTIONS. Unknown counts as a write."""
    text = statement(span)
    if text is not None:
        return _reads_only(text)
    method = http_method(span)
    return method in SAFE_METHODS if method else False


@lru_cache(maxsize=4096)  # ingest asks for every statement of every trace; a service sends few distinct ones
def _reads_only(text: str) -> bool:
    return bool(_READ_SQL.match(text)) and not _WRITE_SQL.search(text)


_STATIC = re.compile(r"\.(?:js|mjs|css|map|png|jpe?g|gif|svg|webp|avif|ico|woff2?|ttf|otf|eot|mp4|webm|wasm)$", re.I)


def is_static_asset(url: str) -> bool:
    """A script, stylesheet, image, font or video: loaded by the browser, judged neither by size nor by repeats."""
    return bool(_STATIC.search(urls.path_of(url)))


def code_location(spans: Iterable[CallSpan]) -> tuple[str | None, str | None, int | None]:
    """The first `code.*` location among `spans` (promoted: current names, then the older ones)."""
    for span in spans:
        if span.code_function is not None or span.code_filepath is not None:
            return span.code_function, span.code_filepath, span.code_lineno
    return None, None, None


# What a user does that causes requests of its own: a request asked again after one of these
# was asked for a reason, so requests are compared only within what one user action caused.
USER_ACTIONS = frozenset({"click", "dblclick", "input", "navigation"})


def user_action_times(events: Sequence[Event]) -> list[int]:
    """When the user acted (clicked, typed, navigated), in time order: the boundaries duplicates never cross."""
    return sorted(e.time_ns for e in events if e.kind in USER_ACTIONS and e.time_ns is not None)
