"""Drafting a regression test from a recorded session."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.types import CallToolResult
from pydantic import Field

from mcp_sessions.config import DEFAULT_BUDGET_TOKENS
from mcp_sessions.render.markdown import Budget
from mcp_sessions.render.models import RegressionDraft
from mcp_sessions.tools.common import MAX_OFFSET_MS, BudgetTokens, Ctx, SessionId, result, store_of, tool, tool_errors


@tool("Draft a regression test from a session")
def draft_regression_test(
    ctx: Ctx,
    session_id: SessionId,
    style: Annotated[
        Literal["api", "ui"],
        Field(description="api: pytest + httpx replaying the requests; ui: Playwright replaying the user's actions"),
    ] = "api",
    trace_id: Annotated[
        str | None, Field(description="only the request that started this trace (and those it needs values from)")
    ] = None,
    from_ms: Annotated[
        float | None,
        Field(ge=0, le=MAX_OFFSET_MS, description="only from this offset after the session start (ms)"),
    ] = None,
    to_ms: Annotated[
        float | None,
        Field(ge=0, le=MAX_OFFSET_MS, description="only up to this offset after the session start (ms)"),
    ] = None,
    around_error: Annotated[
        bool, Field(description="only the first failing request and the 3 requests before it")
    ] = False,
    latency_factor: Annotated[
        float | None,
        Field(ge=1, le=100, description="api: fail a request slower than this many times its recorded time"),
    ] = None,
    baseline_session_id: Annotated[
        str | None, Field(description="with latency_factor: take recorded times from this session (a good run)")
    ] = None,
    recorded_errors: Annotated[
        Literal["pin", "expect_fixed"],
        Field(description="pin: assert recorded errors as recorded; expect_fixed: a recorded 5xx must not recur"),
    ] = "pin",
    env_prefix: Annotated[
        str,
        Field(pattern=r"^[A-Z][A-Z0-9]{0,15}$", description="prefix of the environment variables the test reads"),
    ] = "APP",
    count_queries: Annotated[
        bool | None,
        Field(
            description="api: assert each request's database query count, read from the app's own spans over "
            "OTLP (default: on for a session drafted from backend traces)"
        ),
    ] = None,
    budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
) -> Annotated[CallToolResult, RegressionDraft]:
    """Draft a runnable test from a recorded session. style="api": a pytest module replaying its
    API requests with httpx in order (status, content type, JSON shape and stable values; ids and
    tokens the server hands out are chained; secrets come from environment variables; a session
    without browser requests replays its traces' requests and bounds each one's query count). style="ui":
    a Playwright test of the user's clicks and typing that checks the responses the page got.
    Returns the file as text; writes nothing.

    Use once the problem is found, to pin it down; narrow with trace_id, from_ms/to_ms or
    around_error. Not for seeing what happened: use get_timeline. Example:
    draft_regression_test(session_id="sess_218ccee84f7164d7", around_error=True)
    """
    with tool_errors():
        from mcp_sessions.answers import draft  # the answer loads with its first call
        from mcp_sessions.render.regression import render_draft_answer

        asked = (session_id, style, trace_id, from_ms, to_ms, around_error, latency_factor, baseline_session_id)
        request = draft.DraftRequest(*asked, recorded_errors, env_prefix, count_queries)
        return result(*render_draft_answer(draft.draft_test(store_of(ctx), request), budget=Budget(budget_tokens)))
