"""What every tool shares: the store handle, error translation, argument types, results."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from mcp_sessions.config import MAX_BUDGET_TOKENS
from mcp_sessions.errors import McpSessionsError, NotFoundError
from mcp_sessions.params import check_range, normalize_trace_id, parse_time
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite import queries

log = logging.getLogger("mcp_sessions.server")

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
INGEST = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

Sort = Literal["recent", "oldest", "slowest", "errors", "largest"]
Limit = Annotated[int, Field(ge=1, le=100, description="rows per page (the text budget may show fewer)")]
Cursor = Annotated[str | None, Field(description="the cursor a previous call returned, to get the next page")]
Since = Annotated[str | None, Field(description="only what ended after this: ISO 8601 or an age like '2h', '7d'")]
Until = Annotated[str | None, Field(description="only what started before this: ISO 8601 or an age like '30m'")]
HasErrors = Annotated[bool | None, Field(description="true: only with errors; false: only without")]
MinDuration = Annotated[float | None, Field(ge=0, description="only at least this long, in milliseconds")]
BudgetTokens = Annotated[int, Field(ge=500, le=MAX_BUDGET_TOKENS, description="approximate size of the answer")]
SessionId = Annotated[str, Field(description="the session, as list_sessions shows it")]


@dataclass
class AppContext:
    store: Store


def store_of(ctx: Context) -> Store:
    return ctx.request_context.lifespan_context.store


@contextmanager
def tool_errors() -> Iterator[None]:
    """Expected failures reach the model with their message; database faults without internals."""
    try:
        yield
    except McpSessionsError as exc:
        raise ToolError(str(exc)) from exc
    except sqlite3.OperationalError as exc:
        log.warning("database error: %s", exc)
        raise ToolError("the database is busy or unreadable right now; retry in a moment") from exc


def time_filters(
    query: str | None,
    service: str | None,
    since: str | None,
    until: str | None,
    has_errors: bool | None,
    min_duration_ms: float | None,
) -> dict[str, object]:
    """The filter fields sessions and traces share, parsed and checked."""
    since_ns, until_ns = parse_time(since, "since"), parse_time(until, "until")
    check_range(since_ns, until_ns)
    return {
        "text": query,
        "service": service,
        "since_ns": since_ns,
        "until_ns": until_ns,
        "has_errors": has_errors,
        "min_duration_ns": int(min_duration_ms * 1e6) if min_duration_ms else None,
    }


def given(**args: object) -> dict[str, object]:
    """Arguments worth repeating in a next-call hint: those set and not at their default."""
    return {k: v for k, v in args.items() if v is not None and not (k == "sort" and v == "recent")}


def result(text: str, model: BaseModel) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=model.model_dump(mode="json")
    )


def require_session(conn: sqlite3.Connection, session_id: str) -> queries.SessionSummary:
    session = queries.get_session(conn, session_id)
    if session is None:
        raise not_found_session(conn, session_id)
    return session


def not_found_session(conn: sqlite3.Connection, session_id: str) -> NotFoundError:
    close = queries.similar_ids(conn, "sessions", session_id)
    hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
    return NotFoundError(f"no session {session_id!r}{hint}; call list_sessions to see what exists")


def not_found_trace(conn: sqlite3.Connection, trace_id: str) -> NotFoundError:
    close = queries.similar_ids(conn, "traces", normalize_trace_id(trace_id))
    hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
    return NotFoundError(f"no trace {trace_id!r}{hint}; call list_traces to see what exists")
