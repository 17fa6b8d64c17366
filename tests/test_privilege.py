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


# ---- the read-only server never creates or writes the file --------------------------------------
#
# CI runs as root, whom a chmod'ed folder does not stop; so besides the read-only folder these tests
# check what the read-only code path itself does: the file's bytes and mtime are unchanged and no
# -wal or -shm file appears, whoever runs them.


def snapshot(db: Path) -> tuple[str, int, list[str]]:
    import hashlib

    return (
        hashlib.sha256(db.read_bytes()).hexdigest(),
        db.stat().st_mtime_ns,
        sorted(p.name for p in db.parent.iterdir()),
    )


async def ask_every_kind_of_question(db: Path) -> None:
    async with Client(create_server(db)) as client:
        sessions = await client.call_tool("list_sessions", {})
        traces = await client.call_tool("list_traces", {"limit": 3})
        trace = await client.call_tool("get_trace", {"trace_id": traces.structured_content["traces"][0]["trace_id"]})
        slow = await client.call_tool("find_slow_spans", {})
        errors = await client.call_tool("find_errors", {})
    assert not any(r.is_error for r in (sessions, traces, trace, slow, errors))


async def test_the_read_only_server_leaves_the_file_and_folder_untouched(otlp_db: Path):
    before = snapshot(otlp_db)
    assert not any(name.endswith(("-wal", "-shm")) for name in before[2])
    await ask_every_kind_of_question(otlp_db)
    assert snapshot(otlp_db) == before


async def test_a_database_in_a_read_only_folder_is_served(otlp_db: Path):
    import os

    folder = otlp_db.parent
    before = snapshot(otlp_db)
    os.chmod(otlp_db, 0o444)
    os.chmod(folder, 0o555)
    try:
        await ask_every_kind_of_question(otlp_db)
        from mcp_sessions.store import Store

        with Store(otlp_db, readonly=True) as store:
            assert store.read_mode == "immutable"  # no writer can exist here: nothing to coordinate with
    finally:
        os.chmod(folder, 0o755)
        os.chmod(otlp_db, 0o644)
    assert snapshot(otlp_db)[0:2] == before[0:2] and snapshot(otlp_db)[2] == before[2]


async def test_a_missing_database_is_an_error_and_nothing_is_created(tmp_path: Path):
    db = tmp_path / "typo" / "sesions.db"
    with pytest.raises(Exception) as raised:
        async with Client(create_server(db)) as client:
            await client.list_tools()
    assert "no database at" in "".join(str(e) for e in _chain(raised.value))
    assert not (tmp_path / "typo").exists()


def _chain(exc: BaseException) -> list[BaseException]:
    out = [exc]
    for inner in getattr(exc, "exceptions", ()):
        out += _chain(inner)
    if exc.__cause__ is not None:
        out += _chain(exc.__cause__)
    return out


def test_a_writer_started_beside_the_read_only_store_is_seen(otlp_db: Path, samples: Path):
    from mcp_sessions.ingest import ingest_file
    from mcp_sessions.store import Store
    from mcp_sessions.store.sqlite import queries

    with Store(otlp_db, readonly=True) as reader:
        assert reader.read_mode == "immutable"
        total = queries.totals(reader.conn)
        with Store(otlp_db) as writer:
            extra = samples / "zipkin"
            results = [ingest_file(writer, f) for f in sorted(extra.glob("*.json"))[:1]]
            assert results[0].status == "stored", results[0].error
            during = queries.totals(reader.conn)  # a -wal exists now: the reader reopens beside the writer
            assert reader.read_mode == "ro"
        after = queries.totals(reader.conn)
    assert during == after != total


async def test_an_older_schema_asks_for_migrate_without_touching_the_file(db_path: Path):
    import sqlite3
    import subprocess
    import sys

    from mcp_sessions.errors import SchemaTooOldError
    from mcp_sessions.store import Store
    from mcp_sessions.store.sqlite.schema import MIGRATIONS, migrate

    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(conn, target=MIGRATIONS[-2].version)
    conn.close()
    before = snapshot(db_path)
    with pytest.raises(SchemaTooOldError, match="run `mcp-sessions migrate --db"):
        Store(db_path, readonly=True)
    served = subprocess.run(
        [sys.executable, "-m", "mcp_sessions", "serve", "--db", str(db_path)], capture_output=True, timeout=60
    )
    assert served.returncode == 2 and "mcp-sessions migrate" in served.stderr.decode()
    assert snapshot(db_path) == before
    migrated = subprocess.run(
        [sys.executable, "-m", "mcp_sessions", "migrate", "--db", str(db_path)], capture_output=True, timeout=60
    )
    assert migrated.returncode == 0, migrated.stderr
    assert f"to {MIGRATIONS[-1].version}" in migrated.stdout.decode()
    again = subprocess.run(
        [sys.executable, "-m", "mcp_sessions", "migrate", "--db", str(db_path)], capture_output=True, timeout=60
    )
    assert "nothing to do" in again.stdout.decode()
    Store(db_path, readonly=True).close()


def test_serve_and_sessions_on_a_missing_database_say_what_to_run(tmp_path: Path):
    import subprocess
    import sys

    db = tmp_path / "missing" / "sessions.db"
    for command in ("serve", "sessions"):
        result = subprocess.run(
            [sys.executable, "-m", "mcp_sessions", command, "--db", str(db)], capture_output=True, timeout=60
        )
        assert result.returncode == 2
        assert f"no database at {db}; run `mcp-sessions ingest" in result.stderr.decode()
    assert not db.parent.exists()
