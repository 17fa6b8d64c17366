"""A question's scope (model.SpanScope) as SQL: one clause per field that is set, bound by name.

Spans, events and logs reach a session, a route or a time window through different columns,
so each table names its own clause for each field; a field a table cannot be scoped by is
absent from its map (events have no service or route: a question scoped so reads no events).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp_sessions.model import SpanScope

SPANS: Mapping[str, str] = {
    "trace_id": "s.trace_id = :trace_id",
    "session_id": "s.trace_id IN (SELECT trace_id FROM traces WHERE session_id = :session_id)",
    "service": "s.service = :service",
    "route": "s.trace_id IN (SELECT trace_id FROM traces WHERE http_route = :route)",
    "since_ns": "s.end_ns >= :since_ns",
    "until_ns": "s.start_ns <= :until_ns",
}

EVENTS: Mapping[str, str] = {
    "trace_id": "e.trace_id = :trace_id",
    "session_id": "e.session_id = :session_id",
    "since_ns": "e.time_ns >= :since_ns",
    "until_ns": "e.time_ns <= :until_ns",
}

LOGS: Mapping[str, str] = {
    "trace_id": "l.trace_id = :trace_id",
    "session_id": "(l.session_id = :session_id "
    "OR l.trace_id IN (SELECT trace_id FROM traces WHERE session_id = :session_id))",
    "service": "l.service = :service",
    "route": "l.trace_id IN (SELECT trace_id FROM traces WHERE http_route = :route)",
    "since_ns": "l.time_ns >= :since_ns",
    "until_ns": "l.time_ns <= :until_ns",
}

# A finding is in scope when its trace is: one trace, a session's, a root route's, one that
# overlaps the window. Its service is the operation's own, matched with the operation.
PATTERNS: Mapping[str, str] = {
    "trace_id": "p.trace_id = :trace_id",
    "session_id": "p.trace_id IN (SELECT trace_id FROM traces WHERE session_id = :session_id)",
    "route": "p.trace_id IN (SELECT trace_id FROM traces WHERE http_route = :route)",
    "since_ns": "p.trace_id IN (SELECT trace_id FROM traces WHERE end_ns >= :since_ns)",
    "until_ns": "p.trace_id IN (SELECT trace_id FROM traces WHERE start_ns <= :until_ns)",
}


def scope_where(scope: SpanScope, clauses: Mapping[str, str] = SPANS) -> tuple[str, dict[str, Any]]:
    """The WHERE condition (`1` when nothing is set) and its parameters, from one table's clauses."""
    where, params = [], {}
    for name, clause in clauses.items():
        value = getattr(scope, name)
        if value is not None and value != "":
            where.append(clause)
            params[name] = value
    return (" AND ".join(where) or "1"), params
