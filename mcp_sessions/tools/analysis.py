"""The answers: a session's overview, where the time went, and what failed."""

from __future__ import annotations

import sqlite3
from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from mcp_sessions.config import DEFAULT_BUDGET_TOKENS
from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.params import check_range, normalize_trace_id, parse_time
from mcp_sessions.render.insights import render_errors, render_slow_operations, render_slow_spans, scope_label
from mcp_sessions.render.insights_models import ErrorList, SessionOverview, SlowSpans
from mcp_sessions.render.markdown import Budget, call
from mcp_sessions.store import insights, queries
from mcp_sessions.store.patterns import operation_loops
from mcp_sessions.tools.common import (
    READ_ONLY,
    BudgetTokens,
    SessionId,
    Since,
    Until,
    given,
    not_found_trace,
    require_session,
    result,
    store_of,
    tool_errors,
)

ScopeSession = Annotated[str | None, Field(description="only this session's traces")]
ScopeTrace = Annotated[str | None, Field(description="only this trace (32 hex)")]
ScopeService = Annotated[str | None, Field(description="only spans of this service")]
ScopeRoute = Annotated[str | None, Field(description="only traces whose root has this http.route, e.g. /api/checkout")]
ErrorSource = Literal["backend", "browser", "log"]


def _scope(
    conn: sqlite3.Connection,
    session_id: str | None,
    trace_id: str | None,
    service: str | None,
    route: str | None,
    since: str | None,
    until: str | None,
) -> tuple[insights.SpanScope, str]:
    """The scope a question is about, checked (unknown ids are errors), and how to name it."""
    since_ns, until_ns = parse_time(since, "since"), parse_time(until, "until")
    check_range(since_ns, until_ns)
    trace = normalize_trace_id(trace_id) if trace_id else None
    if session_id:
        require_session(conn, session_id)
    if trace and queries.get_trace(conn, trace) is None:
        raise not_found_trace(conn, trace)
    label = scope_label(trace=trace, session=session_id, service=service, route=route, since=since, until=until)
    return insights.SpanScope(trace, session_id, service, route, since_ns, until_ns), label


def register(mcp: MCPServer) -> None:
    @mcp.tool(title="Session overview", annotations=READ_ONLY)
    def get_session(
        ctx: Context, session_id: SessionId, budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS
    ) -> Annotated[CallToolResult, SessionOverview]:
        """The overview to read first about one session: who and when, pages visited, counts, errors
        with the user action before them, the slowest requests, detected problems (N+1 queries,
        duplicate or sequential calls, over-fetching) and the next calls worth making.

        Use after list_sessions has named the session. Not for the step-by-step story (get_timeline)
        or one trace's spans (get_trace). Example: get_session(session_id="sess_4951e114f2553254")
        """
        with tool_errors():
            conn = store_of(ctx).conn
            from mcp_sessions.overview import session_overview  # loaded on first use: faster start-up
            from mcp_sessions.render.session import render_session

            overview = session_overview(conn, require_session(conn, session_id))
            text, model = render_session(overview, budget=Budget(budget_tokens))
            return result(text, model)

    @mcp.tool(title="Find where the time went", annotations=READ_ONLY)
    def find_slow_spans(
        ctx: Context,
        session_id: ScopeSession = None,
        trace_id: ScopeTrace = None,
        service: ScopeService = None,
        route: ScopeRoute = None,
        since: Since = None,
        until: Until = None,
        group_by: Annotated[
            Literal["operation", "span"],
            Field(description="'operation': one row per statement/endpoint with count, p50/p95; 'span': single spans"),
        ] = "operation",
        limit: Annotated[int, Field(ge=1, le=100, description="rows to show (the budget may show fewer)")] = 10,
        budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
    ) -> Annotated[CallToolResult, SlowSpans]:
        """Where the time went: operations ranked by their time on the critical path (what the user
        actually waited for), then by self time, never by plain duration (a parent always looks slowest).
        Each row: the SQL statement or endpoint template, count, p50/p95, and the worst span's ids.

        Scope to one trace, one session, or all data filtered by service, route and time. Use to answer
        "why was this slow?". Not for failures: use find_errors. Example: find_slow_spans(session_id=
        "sess_4951e114f2553254") or find_slow_spans(trace_id="8de256e63c37d6811bac0c6ff2ab35f2")
        """
        with tool_errors():
            conn = store_of(ctx).conn
            scope, label = _scope(conn, session_id, trace_id, service, route, since, until)
            args = given(
                session_id=session_id, trace_id=scope.trace_id, service=service, route=route, since=since, until=until
            )
            more = call("find_slow_spans", **args, group_by=group_by, limit=min(100, limit * 3))
            if group_by == "span":
                spans, total = insights.slow_spans(conn, scope, limit)
                text, model = render_slow_spans(
                    spans, total=total, scope=label, budget=Budget(budget_tokens), more_call=more
                )
            else:
                rows, total, critical_total = insights.slow_operations(conn, scope, limit)
                text, model = render_slow_operations(
                    rows,
                    total=total,
                    critical_total=critical_total,
                    scope=label,
                    budget=Budget(budget_tokens),
                    more_call=more,
                    loops=operation_loops(conn, scope, [(r.service, r.fingerprint) for r in rows]),
                )
            return result(text, model)

    @mcp.tool(title="Find errors", annotations=READ_ONLY)
    def find_errors(
        ctx: Context,
        session_id: ScopeSession = None,
        trace_id: ScopeTrace = None,
        service: ScopeService = None,
        route: ScopeRoute = None,
        since: Since = None,
        until: Until = None,
        sources: Annotated[
            list[ErrorSource] | None,
            Field(description="only these: backend (exceptions, failed spans), browser (console, requests), log"),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="error groups to show (the budget may show fewer)")] = 10,
        budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
    ) -> Annotated[CallToolResult, ErrorList]:
        """What failed: exceptions and failed spans, failed requests and console errors, error logs,
        grouped by fingerprint with counts, first/last seen, code location, a stack excerpt and the user
        action just before each.

        Scope to a session, a trace, or all data filtered by service, route and time. Not for slowness:
        use find_slow_spans. Example: find_errors(session_id="sess_218ccee84f7164d7")
        """
        with tool_errors():
            conn = store_of(ctx).conn
            scope, label = _scope(conn, session_id, trace_id, service, route, since, until)
            if sources is not None and not sources:
                raise InvalidArgumentError("`sources` is empty; omit it for all, or name backend, browser or log")
            from mcp_sessions.overview import find_errors as errors_in

            found = errors_in(conn, scope, set(sources or ("backend", "browser", "log")), shown=limit)
            args = given(
                session_id=session_id, trace_id=scope.trace_id, service=service, route=route, since=since, until=until
            )
            text, model = render_errors(
                found.groups,
                occurrences=found.occurrences,
                truncated=found.truncated,
                scope=label,
                budget=Budget(budget_tokens),
                more_call=call("find_errors", **args, sources=sources, limit=min(100, limit * 3)),
                limit=limit,
                sources=found.by_source,
            )
            return result(text, model)
