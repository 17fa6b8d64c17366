"""Diffing a session (or a trace) against a known-good one."""

from __future__ import annotations

from typing import Annotated

from mcp.types import CallToolResult
from pydantic import Field

from mcp_sessions.config import DEFAULT_BUDGET_TOKENS
from mcp_sessions.render.markdown import Budget
from mcp_sessions.render.models import DiffView
from mcp_sessions.tools.common import BudgetTokens, Ctx, result, store_of, tool, tool_errors


@tool("Diff against a good baseline", view="diff")
def diff_against_baseline(
    ctx: Ctx,
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
    baseline_trace_id: Annotated[str | None, Field(description="the known-good trace to compare trace_id with")] = None,
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
        from mcp_sessions.answers import diff  # the answer loads with its first call
        from mcp_sessions.render.diff import render_diff_answer

        answer = diff.diff_against_baseline(
            store_of(ctx),
            session_id=session_id,
            baseline=baseline,
            trace_id=trace_id,
            baseline_trace_id=baseline_trace_id,
        )
        return result(*render_diff_answer(answer, budget=Budget(budget_tokens), max_findings=max_findings))
