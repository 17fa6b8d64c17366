"""`mcp-sessions demo`: the shipped demo recordings, ingested and questioned the way an agent would.

The dataset is package data (mcp_sessions/demo_data/, built from fixtures/ by
fixtures/demo_data.py), so the demo runs from any installed copy. It ingests it into a fresh
database, starts `mcp-sessions serve` as a subprocess, connects a real MCP client over stdio
and prints every call with its answer, so a newcomer sees what an IDE agent sees; it ends with
the lines that connect Claude Code, Cursor and VS Code.

Quiet by default: one line for the ingest and each answer cut to ANSWER_LINES lines (saying how
many more there are); verbose: every ingested file and every line.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_sessions.config import DEFAULT_SESSION_GAP_NS
from mcp_sessions.errors import InputError

if TYPE_CHECKING:
    from mcp_sessions.redact import RedactionRules

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"
ANSWER_LINES = 40


def run_demo(
    db_path: Path | None,
    recordings: Path | None,
    *,
    verbose: bool = False,
    rules: RedactionRules | None = None,
    session_gap_ns: int = DEFAULT_SESSION_GAP_NS,
    out: Callable[[str], None] = print,
) -> int:
    """Runs the demo into `db_path` (a temporary file if None); 1 if a recording failed, else 0."""
    import anyio

    from mcp_sessions.ingest import ingest_paths
    from mcp_sessions.redact import DEFAULT_RULES
    from mcp_sessions.store import Store

    source = recordings or DEMO_DATA
    if not source.exists():
        hint = "check the path" if recordings else "this installation lacks its demo data; reinstall mcp-sessions"
        raise InputError(f"no recordings at {source}; {hint}")
    with tempfile.TemporaryDirectory(prefix="mcp-sessions-demo-") as tmp:
        db = db_path or Path(tmp) / "demo.db"
        if verbose:
            out(f"$ mcp-sessions ingest {source} --db {db}")
        with Store(db) as store:
            ingested = ingest_paths(store, [str(source)], rules=rules or DEFAULT_RULES, session_gap_ns=session_gap_ns)
            results = list(ingested)
        failed = [r for r in results if r.status == "failed"]
        for r in results:
            if verbose or r.status == "failed":
                c = r.counts
                detail = r.error if r.status == "failed" else f"{c.spans_stored} spans, {c.events_stored} events"
                out(f"  {r.status:<9} {r.source}: {detail}")
        if failed:
            return 1
        spans = sum(r.counts.spans_stored for r in results)
        events = sum(r.counts.events_stored for r in results)
        where = str(db) if db_path else "a temporary database"
        out(f"Ingested {len(results)} recordings ({spans:,} spans, {events:,} browser events) into {where}.")
        anyio.run(_walk, db, out, verbose)
        out("")
        for line in connect_lines(db_path):
            out(line)
    return 0


async def _walk(db: Path, out: Callable[[str], None], verbose: bool) -> None:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_sessions", "serve", "--db", str(db)])
    async with Client(params, read_timeout_seconds=60) as client:
        tools = (await client.list_tools()).tools
        out(f"Connected to `mcp-sessions serve` over stdio: {len(tools)} tools: {', '.join(t.name for t in tools)}")

        async def ask(tool: str, args: dict[str, Any]) -> dict[str, Any]:
            rendered = ", ".join(f"{k}={v!r}" for k, v in args.items())
            out(f"\n>>> {tool}({rendered})\n")
            result = await client.call_tool(tool, args)
            lines = "\n".join(getattr(c, "text", "") for c in result.content).split("\n")
            if not verbose and len(lines) > ANSWER_LINES:
                hidden = len(lines) - ANSWER_LINES
                lines = [*lines[:ANSWER_LINES], f"… {hidden} more lines (`mcp-sessions demo -v` prints them all)"]
            out("\n".join(lines))
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


def server_command(db_path: Path | None) -> list[str]:
    """How an IDE starts the server: `mcp-sessions serve` if the command is on PATH, else this Python's module."""
    head = ["mcp-sessions"] if shutil.which("mcp-sessions") else [sys.executable, "-m", "mcp_sessions"]
    return [*head, "serve", *(["--db", str(db_path.resolve())] if db_path else [])]


def connect_lines(db_path: Path | None) -> list[str]:
    """The lines that connect Claude Code, Cursor and VS Code to this server (each client's documented syntax)."""
    command, *args = server_command(db_path)
    stdio = {"command": command, "args": args}
    vscode = {"type": "stdio", **stdio}
    what = f"the demo database {db_path.resolve()}" if db_path else "your database (`mcp-sessions config` says which)"
    return [
        f"Connect your agent to {what}; fill it with `mcp-sessions ingest PATH` or `mcp-sessions collect`:",
        "  Claude Code:  claude mcp add --transport stdio mcp-sessions -- " + shlex.join([command, *args]),
        "  Cursor:       .cursor/mcp.json  " + json.dumps({"mcpServers": {"mcp-sessions": stdio}}),
        "  VS Code:      code --add-mcp " + shlex.quote(json.dumps({"name": "mcp-sessions", **vscode})),
        "                (or .vscode/mcp.json: " + json.dumps({"servers": {"mcp-sessions": vscode}}) + ")",
    ]
