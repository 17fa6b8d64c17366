"""The one tool that writes: ingest a recording from an allowed folder (off by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from mcp_sessions.config import DEFAULT_BUDGET_TOKENS
from mcp_sessions.ingest import confine, ingest_file
from mcp_sessions.redact import DEFAULT_RULES, RedactionRules
from mcp_sessions.render.ingest import render_ingest
from mcp_sessions.render.markdown import Budget
from mcp_sessions.render.models import IngestReport
from mcp_sessions.tools.common import INGEST, BudgetTokens, result, store_of, tool_errors


def register(mcp: MCPServer, ingest_roots: list[Path], rules: RedactionRules = DEFAULT_RULES) -> None:
    roots = [Path(r) for r in ingest_roots]
    where = ", ".join(str(r) for r in roots)

    @mcp.tool(
        title="Ingest a recording",
        annotations=INGEST,
        description=f"""Store a recording file or folder
so the other tools can answer about it: OTLP JSON / JSON Lines / protobuf, Jaeger or Zipkin JSON.

Use when the user points at a recording that list_sessions does not show yet. Only paths under
the allowed roots ({where}) are read; a relative path is taken under the first. Ingesting the
same file again changes nothing. Secrets are masked before storing. Not for live exporters: point
them at `mcp-sessions collect`. Example: ingest_recording(path="exports/checkout.json")""",
    )
    def ingest_recording(
        ctx: Context,
        path: Annotated[
            str, Field(max_length=4096, pattern=r"^[^\x00]*$", description="file or folder under an allowed root")
        ],
        budget_tokens: BudgetTokens = DEFAULT_BUDGET_TOKENS,
    ) -> Annotated[CallToolResult, IngestReport]:
        with tool_errors():
            files = confine(path, roots)
            results = [ingest_file(store_of(ctx), f, rules=rules) for f in files]
            text, model = render_ingest(results, budget=Budget(budget_tokens))
            return result(text, model)
