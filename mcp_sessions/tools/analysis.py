"""The answers about one session, where the time went, and what failed."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.types import CallToolResult
from pydantic import Field

from mcp_sessions.config import DEFAULT_BUDGET_TOKENS
from mcp_sessions.render.markdown import Budget
from mcp_sessions.render.models import ErrorList, SessionOverview, SlowSpans
from mcp_sessions.tools.common import BudgetTokens, Ctx, SessionId, Since, Until, result, store_of, tool, tool_errors

ScopeSession = Annotated[str | None, Field(description="only this session's traces")]
ScopeTrace = Annotated[str | None, Field(description="only this trace (32 hex)")]
ScopeService = Annotated[str | None, Field(description="only spans of this service")]
ScopeRoute = Annotated[str | None, Field(description="only traces whose root has this http.route, e.g. /api/checkout")]
ErrorSource = Literal["backend", "browser", "log"]


@tool("Session overview", view="session")
def get_session(
    ctx: Ctx, session_id: SessionId, budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS
) -> Annotated[CallToolResult, SessionOverview]:
    """The overview to read first about one session: who and when, pages visited, counts, errors
    with the user action before them, the slowest requests, detected problems (N+1 queries,
    duplicate or sequential calls, over-fetching) and the next calls worth making.

    Use after list_sessions has named the session. Not for the step-by-step story (get_timeline)
    or one trace's spans (get_trace). Example: get_session(session_id="sess_4951e114f2553254")
    """
    with tool_errors():
        from mcp_sessions.answers.session import session_overview  # each answer loads with its first call
        from mcp_sessions.render.session import render_session

        return result(*render_session(session_overview(store_of(ctx), session_id), budget=Budget(budget_tokens)))


@tool("Find where the time went")
def find_slow_spans(
    ctx: Ctx,
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
        from mcp_sessions.answers.lookup import ScopeQuery
        from mcp_sessions.answers.slow import slow_work
        from mcp_sessions.render.insights import render_slow_work

        q = ScopeQuery(session_id, trace_id, service, route, since, until)
        work = slow_work(store_of(ctx), q, group_by=group_by, limit=limit)
        return result(*render_slow_work(work, budget=Budget(budget_tokens)))


@tool("Find errors")
def find_errors(
    ctx: Ctx,
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
        from mcp_sessions.answers.errors import search_errors
        from mcp_sessions.answers.lookup import ScopeQuery
        from mcp_sessions.render.insights import render_error_search

        q = ScopeQuery(session_id, trace_id, service, route, since, until)
        search = search_errors(store_of(ctx), q, list(sources) if sources is not None else None, limit)
        return result(*render_error_search(search, budget=Budget(budget_tokens)))
