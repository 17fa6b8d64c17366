"""What every answer checks first: the ids and time windows it is asked about, with hints when wrong.

An unknown id is a NotFoundError naming the closest ids the store holds and the call that
lists them; a bad time or range is an InvalidArgumentError saying how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp_sessions.errors import InvalidArgumentError, NotFoundError
from mcp_sessions.model import SessionSummary, SpanScope, TraceSummary
from mcp_sessions.params import check_range, normalize_trace_id, parse_time
from mcp_sessions.store.protocol import TraceStore
from mcp_sessions.visible import code


def require_session(store: TraceStore, session_id: str) -> SessionSummary:
    session = store.session(session_id)
    if session is None:
        raise not_found_session(store, session_id)
    return session


def require_trace(store: TraceStore, trace_id: str) -> TraceSummary:
    """The trace, looked up by its normalised id (16-hex ids are padded)."""
    trace = store.trace(normalize_trace_id(trace_id))
    if trace is None:
        raise not_found_trace(store, trace_id)
    return trace


def not_found_session(store: TraceStore, session_id: str) -> NotFoundError:
    close = store.similar_ids("sessions", session_id)
    hint = f"; closest: {', '.join(code(c) for c in close)}" if close else ""
    return NotFoundError(f"no session {code(session_id)}{hint}; call list_sessions to see what exists")


def not_found_trace(store: TraceStore, trace_id: str) -> NotFoundError:
    close = store.similar_ids("traces", normalize_trace_id(trace_id))
    hint = f"; closest: {', '.join(code(c) for c in close)}" if close else ""
    return NotFoundError(f"no trace {code(trace_id)}{hint}; call list_traces to see what exists")


def time_window(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """`since` and `until` (ISO 8601 or an age like '2h') in nanoseconds, checked to be in order."""
    since_ns, until_ns = parse_time(since, "since"), parse_time(until, "until")
    check_range(since_ns, until_ns)
    return since_ns, until_ns


def offsets(start_ns: int, from_ms: float | None, to_ms: float | None) -> tuple[int | None, int | None]:
    """Offsets in milliseconds after a session's start as absolute nanoseconds, checked to be in order."""
    if from_ms is not None and to_ms is not None and from_ms > to_ms:
        raise InvalidArgumentError("`from_ms` is after `to_ms`; swap them")
    return (
        start_ns + int(from_ms * 1e6) if from_ms is not None else None,
        start_ns + int(to_ms * 1e6) if to_ms is not None else None,
    )


def min_duration_ns(min_duration_ms: float | None) -> int | None:
    return int(min_duration_ms * 1e6) if min_duration_ms else None


@dataclass(frozen=True)
class ScopeQuery:
    """What a ranking or an error search is about, as the caller named it."""

    session_id: str | None = None
    trace_id: str | None = None
    service: str | None = None
    route: str | None = None
    since: str | None = None
    until: str | None = None


def checked_scope(store: TraceStore, q: ScopeQuery) -> SpanScope:
    """The scope a question is about, checked: unknown ids and bad windows are errors."""
    since_ns, until_ns = time_window(q.since, q.until)
    trace = normalize_trace_id(q.trace_id) if q.trace_id else None
    if q.session_id:
        require_session(store, q.session_id)
    if trace and store.trace(trace) is None:
        raise not_found_trace(store, trace)
    return SpanScope(trace, q.session_id, q.service, q.route, since_ns, until_ns)
