"""Stored data the tools must survive: very deep and very wide traces, huge names, odd times."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from mcp_sessions.formats.coerce import MAX_TIME_NS
from mcp_sessions.ingest import ingest_file
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

pytestmark = pytest.mark.anyio


def _span(trace: str, i: int, parent: int | None, start: int, end: int, name: str) -> dict:
    span = {
        "traceId": trace,
        "spanId": format(i + 1, "016x"),
        "name": name,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
    }
    if parent is not None:
        span["parentSpanId"] = format(parent + 1, "016x")
    return span


@pytest.fixture
def odd_db(tmp_path: Path) -> Path:
    deep = [_span("d" * 32, i, i - 1 if i else None, i, 20_000 - i, f"level {i}") for i in range(5_000)]
    wide = [_span("e" * 32, 0, None, 0, 10**9, "root")]
    wide += [_span("e" * 32, i, 0, i * 10, i * 10 + 5, "x" * 5_000 if i == 7 else "SELECT 1") for i in range(1, 5_000)]
    odd = [_span("f" * 32, 0, None, 0, 0, ""), _span("f" * 32, 1, 0, MAX_TIME_NS // 2, MAX_TIME_NS, "far future")]
    spans = deep + wide + odd
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}))
    db = tmp_path / "odd.db"
    with Store(db) as store:
        assert ingest_file(store, path).status == "stored"
    return db


@pytest.mark.parametrize("trace_id", ["d" * 32, "e" * 32, "f" * 32])
async def test_tools_answer_within_budget_on_pathological_traces(odd_db: Path, trace_id: str):
    async with Client(create_server(odd_db)) as client:
        result = await client.call_tool("get_trace", {"trace_id": trace_id, "max_spans": 300, "budget_tokens": 6_000})
        listing = await client.call_tool("list_traces", {"sort": "largest"})
    assert not result.is_error, result.content[0].text
    assert len(result.content[0].text) <= 6_000 * 4
    assert not listing.is_error
