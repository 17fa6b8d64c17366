"""What every pattern detector returns, and the span facts they share.

A finding is one `Pattern`, whatever found it: the rendering and the ranking never need
to know which detector spoke. `impact_ns` is the time a fix would plausibly save, the
one number findings of different kinds are ranked by.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp_sessions import urls
from mcp_sessions.model import Span
from mcp_sessions.semconv import first

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


def statement(span: Span) -> str | None:
    value = first(span.attributes, "db.query.text", "db.statement")
    return str(value) if value is not None else None


def http_method(span: Span) -> str | None:
    value = first(span.attributes, "http.request.method", "http.method")
    return str(value).upper() if value is not None else None


def is_outbound(span: Span) -> bool:
    """A call that leaves the process: a client or producer span, or any database span."""
    return span.kind in ("client", "producer") or first(span.attributes, "db.system.name", "db.system") is not None


_READ_SQL = re.compile(r"^\s*\(?\s*(?:SELECT|WITH)\b", re.I)
_WRITE_SQL = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE|UPSERT|REPLACE|CREATE|ALTER|DROP|TRUNCATE)\b", re.I)


def is_read(span: Span) -> bool:
    """A call that changes nothing: a SELECT, or an HTTP GET/HEAD/OPTIONS. Unknown counts as a write."""
    text = statement(span)
    if text is not None:
        return bool(_READ_SQL.match(text)) and not _WRITE_SQL.search(text)
    method = http_method(span)
    return method in SAFE_METHODS if method else False


_STATIC = re.compile(r"\.(?:js|mjs|css|map|png|jpe?g|gif|svg|webp|avif|ico|woff2?|ttf|otf|eot|mp4|webm|wasm)$", re.I)


def is_static_asset(url: str) -> bool:
    """A script, stylesheet, image, font or video: loaded by the browser, judged neither by size nor by repeats."""
    return bool(_STATIC.search(urls.path_of(url)))


def code_location(spans: Iterable[Span]) -> tuple[str | None, str | None, int | None]:
    """The first `code.*` location among `spans` (current names, then the older ones)."""
    for span in spans:
        attrs = span.attributes
        function = first(attrs, "code.function.name", "code.function")
        path = first(attrs, "code.file.path", "code.filepath")
        if function is None and path is None:
            continue
        namespace = attrs.get("code.namespace")
        if function is not None and namespace and "." not in str(function):
            function = f"{namespace}.{function}"
        line = first(attrs, "code.line.number", "code.lineno")
        try:
            lineno = int(line) if line is not None else None
        except (TypeError, ValueError):
            lineno = None
        return (str(function) if function is not None else None, str(path) if path is not None else None, lineno)
    return None, None, None
