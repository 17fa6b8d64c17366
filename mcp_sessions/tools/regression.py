"""Drafting a regression test from a recorded session."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from mcp_sessions.config import DEFAULT_BUDGET_TOKENS
from mcp_sessions.drafting import draft as drafting
from mcp_sessions.drafting.model import DraftOptions
from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.params import normalize_trace_id
from mcp_sessions.render.markdown import Budget
from mcp_sessions.render.regression import RegressionDraft, render_draft
from mcp_sessions.store.sqlite.session_requests import browser_events, entry_traces, har_twins
from mcp_sessions.tools.common import (
    READ_ONLY,
    BudgetTokens,
    SessionId,
    given,
    require_session,
    result,
    store_of,
    tool_errors,
)


def register(mcp: MCPServer) -> None:
    @mcp.tool(title="Draft a regression test from a session", annotations=READ_ONLY)
    def draft_regression_test(
        ctx: Context,
        session_id: SessionId,
        style: Annotated[
            Literal["api", "ui"],
            Field(
                description="api: pytest + httpx replaying the requests; ui: Playwright replaying the user's actions"
            ),
        ] = "api",
        trace_id: Annotated[
            str | None, Field(description="only the request that started this trace (and those it needs values from)")
        ] = None,
        from_ms: Annotated[
            float | None, Field(ge=0, description="only from this offset after the session start (ms)")
        ] = None,
        to_ms: Annotated[
            float | None, Field(ge=0, description="only up to this offset after the session start (ms)")
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
        budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
    ) -> Annotated[CallToolResult, RegressionDraft]:
        """Draft a runnable test from a recorded session. style="api": a pytest module replaying its
        API requests with httpx in order (status, content type, JSON shape and stable values; ids and
        tokens the server hands out are chained; secrets come from environment variables). style="ui":
        a Playwright test of the user's clicks and typing that checks the responses the page got.
        Returns the file as text; writes nothing.

        Use once the problem is found, to pin it down; narrow with trace_id, from_ms/to_ms or
        around_error. Not for seeing what happened: use get_timeline. Example:
        draft_regression_test(session_id="sess_218ccee84f7164d7", around_error=True)
        """
        with tool_errors():
            conn = store_of(ctx).conn
            session = require_session(conn, session_id)
            if from_ms is not None and to_ms is not None and from_ms > to_ms:
                raise InvalidArgumentError("`from_ms` is after `to_ms`; swap them")
            baseline = None
            if baseline_session_id:
                if not latency_factor:
                    raise InvalidArgumentError(
                        "baseline_session_id sets the latency guard's times: pass latency_factor"
                    )
                require_session(conn, baseline_session_id)
                sid = baseline_session_id
                baseline = drafting.baseline_durations(
                    browser_events(conn, sid), har_twins(conn, sid), entry_traces(conn, sid)
                )
            options = DraftOptions(
                style=style,
                trace_id=normalize_trace_id(trace_id) if trace_id else None,
                from_ns=session.start_ns + int(from_ms * 1e6) if from_ms is not None else None,
                to_ns=session.start_ns + int(to_ms * 1e6) if to_ms is not None else None,
                around_error=around_error,
                latency_factor=latency_factor,
                baseline_ms=baseline,
                baseline_session_id=baseline_session_id,
                recorded_errors=recorded_errors,
                env_prefix=env_prefix,
            )
            events, twins = browser_events(conn, session_id), har_twins(conn, session_id)
            draft = drafting.draft_regression_test(session, events, twins, entry_traces(conn, session_id), options)
            next_call = given(
                session_id=session_id,
                style=style,
                trace_id=trace_id,
                from_ms=from_ms,
                to_ms=to_ms,
                around_error=around_error or None,
                latency_factor=latency_factor,
                baseline_session_id=baseline_session_id,
                recorded_errors=None if recorded_errors == "pin" else recorded_errors,
            )
            text, model = render_draft(session, draft, budget=Budget(budget_tokens), next_call=next_call)
            return result(text, model)
