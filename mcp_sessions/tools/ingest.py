"""The one tool that writes: ingest a recording from an allowed folder (off by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult
from pydantic import Field

from mcp_sessions.config import DEFAULT_BUDGET_TOKENS, DEFAULT_SESSION_GAP_NS
from mcp_sessions.formats.registry import readable
from mcp_sessions.ingest import confine, ingest_file
from mcp_sessions.render.ingest import render_ingest
from mcp_sessions.render.markdown import Budget
from mcp_sessions.render.models import IngestReport
from mcp_sessions.store import Store
from mcp_sessions.tools.common import INGEST, BudgetTokens, Ctx, result, tool_errors
from mcp_sessions.tools.schemas import listed_tool


def description(roots: list[Path]) -> str:
    where = ", ".join(str(r) for r in roots)
    return f"""Store a recording file or folder
so the other tools can answer about it: {readable()}.

Use when the user points at a recording that list_sessions does not show yet. Only paths under
the allowed roots ({where}) are read; a relative path is taken under the first. Ingesting the
same file again changes nothing. Secrets are masked before storing. Not for live exporters: point
them at `mcp-sessions collect`. Example: ingest_recording(path="exports/checkout.json")"""


def ingest_recording(
    ctx: Ctx,
    path: Annotated[
        str, Field(max_length=4096, pattern=r"^[^\x00]*$", description="file or folder under an allowed root")
    ],
    budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
) -> Annotated[CallToolResult, IngestReport]:
    app = ctx.request_context.lifespan_context
    with tool_errors():
        from mcp_sessions.redact import DEFAULT_RULES, KnownValues

        gap, rules, known = app.session_gap_ns or DEFAULT_SESSION_GAP_NS, app.redaction or DEFAULT_RULES, KnownValues()
        store = app.store
        assert isinstance(store, Store), "ingest_recording is offered only over the local SQLite file"
        files = confine(path, app.ingest_roots)
        results = [ingest_file(store, f, rules=rules, session_gap_ns=gap, known=known) for f in files]
        return result(*render_ingest(results, budget=Budget(budget_tokens)))


def listed(roots: list[Path]) -> Tool:
    """ingest_recording as the server lists it, its description naming the folders it may read."""
    return listed_tool(ingest_recording, title="Ingest a recording", annotations=INGEST, description=description(roots))
