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

import orjson

from mcp_sessions.model import OperationLoops, SpanScope, StoredPattern
from mcp_sessions.store.sqlite.rows import PATTERN_SELECT, pattern_from_row
from mcp_sessions.store.sqlite.scope import PATTERNS, scope_where


def patterns_of_traces(conn: sqlite3.Connection, trace_ids: Sequence[str]) -> dict[str, list[StoredPattern]]:
    """The patterns of each of `trace_ids` that has any, most avoidable time first."""
    out: dict[str, list[StoredPattern]] = {}
    for row in conn.execute(
        f"{PATTERN_SELECT} WHERE trace_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY trace_id, impact_ns DESC, kind, fingerprint, span_id",
        (orjson.dumps(list(trace_ids)).decode(),),
    ):
        pattern = pattern_from_row(row)
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
    traces, params = scope_where(scope, PATTERNS)
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
