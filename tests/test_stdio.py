"""The entry point as an IDE starts it: `mcp-sessions serve` as a subprocess over stdio."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio


async def test_serve_over_stdio_answers_both_tools(otlp_db: Path):
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_sessions", "serve", "--db", str(otlp_db)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    async with Client(params, read_timeout_seconds=60) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"list_sessions", "get_trace"} <= tools
        sessions = await client.call_tool("list_sessions", {})
        assert not sessions.is_error
        assert sessions.structured_content["total"] == 1
        traces = await client.call_tool("list_traces", {"sort": "largest", "limit": 1})
        trace_id = traces.structured_content["traces"][0]["trace_id"]
        trace = await client.call_tool("get_trace", {"trace_id": trace_id})
        assert not trace.is_error
        assert trace.structured_content["trace"]["trace_id"] == trace_id
        assert f"# Trace `{trace_id}`" in trace.content[0].text
