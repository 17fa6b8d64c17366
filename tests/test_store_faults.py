"""A database fault under a tool or a resource reaches the client as a retry hint, never as SQLite's text."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from mcp_sessions.ingest import ingest_paths
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

pytestmark = pytest.mark.anyio

SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "recordings-browser" / "shop" / "har"


async def test_a_broken_table_is_a_retry_hint_for_tools_and_resources(tmp_path: Path):
    db = tmp_path / "faults.db"
    with Store(db) as store:
        list(ingest_paths(store, [str(SHOP / "baseline.har")]))
        session_id = store.conn.execute("SELECT session_id FROM sessions LIMIT 1").fetchone()[0]
    async with Client(create_server(db)) as client:
        ok = await client.call_tool("get_timeline", {"session_id": session_id})
        assert not ok.is_error
        broken = sqlite3.connect(db)
        broken.execute("DROP TABLE events")  # every timeline query now fails inside SQLite
        broken.commit()
        broken.close()
        result = await client.call_tool("get_timeline", {"session_id": session_id})
        assert result.is_error
        text = result.content[0].text
        assert "could not answer this query; narrow the arguments or retry" in text and "events" not in text
        with pytest.raises(MCPError) as raised:
            await client.read_resource(f"session://{session_id}")
        assert "retry" in str(raised.value) and "no such table" not in str(raised.value)
