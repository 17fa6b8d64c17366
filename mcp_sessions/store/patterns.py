"""Reading the patterns found in each trace at ingest (`trace_patterns`, derived by derive.py).

Derivation runs `analysis.patterns.trace_patterns` on every trace it (re)builds, sessioned or
not, and keeps one row per finding. Two questions read them without touching a span:

    which traces on this page have patterns      trace_patterns_trace (trace_id)
    is this operation an N+1, and how often      trace_patterns_operation (fingerprint, service,
                                                 trace_id, count) WHERE kind = 'n_plus_one'
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from mcp_sessions.store.insights import SpanScope


@dataclass(frozen=True)
class StoredPattern:
    """One finding inside one trace, as kept at ingest. Times are nanoseconds; ids are full."""

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


_PATTERN_SELECT = (
    "SELECT trace_id, kind, service, fingerprint, parent_span_id, parent_name, count, total_ns, impact_ns, span_id "
    "FROM trace_patterns"
)


def patterns_of_traces(conn: sqlite3.Connection, trace_ids: Sequence[str]) -> dict[str, list[StoredPattern]]:
    """The patterns of each of `trace_ids` that has any, most avoidable time first."""
    out: dict[str, list[StoredPattern]] = {}
    for row in conn.execute(
        f"{_PATTERN_SELECT} WHERE trace_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY trace_id, impact_ns DESC, kind, fingerprint, span_id",
        (orjson.dumps(list(trace_ids)).decode(),),
    ):
        pattern = StoredPattern(*row)
        out.setdefault(pattern.trace_id, []).append(pattern)
    return out


def operation_loops(
    conn: sqlite3.Connection, scope: SpanScope, operations: Iterable[tuple[str | None, str]]
) -> dict[tuple[str | None, str], OperationLoops]:
    """For each (service, fingerprint) that runs as an N+1 in some trace of `scope`: how often.

    A trace is in scope as `SpanScope` names it (one trace, a session's, a root route's), and for
    a time window when it overlaps the window; several loops of one operation in one trace (under
    different parents) add up as that trace's calls.
    """
    traces, params = _trace_condition(scope)
    out = {}
    for service, fingerprint in dict.fromkeys(operations):
        row = conn.execute(
            "SELECT count(*), min(calls), max(calls), sum(calls) FROM (SELECT trace_id, sum(count) AS calls "
            "FROM trace_patterns p WHERE kind = 'n_plus_one' AND fingerprint = :fingerprint AND service IS :service "
            f"AND {traces} GROUP BY trace_id)",
            {**params, "fingerprint": fingerprint, "service": service},
        ).fetchone()
        if not row[0]:
            continue
        worst = conn.execute(
            "SELECT trace_id, parent_span_id FROM trace_patterns p WHERE kind = 'n_plus_one' "
            f"AND fingerprint = :fingerprint AND service IS :service AND {traces} "
            "ORDER BY count DESC, impact_ns DESC, trace_id LIMIT 1",
            {**params, "fingerprint": fingerprint, "service": service},
        ).fetchone()
        out[(service, fingerprint)] = OperationLoops(*row, *worst)
    return out


def _trace_condition(scope: SpanScope) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if scope.trace_id:
        clauses.append("p.trace_id = :trace_id")
        params["trace_id"] = scope.trace_id
    if scope.session_id:
        clauses.append("p.trace_id IN (SELECT trace_id FROM traces WHERE session_id = :session_id)")
        params["session_id"] = scope.session_id
    if scope.route:
        clauses.append("p.trace_id IN (SELECT trace_id FROM traces WHERE http_route = :route)")
        params["route"] = scope.route
    if scope.since_ns is not None or scope.until_ns is not None:
        clauses.append(
            "p.trace_id IN (SELECT trace_id FROM traces WHERE end_ns >= :since_ns AND start_ns <= :until_ns)"
        )
        params["since_ns"] = scope.since_ns if scope.since_ns is not None else -(1 << 62)
        params["until_ns"] = scope.until_ns if scope.until_ns is not None else 1 << 62
    return (" AND ".join(clauses) or "1"), params
