"""`mcp-sessions demo`: the bundled recordings, ingested and questioned the way an agent would.

It starts `mcp-sessions serve` as a subprocess, connects a real MCP client over stdio and
prints every call with its answer, so a newcomer sees exactly what an IDE agent sees.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from mcp_sessions.errors import InputError
from mcp_sessions.ingest import ingest_paths
from mcp_sessions.store import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BUNDLED = FIXTURES / "recordings"
BUNDLED_BROWSER = FIXTURES / "recordings-browser"  # rrweb and HAR of the same sessions


def run_demo(db_path: Path | None, recordings: Path | None, out: Callable[[str], None] = print) -> int:
    source = recordings or BUNDLED
    sources = [source] if recordings or not BUNDLED_BROWSER.exists() else [source, BUNDLED_BROWSER]
    if not source.exists():
        raise InputError(f"no recordings at {source}; run from a checkout of mcp-sessions or pass --recordings PATH")
    with tempfile.TemporaryDirectory(prefix="mcp-sessions-demo-") as tmp:
        db = db_path or Path(tmp) / "demo.db"
        out(f"$ mcp-sessions ingest {' '.join(map(str, sources))} --db {db}")
        with Store(db) as store:
            results = list(ingest_paths(store, [str(s) for s in sources]))
        for r in results:
            c = r.counts
            detail = (
                r.error
                if r.status == "failed"
                else f"{c.spans_stored} spans, {c.logs_stored} logs, {c.events_stored} events"
            )
            out(f"  {r.status:<9} {r.source}: {detail}")
        if any(r.status == "failed" for r in results):
            return 1
        out("")
        anyio.run(_walk, db, out)
    return 0


async def _walk(db: Path, out: Callable[[str], None]) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_sessions", "serve", "--db", str(db)])
    async with Client(params, read_timeout_seconds=60) as client:
        tools = (await client.list_tools()).tools
        out(f"Connected to `mcp-sessions serve` over stdio: {len(tools)} tools: {', '.join(t.name for t in tools)}")

        async def ask(tool: str, args: dict[str, Any]) -> dict[str, Any]:
            rendered = ", ".join(f"{k}={v!r}" for k, v in args.items())
            out(f"\n>>> {tool}({rendered})\n")
            result = await client.call_tool(tool, args)
            out("\n".join(getattr(c, "text", "") for c in result.content))
            return result.structured_content or {}

        listed = {t.name for t in tools}
        sessions = await ask("list_sessions", {"sort": "slowest", "limit": 5})
        if not sessions.get("sessions"):
            return
        slowest = sessions["sessions"][0]["session_id"]
        await ask("get_session", {"session_id": slowest})
        slow = await ask("find_slow_spans", {"session_id": slowest, "limit": 5})
        if slow.get("operations"):
            worst = slow["operations"][0]
            await ask("get_trace", {"trace_id": worst["worst_trace_id"], "max_spans": 20})
        if "diff_against_baseline" in listed:
            await ask("diff_against_baseline", {"session_id": slowest})
        failing = await ask("list_sessions", {"has_errors": True, "limit": 3})
        if failing.get("sessions"):
            broken = failing["sessions"][0]["session_id"]
            await ask("find_errors", {"session_id": broken, "limit": 5})
            await ask("get_timeline", {"session_id": broken, "kinds": ["click", "input", "console", "network"]})
            if "draft_regression_test" in listed:
                await ask("draft_regression_test", {"session_id": broken, "style": "api"})
