"""Error texts name the real cause: disk full, another writer, a value out of range, a file that is no file,
an absurd tool argument. Never "unexpected OperationalError … please report this file", never a bare
"Error executing tool X"."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mcp_sessions.errors import DatabaseBusyError, StorageFullError
from mcp_sessions.ingest import ingest_file, ingest_paths
from mcp_sessions.server import create_server
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite.writer import IngestWriter


def count(db: Path, table: str = "spans") -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_disk_full_names_the_disk_and_stores_nothing(db_path: Path, samples: Path):
    big = samples / "otlp" / "highlight-traces.json"
    with Store(db_path) as store:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 8}")  # SQLITE_FULL, as a full disk gives it
        with pytest.raises(StorageFullError) as raised:
            ingest_file(store, big)
        assert str(raised.value).startswith(f"the disk holding {db_path} is full; nothing stored")
        assert "OperationalError" not in str(raised.value) and "please report" not in str(raised.value)
        store.conn.execute("PRAGMA max_page_count = 1073741823")
        assert ingest_file(store, big).status == "stored"  # the failed write left no transaction open
    assert count(db_path, "ingests") == 1


def test_disk_full_from_the_cli_is_one_line_naming_the_cause(db_path: Path, samples: Path, tmp_path: Path):
    # A tiny filesystem is not available to an unprivileged test; the CLI's text comes from the same
    # StorageFullError the test above raises, so check that main() prints it as one line with exit 2.
    from mcp_sessions import cli

    def full(*_args: object, **_kwargs: object):
        raise StorageFullError(f"the disk holding {db_path} is full; nothing stored")

    original = cli.COMMANDS["ingest"]
    cli.COMMANDS["ingest"] = dataclasses.replace(original, run=full)
    try:
        assert cli.main(["ingest", str(samples / "otlp"), "--db", str(db_path)]) == 2
    finally:
        cli.COMMANDS["ingest"] = original


def hold_write_lock(db: Path, release: threading.Event, held: threading.Event) -> None:
    """What a second `mcp-sessions ingest` does while it writes: an IngestWriter's open transaction."""
    with Store(db) as other, IngestWriter(other.conn, source="other", fmt="otlp-json", content_hash="x" * 64):
        held.set()
        release.wait(30)


def test_a_concurrent_ingest_waits_then_says_who_holds_the_file(db_path: Path, samples: Path):
    Store(db_path).close()
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(db_path, release, held))
    holder.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        with Store(db_path, busy_timeout_s=0.5) as store, pytest.raises(DatabaseBusyError) as raised:
            list(ingest_paths(store, [str(samples / "otlp" / "spec-example-trace.json")]))
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(10)
    assert str(raised.value) == f"another mcp-sessions process is writing {db_path}; retry when it ends"
    assert waited >= 0.4  # it waited for the lock before giving up
    with Store(db_path) as store:  # once the other writer ended, the same ingest goes through
        assert [r.status for r in ingest_paths(store, [str(samples / "otlp" / "spec-example-trace.json")])] == [
            "stored"
        ]


def test_a_concurrent_ingest_from_the_cli(db_path: Path, samples: Path):
    Store(db_path).close()
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(db_path, release, held))
    holder.start()
    try:
        assert held.wait(10)
        argv = ["ingest", str(samples / "otlp"), "--db", str(db_path), "--wait", "0.5"]
        result = subprocess.run(
            [sys.executable, "-m", "mcp_sessions", *argv],
            capture_output=True,
            timeout=120,
        )
    finally:
        release.set()
        holder.join(10)
    err = result.stderr.decode()
    assert result.returncode == 2
    assert f"another mcp-sessions process is writing {db_path}; retry when it ends" in err
    assert "unexpected" not in err and "OperationalError" not in err


def otlp(span: dict) -> dict:
    base = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "x"}
    return {"resourceSpans": [{"scopeSpans": [{"spans": [{**base, **span}]}]}]}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            otlp({"startTimeUnixNano": "1", "endTimeUnixNano": "18446744073709551615"}),
            "resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano 18446744073709551615 is out of range",
        ),
        (otlp({"startTimeUnixNano": 1e30}), "startTimeUnixNano 1e+30 is out of range"),
        (
            otlp({"startTimeUnixNano": "1", "attributes": [{"key": "n", "value": {"intValue": str(2**70)}}]}),
            "attributes.n 1180591620717411303424 is out of range",
        ),
        (
            [{"traceId": "a" * 16, "id": "b" * 16, "name": "get", "timestamp": 10**18, "duration": 5}],
            "start time 1000000000000000000000 is out of range",
        ),
    ],
    ids=["otlp-end-2^64-1", "otlp-1e30", "otlp-int-attribute", "zipkin-microseconds-overflow"],
)
def test_a_value_out_of_range_in_a_file_names_the_field(tmp_path: Path, db_path: Path, doc: object, expected: str):
    path = tmp_path / "poison.json"
    path.write_text(json.dumps(doc))
    with Store(db_path) as store:
        result = ingest_file(store, path)
    assert result.status == "failed"
    assert expected in (result.error or ""), result.error
    assert "unexpected" not in (result.error or "")
    assert count(db_path) == 0 and count(db_path, "ingests") == 0


