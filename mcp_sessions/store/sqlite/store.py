"""SqliteStore: the SQLite file behind the store seam (store/protocol.py), both protocols at once.

Each method asks the query module that owns the question on this thread's connection
(queries.py: lists, spans, the timeline; insights.py: rankings and failures; patterns.py: the
patterns found at ingest; baselines.py: automatic baselines) and returns its model records.
A database fault (locked, unreadable) leaves as a StoreError whose message says to retry,
never as SQLite's own text.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal, ParamSpec, TypeVar

from mcp_sessions.errors import StoreError
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
from mcp_sessions.store.sqlite import baselines, insights, patterns, queries
from mcp_sessions.store.sqlite.db import Store

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def database_faults() -> Iterator[None]:
    """SQLite's operational errors (busy, locked, unreadable) as a StoreError without their internals."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        log.warning("database error: %s", exc)
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise StoreError("the database is busy right now (another process is writing); retry in a moment") from exc
        raise StoreError("the database could not answer this query; narrow the arguments or retry") from exc


def _faults(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with database_faults():
            return method(*args, **kwargs)

    return wrapper


class SqliteStore(Store):
    """The database file as a TraceStore and an EventStore."""

    # TraceStore

    @_faults
    def session(self, session_id: str) -> SessionSummary | None:
        return queries.get_session(self.conn, session_id)

    @_faults
    def sessions(self, f: SessionFilter, *, sort: Sort, limit: int, cursor: str | None) -> Page[SessionSummary]:
        return queries.list_sessions(self.conn, f, sort=sort, limit=limit, cursor=cursor)

    @_faults
    def trace(self, trace_id: str) -> TraceSummary | None:
        return queries.get_trace(self.conn, trace_id)

    @_faults
    def traces(self, f: TraceFilter, *, sort: Sort, limit: int, cursor: str | None) -> Page[TraceSummary]:
        return queries.list_traces(self.conn, f, sort=sort, limit=limit, cursor=cursor)

    @_faults
    def unsessioned_trace_count(self) -> int:
        return queries.unsessioned_traces(self.conn)

    @_faults
    def similar_ids(self, kind: Literal["sessions", "traces"], wanted: str) -> list[str]:
        return queries.similar_ids(self.conn, kind, wanted)

    @_faults
    def trace_spans(self, trace_id: str) -> list[Span]:
        return queries.trace_spans(self.conn, trace_id)

    @_faults
    def span(self, trace_id: str, span_id: str) -> SpanRecords | None:
        return queries.span_records(self.conn, trace_id, span_id)

    @_faults
    def session_traces(self, session_id: str) -> dict[str, list[Span]]:
        return queries.session_traces(self.conn, session_id)

    @_faults
    def trace_log_count(self, trace_id: str) -> int:
        return queries.trace_logs_count(self.conn, trace_id)

    @_faults
    def slow_operations(self, scope: SpanScope, limit: int) -> OperationRanking:
        after, after_count = insights.after_root(self.conn, scope, None)  # read once: ranked and shown
        return OperationRanking(
            *insights.slow_operations(self.conn, scope, limit, after),
            after[: insights.AFTER_ROOT_SHOWN],
            after_count,
            *insights.streams(self.conn, scope),
        )

    @_faults
    def slow_spans(self, scope: SpanScope, limit: int) -> SpanRanking:
        return SpanRanking(*insights.slow_spans(self.conn, scope, limit), *insights.streams(self.conn, scope))

    @_faults
    def operation_loops(
        self, scope: SpanScope, operations: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], OperationLoops]:
        return patterns.operation_loops(self.conn, scope, operations)

    @_faults
    def trace_patterns(self, trace_ids: Sequence[str]) -> dict[str, list[StoredPattern]]:
        return patterns.patterns_of_traces(self.conn, trace_ids)

    @_faults
    def failures(self, scope: SpanScope) -> Failures:
        return insights.failures(self.conn, scope)

    @_faults
    def span_parents(self, trace_ids: Sequence[str]) -> dict[tuple[str, str], str | None]:
        return insights.span_parents(self.conn, list(trace_ids))

    @_faults
    def baseline_candidates(self, session_id: str, start_ns: int) -> list[Candidate]:
        return baselines.baseline_candidates(self.conn, session_id, start_ns)

    @_faults
    def route_count(self, session_id: str) -> int:
        return baselines.session_route_count(self.conn, session_id)

    # EventStore

    @_faults
    def session_events(self, session_id: str, *, with_copies: bool = False) -> list[Event]:
        return queries.session_events(self.conn, session_id, with_copies=with_copies)

    @_faults
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
        return queries.timeline(
            self.conn, session_id, kinds=kinds, from_ns=from_ns, to_ns=to_ns, cursor=cursor, limit=limit
        )

    @_faults
    def event_counts(self, session_id: str) -> dict[str, int]:
        return queries.session_event_counts(self.conn, session_id)

    @_faults
    def user_actions(self, session_ids: Sequence[str]) -> dict[str, list[Event]]:
        return insights.session_actions(self.conn, list(session_ids))

    @_faults
    def request_times(self, trace_ids: Sequence[str]) -> dict[str, int]:
        return insights.request_times(self.conn, list(trace_ids))

    @_faults
    def har_twins(self, session_id: str, limit: int) -> dict[CopyKey, Event]:
        return queries.har_twins(self.conn, session_id, limit)

    @_faults
    def all_have_browser_events(self, session_ids: Sequence[str]) -> bool:
        return baselines.all_have_browser_events(self.conn, list(session_ids))

    @_faults
    def response_sizes(self, session_id: str) -> dict[str, int]:
        return baselines.response_sizes(self.conn, session_id)
