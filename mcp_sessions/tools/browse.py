"""Browsing what is stored: sessions, traces, a session's timeline, one trace's tree, one span."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.types import CallToolResult
from pydantic import Field

from mcp_sessions.config import DEFAULT_BUDGET_TOKENS
from mcp_sessions.model import EventKind, Sort
from mcp_sessions.render.markdown import Budget, given
from mcp_sessions.render.models import SessionList, SpanDetail, Timeline, TraceList, TraceView
from mcp_sessions.tools.common import (
    MAX_ID_ARG,
    MAX_OFFSET_MS,
    MAX_TEXT_ARG,
    BudgetTokens,
    Ctx,
    Cursor,
    HasErrors,
    Limit,
    MinDuration,
    Since,
    Until,
    redaction_of,
    result,
    store_of,
    tool,
    tool_errors,
)

TimelineKind = Literal[EventKind, "backend"]  # backend: traces no recorded request started


@tool("List recorded sessions")
def list_sessions(
    ctx: Ctx,
    query: Annotated[
        str | None,
        Field(max_length=MAX_TEXT_ARG, description="free text in session id, user, service, URL or operation names"),
    ] = None,
    service: Annotated[str | None, Field(max_length=MAX_TEXT_ARG, description="exact service name")] = None,
    user_id: Annotated[str | None, Field(max_length=MAX_TEXT_ARG, description="exact user id")] = None,
    since: Since = None,
    until: Until = None,
    has_errors: HasErrors = None,
    min_duration_ms: MinDuration = None,
    sort: Sort = "recent",
    limit: Limit = 20,
    cursor: Cursor = None,
    budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
) -> Annotated[CallToolResult, SessionList]:
    """Find user sessions: who, when, how long, which services, how many traces and errors.

    Use first, to find the session a user is asking about (filter by user, service, time,
    errors, duration, or free text such as a URL). Not for traces without a session key:
    use list_traces(unsessioned=True). Example: list_sessions(has_errors=True, sort="slowest")
    """
    with tool_errors():
        from mcp_sessions.answers import session as sessions  # each answer loads with its first call
        from mcp_sessions.render.lists import render_session_list

        q = sessions.SessionQuery(query, service, user_id, since, until, has_errors, min_duration_ms, sort)
        found = sessions.list_sessions(store_of(ctx), q, limit=limit, cursor=cursor)
        return result(*render_session_list(found, budget=Budget(budget_tokens)))


@tool("List traces")
def list_traces(
    ctx: Ctx,
    session_id: Annotated[str | None, Field(max_length=MAX_ID_ARG, description="only this session's traces")] = None,
    unsessioned: Annotated[bool, Field(description="only traces that carry no session key")] = False,
    query: Annotated[
        str | None, Field(max_length=MAX_TEXT_ARG, description="free text in trace id, root operation, route or URL")
    ] = None,
    service: Annotated[str | None, Field(max_length=MAX_TEXT_ARG, description="traces that touch this service")] = None,
    since: Since = None,
    until: Until = None,
    has_errors: HasErrors = None,
    min_duration_ms: MinDuration = None,
    sort: Sort = "recent",
    limit: Limit = 20,
    cursor: Cursor = None,
    budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
) -> Annotated[CallToolResult, TraceList]:
    """Find backend traces: root operation, duration, span and error counts, session.

    Use for a session's traces (session_id=...), for traces no session claims
    (unsessioned=True), or to search all traces by route, service, time or errors. Not for one
    trace's spans: use get_trace. Example: list_traces(session_id="tUVy...", sort="slowest")
    """
    with tool_errors():
        from mcp_sessions.answers import trace
        from mcp_sessions.render.lists import render_trace_list

        q = trace.TraceQuery(session_id, unsessioned, query, service, since, until, has_errors, min_duration_ms, sort)
        found = trace.list_traces(store_of(ctx), q, limit=limit, cursor=cursor)
        return result(*render_trace_list(found, budget=Budget(budget_tokens)))


@tool("A session's timeline", view="session")
def get_timeline(
    ctx: Ctx,
    session_id: Annotated[str, Field(max_length=MAX_ID_ARG, description="the session, as list_sessions shows it")],
    kinds: Annotated[
        list[TimelineKind] | None,
        Field(description="only these kinds (default: all); 'backend' = traces no recorded request started"),
    ] = None,
    from_ms: Annotated[
        float | None, Field(ge=0, le=MAX_OFFSET_MS, description="from this offset after the session start (ms)")
    ] = None,
    to_ms: Annotated[
        float | None, Field(ge=0, le=MAX_OFFSET_MS, description="up to this offset after the session start (ms)")
    ] = None,
    limit: Annotated[int, Field(ge=1, le=200, description="entries per page (the text budget may show fewer)")] = 60,
    cursor: Cursor = None,
    budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
) -> Annotated[CallToolResult, Timeline]:
    """What happened in a session, in time order: navigations, clicks, typing (values masked),
    requests with status, duration and the backend trace they caused, console errors, and backend
    traces no recorded request accounts for.

    Use to answer "what did the user do, and what did the system do in response?". Times are
    offsets from the session start. Not for one request's backend detail: use get_trace on the
    trace id a request shows. Example: get_timeline(session_id="sess_218ccee84f7164d7",
    kinds=["click", "network", "console"])
    """
    with tool_errors():
        from mcp_sessions.answers import timeline
        from mcp_sessions.render.timeline import render_timeline_answer

        answer = timeline.session_timeline(
            store_of(ctx), session_id, kinds=kinds, from_ms=from_ms, to_ms=to_ms, cursor=cursor, limit=limit
        )
        next_call = given(session_id=session_id, kinds=kinds, from_ms=from_ms, to_ms=to_ms)
        return result(*render_timeline_answer(answer, budget=Budget(budget_tokens), next_call=next_call))


@tool("Show a trace as a tree", view="trace")
def get_trace(
    ctx: Ctx,
    trace_id: Annotated[str, Field(max_length=MAX_ID_ARG, description="full trace id (32 hex; 16-hex ids are padded)")],
    span_id: Annotated[
        str | None, Field(max_length=MAX_ID_ARG, description="show only the subtree under this span")
    ] = None,
    max_spans: Annotated[
        int,
        Field(
            ge=5,
            le=300,
            description="most spans to show (the root, the first step of the branch that finished last and the "
            "first error span, with their parents, are shown in any case)",
        ),
    ] = 40,
    budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
) -> Annotated[CallToolResult, TraceView]:
    """One trace as a span tree: durations, self time, status, errors and full ids.

    Use to see where a request spent its time or failed. Times are as recorded; a span with
    no recorded end says so. Large traces are cut to a budget that keeps the roots, the
    errors and the branch that finished last first; hidden children are summarised with the
    call that expands them (span_id=...). Not for finding traces: use
    list_traces. Example: get_trace(trace_id="5b8efff798038103d269b633813fc60c")
    """
    with tool_errors():
        from mcp_sessions.answers import trace
        from mcp_sessions.render.trace import render_trace_view

        answer = trace.trace_view(store_of(ctx), trace_id, span_id=span_id, max_spans=max_spans)
        return result(*render_trace_view(answer, budget=Budget(budget_tokens)))


@tool("Show one span in detail")
def get_span(
    ctx: Ctx,
    trace_id: Annotated[
        str, Field(max_length=MAX_ID_ARG, description="the span's trace (32 hex; 16-hex ids are padded)")
    ],
    span_id: Annotated[
        str, Field(max_length=MAX_ID_ARG, description="the span, as get_trace or another tool printed it")
    ],
    budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
) -> Annotated[CallToolResult, SpanDetail]:
    """One span in detail: name, service, kind, status, start and duration as recorded, parent,
    children, what it called (method, host and path; statement; destination; RPC), code location,
    its attributes and resource attributes (redacted, long values cut), events (exception type,
    message, stack excerpt) and links.

    Use on a span id that get_trace, find_slow_spans or find_errors printed, to read what the tree
    leaves out. Not for the tree around it: use get_trace(span_id=...). Example:
    get_span(trace_id="5b8efff798038103d269b633813fc60c", span_id="051581bf3cb55c13")
    """
    with tool_errors():
        from mcp_sessions.answers import span
        from mcp_sessions.render.span import render_span

        answer = span.span_detail(store_of(ctx), trace_id, span_id, rules=redaction_of(ctx))
        return result(*render_span(answer, budget=Budget(budget_tokens)))