def test_a_non_finite_or_huge_number_in_a_promoted_attribute_is_stored_without_its_column(
    tmp_path: Path, db_path: Path
):
    attrs = [
        {"key": "http.response.status_code", "value": {"doubleValue": "Infinity"}},
        {"key": "code.lineno", "value": {"stringValue": "9" * 30}},
    ]
    path = tmp_path / "odd-numbers.json"
    path.write_text(json.dumps(otlp({"startTimeUnixNano": "1", "attributes": attrs})))
    with Store(db_path) as store:
        result = ingest_file(store, path)
    assert result.status == "stored", result.error
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT http_status, code_lineno FROM spans").fetchall() == [(None, None)]


def test_a_fifo_is_refused_without_being_opened(tmp_path: Path, db_path: Path):
    fifo = tmp_path / "recordings" / "pipe.json"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    results: list = []
    with Store(db_path) as store:
        worker = threading.Thread(target=lambda: results.extend(ingest_paths(store, [str(fifo.parent)])))
        worker.start()
        worker.join(10)
        hung = worker.is_alive()
        if hung:  # unblock the reader so the test process can end
            with open(fifo, "wb"):
                pass
            worker.join(10)
    assert not hung, "ingest blocked opening a FIFO"
    assert [r.status for r in results] == ["failed"]
    assert "is a FIFO (named pipe), not a regular file" in results[0].error


def test_the_ingest_tool_refuses_a_fifo_and_never_hangs(tmp_path: Path, db_path: Path):
    root = tmp_path / "recordings"
    root.mkdir()
    os.mkfifo(root / "pipe.json")

    async def call() -> object:
        with anyio.fail_after(20):
            async with Client(create_server(db_path, ingest_roots=[root])) as client:
                return await client.call_tool("ingest_recording", {"path": "pipe.json"})

    result = anyio.run(call)
    assert result.structured_content["failed"] == 1  # type: ignore[attr-defined]
    assert "not a regular file" in result.structured_content["files"][0]["error"]  # type: ignore[attr-defined]


def test_a_huge_sparse_file_is_refused_before_it_is_read(tmp_path: Path, db_path: Path):
    sparse = tmp_path / "sparse.bin"
    with sparse.open("wb") as handle:
        handle.truncate(3 * 1024**3)  # 3 GiB of zeros that take no disk
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with Store(db_path) as store:
        result = ingest_file(store, sparse)
    elapsed = time.monotonic() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert result.status == "failed"
    assert "over the 256 MiB limit for a whole document" in (result.error or "")
    assert grown_mb < 100, f"peak memory grew by {grown_mb:.0f} MB"
    assert elapsed < 60  # hashing the file is the only full read


def test_a_long_json_lines_line_is_refused_at_the_limit(tmp_path: Path):
    from mcp_sessions.errors import MalformedInputError
    from mcp_sessions.formats.detect import read_path

    path = tmp_path / "lines.jsonl"
    line = json.dumps(otlp({"startTimeUnixNano": "1"}))
    path.write_text(line + "\n" + line + "\n" + '{"resourceSpans": "' + "x" * 3_000_000 + '"}\n')
    with pytest.raises(MalformedInputError, match="line 3 is over the"), read_path(path, limit=100_000) as parsed:
        list(parsed.records)


# ---- tool arguments -------------------------------------------------------------------------------

ABSURD: dict[str, list[object]] = {
    "number": [1e308, -1e308, 10**30],
    "integer": [10**30, -(10**30)],
    "string": ["2999-01-01", "0001-01-01", "a\x00b", "x" * 100_000, "9" * 400 + "d"],
}


def schema_types(prop: dict) -> set[str]:
    types = {prop["type"]} if "type" in prop else set()
    for option in prop.get("anyOf", []):
        types |= schema_types(option)
    return types & set(ABSURD)


def test_absurd_arguments_to_every_tool_get_a_clear_answer(otlp_db: Path, tmp_path: Path):
    """Walk the tool registry: every argument of every tool, with values no caller should send."""
    shutil.copy(Path(__file__).parent.parent / "README.md", tmp_path / "readme.json")
    bare: list[str] = []

    async def main() -> int:
        calls = 0
        async with Client(create_server(otlp_db, ingest_roots=[tmp_path])) as client:
            listed = await client.call_tool("list_sessions", {})
            session = listed.structured_content["sessions"][0]["session_id"]
            traces = await client.call_tool("list_traces", {"limit": 1})
            trace = traces.structured_content["traces"][0]["trace_id"]
            for tool in (await client.list_tools()).tools:
                required = tool.input_schema.get("required", [])
                for name, prop in tool.input_schema["properties"].items():
                    for kind in schema_types(prop):
                        for value in ABSURD[kind]:
                            args = {r: trace if "trace" in r else session for r in required if r != "path"}
                            args.setdefault("path", "readme.json") if "path" in required else None
                            args[name] = value
                            result = await client.call_tool(tool.name, args)
                            calls += 1
                            text = result.content[0].text if result.content else ""
                            if result.is_error and text.rstrip(" .") == f"Error executing tool {tool.name}":
                                bare.append(f"{tool.name}({name}={str(value)[:30]!r})")
        return calls

    calls = anyio.run(main)
    assert calls > 50
    assert not bare, bare
