"""Diffing a session (or a trace) against a known-good one."""

from __future__ import annotations

import sqlite3
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from mcp_sessions.analysis.diff import (
    SessionRecording,
    Side,
    comparable_sides,
    diff_sides,
    median_side,
    trace_side,
)
from mcp_sessions.config import DEFAULT_BUDGET_TOKENS
from mcp_sessions.errors import InvalidArgumentError, NotFoundError
from mcp_sessions.params import normalize_trace_id
from mcp_sessions.render.diff import DiffView, render_diff
from mcp_sessions.render.markdown import Budget, call
from mcp_sessions.store import baselines, queries
from mcp_sessions.tools.common import (
    READ_ONLY,
    BudgetTokens,
    given,
    not_found_trace,
    require_session,
    result,
    store_of,
    tool_errors,
)


def register(mcp: MCPServer) -> None:
    @mcp.tool(title="Diff against a good baseline", annotations=READ_ONLY)
    def diff_against_baseline(
        ctx: Context,
        session_id: Annotated[
            str | None, Field(description="the session to explain (the slow or broken one), as list_sessions shows it")
        ] = None,
        baseline: Annotated[
            str | None,
            Field(description="a known-good session id; omit for the median of earlier sessions of the same flow"),
        ] = None,
        trace_id: Annotated[
            str | None, Field(description="instead of sessions: one trace to explain (with baseline_trace_id)")
        ] = None,
        baseline_trace_id: Annotated[
            str | None, Field(description="the known-good trace to compare trace_id with")
        ] = None,
        max_findings: Annotated[
            int, Field(ge=1, le=50, description="most findings to list (the text budget may show fewer)")
        ] = 10,
        budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
    ) -> Annotated[CallToolResult, DiffView]:
        """What changed between a session and a known-good one, down to the operation: an N+1 loop
        (one statement run 10× where it ran once), calls added or gone, slower operations, new
        errors and statuses, bigger responses, ranked by the time they added to what the user waited
        for, each with the trace and span ids to open. Says how much of the two sides matched and
        warns instead of listing when they followed different flows.

        Use when "it was fast before" or one session misbehaves and another did not. Omit
        `baseline` to compare with earlier sessions of the same flow. For two single requests pass
        trace_id and baseline_trace_id instead. Not for finding sessions (list_sessions) or reading
        one trace (get_trace). Example: diff_against_baseline(session_id="sess_4951e114f2553254",
        baseline="sess_22b9d171c3ca0f83")
        """
        with tool_errors():
            conn = store_of(ctx).conn
            if _trace_mode(session_id, baseline, trace_id, baseline_trace_id):
                target, good = _trace_sides(conn, trace_id or "", baseline_trace_id or "")
                retry = {"trace_id": target.name, "baseline_trace_id": good.name}
            else:
                target, good = _session_sides(conn, session_id or "", baseline)
                retry = given(session_id=session_id, baseline=baseline)
            text, model = render_diff(
                diff_sides(good, target),
                budget=Budget(budget_tokens),
                max_findings=max_findings,
                retry=retry,
                automatic=session_id is not None and baseline is None,
            )
            return result(text, model)


def _trace_mode(
    session_id: str | None, baseline: str | None, trace_id: str | None, baseline_trace_id: str | None
) -> bool:
    """Which comparison the arguments ask for; an InvalidArgumentError saying how to ask when they mix them."""
    traces = trace_id is not None or baseline_trace_id is not None
    sessions = session_id is not None or baseline is not None
    if traces and sessions:
        raise InvalidArgumentError(
            "pass either session_id (and optionally baseline) or trace_id with baseline_trace_id, not both"
        )
    if traces:
        if not trace_id or not baseline_trace_id:
            missing = "baseline_trace_id" if trace_id else "trace_id"
            raise InvalidArgumentError(
                f"comparing traces needs both trace_id and baseline_trace_id; {missing} is missing "
                f"(take trace ids from {call('list_traces', session_id='<session id>')})"
            )
        return True
    if not session_id:
        raise InvalidArgumentError(
            "pass session_id (the session to explain; baseline optional) or trace_id with baseline_trace_id; "
            f"find sessions with {call('list_sessions')}"
        )
    return False


def _trace_sides(conn: sqlite3.Connection, trace_id: str, baseline_trace_id: str) -> tuple[Side, Side]:
    wanted = {"trace_id": trace_id, "baseline_trace_id": baseline_trace_id}
    normalized = {}
    for name, text in wanted.items():
        try:
            normalized[name] = normalize_trace_id(text)
        except InvalidArgumentError:
            raise InvalidArgumentError(
                f"{name} {text[:40]!r} is not a hex trace id; copy one from list_traces or get_timeline"
            ) from None
    for name, value in normalized.items():
        if queries.get_trace(conn, value) is None:
            raise NotFoundError(f"{name}: {not_found_trace(conn, wanted[name])}")
    return tuple(trace_side(v, queries.trace_spans(conn, v)) for v in normalized.values())  # type: ignore[return-value]


def _recordings(conn: sqlite3.Connection, session_ids: list[str]) -> list[SessionRecording]:
    """What the sides are built from; browser events only when every session has some (else unused)."""
    browser = baselines.all_have_browser_events(conn, session_ids)
    return [
        SessionRecording(
            session_id=sid,
            events=queries.session_events(conn, sid) if browser else (),
            traces=queries.session_traces(conn, sid),
            sizes=baselines.response_sizes(conn, sid) if browser else {},
        )
        for sid in session_ids
    ]


def _session_sides(conn: sqlite3.Connection, session_id: str, baseline: str | None) -> tuple[Side, Side]:
    session = require_session(conn, session_id)
    if baseline is not None:
        if queries.get_session(conn, baseline) is None and queries.get_trace(conn, _maybe_trace(baseline)):
            raise InvalidArgumentError(
                f"baseline {baseline!r} is a trace id, and baseline takes a session id; to compare two traces pass "
                "trace_id and baseline_trace_id instead of session_id and baseline"
            )
        require_session(conn, baseline)
        target, good = comparable_sides(_recordings(conn, [session_id, baseline]))
        return target, good
    candidates = baselines.baseline_candidates(conn, session_id, session.start_ns)
    if not candidates:
        routes = baselines.session_route_count(conn, session_id)
        why = (
            "it has no backend traces to recognise its flow by"
            if not routes
            else "no other session that started no later hit its routes about as often "
            f"(at least {baselines.MIN_SIMILARITY:.0%} alike)"
        )
        raise NotFoundError(
            f"no automatic baseline for session {session_id!r}: {why}; pass baseline=<a known-good session id> "
            f"(find one with {call('list_sessions')})"
        )
    sides = comparable_sides(_recordings(conn, [session_id] + [c.session_id for c in candidates]))
    return sides[0], median_side(sides[1:])


def _maybe_trace(text: str) -> str:
    try:
        return normalize_trace_id(text)
    except InvalidArgumentError:
        return text
