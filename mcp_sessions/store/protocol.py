"""The store seam: every question answers/ asks of stored data, as typed protocols.

    answers/ ──► TraceStore  (sessions, traces, spans, operations, patterns, failures, baselines)
             └─► EventStore  (the browser timeline: events, their counts, the user's actions)
                    ▲
                    └── store/sqlite/ (SqliteStore implements both); another store (ClickHouse,
                        a remote Jaeger) implements the same methods and passes tests/contract/

Arguments and answers are model records (mcp_sessions/model.py); cursors are opaque strings
only the store that issued them reads. No database type crosses this seam: a store turns
its own faults into mcp_sessions.errors (StoreError, or QueryError for a bad cursor).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from mcp_sessions.model import (
    Candidate,
    CopyKey,
    Event,
    Failures,
    OperationLoops,
    OperationRanking,
    Page,
    SessionFilter,
    SessionSummary,
    Sort,
    Span,
    SpanRanking,
    SpanRecords,
    SpanScope,
    StoredPattern,
    TimelinePage,
    TraceFilter,
    TraceSummary,
)


class TraceStore(Protocol):
    """Sessions and backend traces: lists, one trace's spans, rankings, patterns, failures, baselines."""

    def session(self, session_id: str) -> SessionSummary | None:
        """The session, or None when no session has this id."""
        ...

    def sessions(self, f: SessionFilter, *, sort: Sort, limit: int, cursor: str | None) -> Page[SessionSummary]:
        """A page of the sessions `f` matches, in `sort` order, after `cursor`."""
        ...

    def trace(self, trace_id: str) -> TraceSummary | None:
        """The trace (32 hex), or None."""
        ...

    def traces(self, f: TraceFilter, *, sort: Sort, limit: int, cursor: str | None) -> Page[TraceSummary]:
        """A page of the traces `f` matches, in `sort` order, after `cursor`."""
        ...

    def unsessioned_trace_count(self) -> int:
        """How many traces carry no session key."""
        ...

    def similar_ids(self, kind: Literal["sessions", "traces"], wanted: str) -> list[str]:
        """A few ids sharing the longest prefix with `wanted` (for 'did you mean' hints)."""
        ...

    def trace_spans(self, trace_id: str) -> list[Span]:
        """Every span of a trace, in start order."""
        ...

    def span(self, trace_id: str, span_id: str) -> SpanRecords | None:
        """Every stored record of one span (32-hex trace, 16-hex span id), its parent's, its child count; or None."""
        ...

    def session_traces(self, session_id: str) -> dict[str, list[Span]]:
        """The spans of every trace the session owns, by trace id, traces in start order."""
        ...

    def trace_log_count(self, trace_id: str) -> int:
        """How many log records name the trace."""
        ...

    def slow_operations(self, scope: SpanScope, limit: int) -> OperationRanking:
        """Operations ranked by time on the critical path, then self time, with exact totals, and apart from
        them the operations whose spans ran on after their trace's root answered, most such time first."""
        ...

    def slow_spans(self, scope: SpanScope, limit: int) -> SpanRanking:
        """Single spans ranked by time on the critical path, then self time."""
        ...

    def operation_loops(
        self, scope: SpanScope, operations: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], OperationLoops]:
        """For each (service, fingerprint) that runs as an N+1 in some trace of `scope`: in how many, how often."""
        ...

    def trace_patterns(self, trace_ids: Sequence[str]) -> dict[str, list[StoredPattern]]:
        """The N+1, duplicate and sequential findings of each trace that has any, most avoidable first."""
        ...

    def failures(self, scope: SpanScope) -> Failures:
        """Failed spans, browser problems and error logs in a scope (bounded; `truncated` says so)."""
        ...

    def span_parents(self, trace_ids: Sequence[str]) -> dict[tuple[str, str], str | None]:
        """(trace id, span id) → parent span id for every span of these traces (a shared span: its client's)."""
        ...

    def baseline_candidates(self, session_id: str, start_ns: int) -> list[Candidate]:
        """Other sessions, started no later, whose traces hit the same routes about as often; most similar first."""
        ...

    def route_count(self, session_id: str) -> int:
        """How many distinct routes the session's traces hit."""
        ...


class EventStore(Protocol):
    """The browser's side of a session: its events in time order, with the backend traces they caused."""

    def session_events(self, session_id: str, *, with_copies: bool = False) -> list[Event]:
        """The session's events in order; HAR copies of requests rrweb also recorded only `with_copies`."""
        ...

    def timeline(
        self,
        session_id: str,
        *,
        kinds: Sequence[str] | None,
        from_ns: int | None,
        to_ns: int | None,
        cursor: str | None,
        limit: int,
    ) -> TimelinePage:
        """A page of events merged with the traces no recorded request started, in time order."""
        ...

    def event_counts(self, session_id: str) -> dict[str, int]:
        """Events per kind, plus `linked_requests` (requests linked to a trace) and `times_unknown`."""
        ...

    def user_actions(self, session_ids: Sequence[str]) -> dict[str, list[Event]]:
        """The clicks, typing, navigations and focus changes of each session, in order."""
        ...

    def request_times(self, trace_ids: Sequence[str]) -> dict[str, int]:
        """When the browser sent the request that started each trace (for traces a request is linked to)."""
        ...

    def har_twins(self, session_id: str, limit: int) -> dict[CopyKey, Event]:
        """The HAR copies of the session's rrweb requests, by the copy_key of the request each repeats."""
        ...

    def all_have_browser_events(self, session_ids: Sequence[str]) -> bool:
        """Whether every one of these sessions has browser events."""
        ...

    def response_sizes(self, session_id: str) -> dict[str, int]:
        """Response body sizes by trace id, from every recorded copy of the session's requests."""
        ...


class SessionStore(TraceStore, EventStore, Protocol):
    """A store that answers both: what the server is given."""
