"""Least privilege: a read-only query server, and an ingest tool that only reads under its roots."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from mcp import Client
from mcp.server.mcpserver import Context

from mcp_sessions.server import create_server

pytestmark = pytest.mark.anyio


def count_spans(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM spans").fetchone()[0]
    finally:
        conn.close()


async def test_the_query_server_cannot_write(otlp_db: Path):
    server = create_server(otlp_db)

    @server.tool()
    def attempt_write(ctx: Context) -> str:  # registered by the test only: uses the server's own handle
        ctx.request_context.lifespan_context.store.conn.execute("DELETE FROM spans")
        return "deleted"

    async with Client(server) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("attempt_write", {})
    assert "ingest_recording" not in tools
    assert result.is_error
    assert count_spans(otlp_db) == 739


@pytest.fixture
def roots(tmp_path: Path, samples: Path) -> tuple[Path, Path]:
    allowed = tmp_path / "recordings"
    (allowed / "nested").mkdir(parents=True)
    shutil.copy(samples / "otlp" / "spec-example-trace.json", allowed / "trace.json")
    shutil.copy(samples / "otlp" / "highlight-nextjs.json", allowed / "nested" / "nextjs.json")
    outside = tmp_path / "private"
    outside.mkdir()
    shutil.copy(samples / "otlp" / "highlight-fs.json", outside / "secret-trace.json")
    return allowed, outside


async def test_ingest_tool_reads_under_its_root(roots, db_path: Path):
    allowed, _ = roots
    async with Client(create_server(db_path, ingest_roots=[allowed])) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "ingest_recording")
        first = await client.call_tool("ingest_recording", {"path": "trace.json"})
        folder = await client.call_tool("ingest_recording", {"path": str(allowed)})
    assert tool.annotations.read_only_hint is False and tool.annotations.destructive_hint is False
    assert not first.is_error and first.structured_content["stored"] == 1
    assert folder.structured_content == {**folder.structured_content, "stored": 1, "unchanged": 1, "failed": 0}
    assert count_spans(db_path) == 9


@pytest.mark.parametrize(
    "escape",
    [
        "../private/secret-trace.json",
        "{outside}/secret-trace.json",
        "link.json",
        "linkdir",
        "linkdir/secret-trace.json",
        "nested/../../private",
    ],
)
async def test_ingest_tool_refuses_every_way_out(roots, db_path: Path, escape: str):
    allowed, outside = roots
    (allowed / "link.json").symlink_to(outside / "secret-trace.json")
    (allowed / "linkdir").symlink_to(outside, target_is_directory=True)
    async with Client(create_server(db_path, ingest_roots=[allowed])) as client:
        result = await client.call_tool("ingest_recording", {"path": escape.format(outside=outside)})
    assert result.is_error
    assert "outside the allowed roots" in result.content[0].text
    assert count_spans(db_path) == 0


async def test_a_folder_keeps_its_own_files_and_drops_links_that_escape(roots, db_path: Path):
    allowed, outside = roots
    (allowed / "nested" / "escape.json").symlink_to(outside / "secret-trace.json")
    async with Client(create_server(db_path, ingest_roots=[allowed])) as client:
        result = await client.call_tool("ingest_recording", {"path": "nested"})
    sources = [f["source"] for f in result.structured_content["files"]]
    assert sources == [str(allowed / "nested" / "nextjs.json")]
    assert count_spans(db_path) == 8


async def test_missing_path_is_a_clear_error(roots, db_path: Path):
    allowed, _ = roots
    async with Client(create_server(db_path, ingest_roots=[allowed])) as client:
        result = await client.call_tool("ingest_recording", {"path": "nope.json"})
    assert result.is_error and "does not exist under the allowed roots" in result.content[0].text
