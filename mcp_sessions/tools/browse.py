"""Browsing what is stored: sessions, traces, a session's timeline, one trace's tree."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from mcp_sessions.analysis.patterns import calls_tree, trace_patterns
from mcp_sessions.analysis.selection import select_spans
from mcp_sessions.analysis.selftime import self_times
from mcp_sessions.analysis.tree import build_tree
from mcp_sessions.config import DEFAULT_BUDGET_TOKENS
from mcp_sessions.errors import InvalidArgumentError, NotFoundError
from mcp_sessions.model import EventKind
from mcp_sessions.params import normalize_span_id, normalize_trace_id
from mcp_sessions.render.lists import render_session_list, render_trace_list
from mcp_sessions.render.markdown import Budget, call
from mcp_sessions.render.models import SessionList, Timeline, TraceList, TraceView
from mcp_sessions.render.timeline import render_timeline
from mcp_sessions.render.trace import render_trace
from mcp_sessions.store import queries
from mcp_sessions.store.patterns import patterns_of_traces
from mcp_sessions.tools.common import (
    READ_ONLY,
    BudgetTokens,
    Cursor,
    HasErrors,
    Limit,
    MinDuration,
    Since,
    Sort,
    Until,
    given,
    not_found_session,
    not_found_trace,
    result,
    store_of,
    time_filters,
    tool_errors,
)

TimelineKind = Literal[EventKind, "backend"]  # backend: traces no recorded request started


def register(mcp: MCPServer) -> None:
    @mcp.tool(title="List recorded sessions", annotations=READ_ONLY)
    def list_sessions(
        ctx: Context,
        query: Annotated[
            str | None, Field(description="free text in session id, user, service, URL or operation names")
        ] = None,
        service: Annotated[str | None, Field(description="exact service name")] = None,
        user_id: Annotated[str | None, Field(description="exact user id")] = None,
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
            shared = time_filters(query, service, since, until, has_errors, min_duration_ms)
            conn = store_of(ctx).conn
            page = queries.list_sessions(
                conn, queries.SessionFilter(user_id=user_id, **shared), sort=sort, limit=limit, cursor=cursor
            )
            next_call = given(
                query=query,
                service=service,
                user_id=user_id,
                since=since,
                until=until,
                has_errors=has_errors,
                min_duration_ms=min_duration_ms,
                sort=sort,
            )
            text, model = render_session_list(
                page,
                unsessioned=queries.unsessioned_traces(conn),
                budget=Budget(budget_tokens),
                next_call=next_call,
            )
            return result(text, model)

    @mcp.tool(title="List traces", annotations=READ_ONLY)
    def list_traces(
        ctx: Context,
        session_id: Annotated[str | None, Field(description="only this session's traces")] = None,
        unsessioned: Annotated[bool, Field(description="only traces that carry no session key")] = False,
        query: Annotated[str | None, Field(description="free text in trace id, root operation, route or URL")] = None,
        service: Annotated[str | None, Field(description="traces that touch this service")] = None,
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
            shared = time_filters(query, service, since, until, has_errors, min_duration_ms)
            conn = store_of(ctx).conn
            if session_id and not queries.get_session(conn, session_id):
                raise not_found_session(conn, session_id)
            page = queries.list_traces(
                conn,
                queries.TraceFilter(session_id=session_id, unsessioned=unsessioned, **shared),
                sort=sort,
                limit=limit,
                cursor=cursor,
            )
            heading = (
                f"Traces of session `{session_id}`"
                if session_id
                else "Traces without a session"
                if unsessioned
                else "Traces"
            )
            next_call = given(
                session_id=session_id,
                unsessioned=unsessioned or None,
                query=query,
                service=service,
                since=since,
                until=until,
                has_errors=has_errors,
                min_duration_ms=min_duration_ms,
                sort=sort,
            )
            text, model = render_trace_list(
                page,
                budget=Budget(budget_tokens),
                heading=heading,
                next_call=next_call,
                patterns=patterns_of_traces(conn, [t.trace_id for t in page.rows]),
            )
            return result(text, model)

    @mcp.tool(title="A session's timeline", annotations=READ_ONLY)
    def get_timeline(
        ctx: Context,
        session_id: Annotated[str, Field(description="the session, as list_sessions shows it")],
        kinds: Annotated[
            list[TimelineKind] | None,
            Field(description="only these kinds (default: all); 'backend' = traces no recorded request started"),
        ] = None,
        from_ms: Annotated[
            float | None, Field(ge=0, description="from this offset after the session start (ms)")
        ] = None,
        to_ms: Annotated[
            float | None, Field(ge=0, description="up to this offset after the session start (ms)")
        ] = None,
        limit: Annotated[
            int, Field(ge=1, le=200, description="entries per page (the text budget may show fewer)")
        ] = 60,
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
            conn = store_of(ctx).conn
            session = queries.get_session(conn, session_id)
            if session is None:
                raise not_found_session(conn, session_id)
            offset = 0
            if cursor:
                offset_value, owner = queries.decode_cursor(cursor, "timeline")
                if owner != session_id or not isinstance(offset_value, int):
                    raise InvalidArgumentError("that cursor belongs to another timeline; start again without one")
                offset = offset_value
            if from_ms is not None and to_ms is not None and from_ms > to_ms:
                raise InvalidArgumentError("`from_ms` is after `to_ms`; swap them")
            start = session.start_ns
            items, total = queries.timeline(
                conn,
                session_id,
                kinds=kinds,
                offset=offset,
                limit=limit,
                from_ns=start + int(from_ms * 1e6) if from_ms is not None else None,
                to_ns=start + int(to_ms * 1e6) if to_ms is not None else None,
            )
            cursors = {n: queries.encode_cursor("timeline", offset + n, session_id) for n in range(1, len(items) + 1)}
            next_call = given(session_id=session_id, kinds=kinds, from_ms=from_ms, to_ms=to_ms)
            text, model = render_timeline(
                session,
                items,
                total=total,
                offset=offset,
                counts=queries.session_event_counts(conn, session_id),
                budget=Budget(budget_tokens),
                cursor_for=cursors,
                next_call=next_call,
            )
            return result(text, model)

    @mcp.tool(title="Show a trace as a tree", annotations=READ_ONLY)
    def get_trace(
        ctx: Context,
        trace_id: Annotated[str, Field(description="full trace id (32 hex; 16-hex ids are padded)")],
        span_id: Annotated[str | None, Field(description="show only the subtree under this span")] = None,
        max_spans: Annotated[int, Field(ge=5, le=300, description="most spans to show")] = 40,
        budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
    ) -> Annotated[CallToolResult, TraceView]:
        """One trace as a span tree: durations, self time, status, errors and full ids.

        Use to see where a request spent its time or failed. Large traces are cut to a budget
        that always keeps the root, the slowest branch and the errors; hidden children are
        summarised with the call that expands them (span_id=...). Not for finding traces: use
        list_traces. Example: get_trace(trace_id="5b8efff798038103d269b633813fc60c")
        """
        with tool_errors():
            conn = store_of(ctx).conn
            wanted = normalize_trace_id(trace_id)
            summary = queries.get_trace(conn, wanted)
            if summary is None:
                raise not_found_trace(conn, trace_id)
            tree = build_tree(queries.trace_spans(conn, wanted))
            focus = None
            if span_id:
                focus_id = normalize_span_id(span_id)
                matches = [i for i, s in enumerate(tree.spans) if s.span_id == focus_id]
                if not matches:
                    raise NotFoundError(
                        f"trace {wanted} has no span {focus_id!r}; take a span id from "
                        f"{call('get_trace', trace_id=wanted)}"
                    )
                # Several records may share the id: show the subtree of the one that holds the children.
                focus = max(matches, key=lambda i: (tree.spans[i].shared, bool(tree.children[i])))
            selfs = self_times(tree)
            selection = select_spans(tree, selfs, max_spans, focus=focus)
            in_view = {tree.spans[i].span_id for i in tree.preorder(focus)} if focus is not None else None
            patterns = [
                p for p in trace_patterns(calls_tree(tree)) if in_view is None or not in_view.isdisjoint(p.span_ids)
            ]
            text, model = render_trace(
                summary,
                tree,
                selfs,
                selection,
                log_count=queries.trace_logs_count(conn, wanted),
                focus=focus,
                budget=Budget(budget_tokens),
                patterns=patterns,
            )
            return result(text, model)
