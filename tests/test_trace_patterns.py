"""Patterns in any trace, sessioned or not: found at ingest, shown by list_traces, get_trace and find_slow_spans.

The recordings come from the real OpenTelemetry SDK with the official ASGI and DB-API
instrumentation (tests/sdk_catalog.py), carrying no session key, and from the public samples.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client
from sdk_catalog import ITEM_QUERY, Catalog, cart

from mcp_sessions.analysis.fingerprint import normalize_sql
from mcp_sessions.analysis.patterns import calls_tree, trace_patterns
from mcp_sessions.analysis.tree import build_tree
from mcp_sessions.ingest import ingest_file, ingest_paths
from mcp_sessions.server import create_server
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite import queries
from mcp_sessions.store.sqlite.retention import prune_older_than

LOOP = normalize_sql(ITEM_QUERY)
LOOP_TRACES, LOOP_LENGTHS = 8, (12, 12, 12, 12, 12, 12, 12, 20)


@pytest.fixture
def unsessioned_db(tmp_path: Path) -> Path:
    """Eight cart requests that load each item on its own, two that batch them, one short cart; no session ids."""
    app = Catalog()
    for length in LOOP_LENGTHS:
        app.run("/api/cart", cart(range(1, length + 1)))
    for _ in range(2):
        app.run("/api/cart", cart(range(1, 13), batch=True))
    app.run("/api/cart", cart([1, 2]))  # two lookups are ordinary code, not a loop
    db = tmp_path / "catalog.db"
    with Store(db) as store:
        result = ingest_file(store, app.export(tmp_path / "catalog-otlp.json"))
    assert result.status == "stored", result.error
    assert result.counts.sessions_touched == 0
    return db


def stored_patterns(store: Store) -> set[tuple]:
    return set(
        store.conn.execute(
            "SELECT trace_id, kind, service, fingerprint, parent_span_id, parent_name, count, total_ns, impact_ns, "
            "span_id FROM trace_patterns"
        ).fetchall()
    )


def live_patterns(store: Store) -> set[tuple]:
    """What the detectors find in every stored trace read back as model spans."""
    out = set()
    for (trace_id,) in store.conn.execute("SELECT trace_id FROM traces").fetchall():
        for p in trace_patterns(calls_tree(build_tree(queries.trace_spans(store.conn, trace_id)))):
            out.add(
                (
                    p.trace_id,
                    p.kind,
                    p.service,
                    p.fingerprint,
                    p.parent_span_id,
                    p.parent_name,
                    p.count,
                    p.total_ns,
                    p.impact_ns,
                    p.span_ids[0],
                )
            )
    return out


@pytest.mark.anyio
async def test_a_loop_in_unsessioned_traces_is_an_n_plus_one_in_every_tool(unsessioned_db: Path) -> None:
    async with Client(create_server(unsessioned_db)) as client:
        listed = await client.call_tool("list_traces", {"unsessioned": True, "limit": 50})
        slow = await client.call_tool("find_slow_spans", {})
        traces = listed.structured_content["traces"]
        loops = {t["trace_id"]: t for t in traces if t["patterns"]}
        views = {tid: await client.call_tool("get_trace", {"trace_id": tid}) for tid in loops}

    assert len(traces) == LOOP_TRACES + 3
    assert sorted(p["count"] for t in loops.values() for p in t["patterns"]) == sorted(LOOP_LENGTHS)
    for t in loops.values():
        (mark,) = t["patterns"]
        assert (mark["kind"], mark["fingerprint"], mark["service"]) == ("n_plus_one", LOOP, "catalog")
        assert mark["parent_span_id"] == t["root_span_id"]  # the loop runs in the request handler
        assert f"`{t['trace_id']}`" in listed.content[0].text
    lines = {line.split("`")[1]: line for line in listed.content[0].text.splitlines() if line.startswith("- `")}
    assert all(("**N+1** ×" in line) == (tid in loops) for tid, line in lines.items())

    for tid, view in views.items():
        (found,) = view.structured_content["patterns"]
        assert found["kind"] == "n_plus_one" and found["count"] == loops[tid]["patterns"][0]["count"]
        assert found["parent_span_id"] == loops[tid]["root_span_id"]
        text = view.content[0].text
        root_line = next(line for line in text.splitlines() if line.startswith(f"- `{found['parent_span_id']}`"))
        assert f"**N+1** ×{found['count']} below" in root_line  # named at the span that runs the loop
        assert "## Patterns" in text and f"made by `{found['parent_span_id']}`" in text

    row = next(op for op in slow.structured_content["operations"] if op["fingerprint"] == LOOP)
    assert row["count"] == sum(LOOP_LENGTHS) + 2 and row["trace_count"] == LOOP_TRACES + 1
    loop = row["n_plus_one"]
    assert (loop["traces"], loop["fewest_per_trace"], loop["most_per_trace"]) == (LOOP_TRACES, 12, 20)
    assert loop["calls"] == sum(LOOP_LENGTHS)
    assert loop["worst_parent_span_id"] == loops[loop["worst_trace_id"]]["root_span_id"]
    assert f"**N+1**: 12–20× per trace in {LOOP_TRACES} of {LOOP_TRACES + 1} traces" in slow.content[0].text
    others = [op for op in slow.structured_content["operations"] if op["fingerprint"] != LOOP]
    assert others and all(op["n_plus_one"] is None for op in others)


@pytest.mark.anyio
async def test_find_slow_spans_names_the_loop_within_each_scope(unsessioned_db: Path) -> None:
    async with Client(create_server(unsessioned_db)) as client:
        listed = await client.call_tool("list_traces", {"sort": "slowest", "limit": 50})
        traces = listed.structured_content["traces"]
        looped = next(t for t in traces if t["patterns"])
        plain = next(t for t in traces if not t["patterns"])
        in_trace = await client.call_tool("find_slow_spans", {"trace_id": looped["trace_id"]})
        elsewhere = await client.call_tool("find_slow_spans", {"trace_id": plain["trace_id"]})
        by_service = await client.call_tool("find_slow_spans", {"service": "catalog"})
        in_window = await client.call_tool("find_slow_spans", {"since": "2000-01-01T00:00:00Z"})
    (mine,) = [op for op in in_trace.structured_content["operations"] if op["fingerprint"] == LOOP]
    assert mine["n_plus_one"]["traces"] == 1
    assert mine["n_plus_one"]["calls"] == looped["patterns"][0]["count"] == mine["count"]
    assert all(op["n_plus_one"] is None for op in elsewhere.structured_content["operations"])
    for result in (by_service, in_window):
        (row,) = [op for op in result.structured_content["operations"] if op["fingerprint"] == LOOP]
        assert row["n_plus_one"]["traces"] == LOOP_TRACES


def test_stored_patterns_are_what_the_detectors_find_in_every_trace_read_back(
    unsessioned_db: Path, samples: Path, tmp_path: Path
) -> None:
    with Store(unsessioned_db) as store:
        assert stored_patterns(store) == live_patterns(store) != set()
    with Store(tmp_path / "samples.db") as store:
        results = list(ingest_paths(store, [str(samples / kind) for kind in ("otlp", "jaeger", "zipkin", "har")]))
        assert [r.error for r in results if r.status == "failed"] == []
        assert stored_patterns(store) == live_patterns(store) != set()


def test_traces_derived_again_keep_their_patterns_exact_and_retention_takes_them_away(tmp_path: Path) -> None:
    app = Catalog()
    for _ in range(3):
        app.run("/api/cart", cart(range(1, 7)))
    spans = list(app.spans())
    db = tmp_path / "split.db"
    with Store(db) as store:
        # The loop's spans arrive in two files: the trace is derived again, its patterns replaced.
        for part, chunk in enumerate((spans[::2], spans[1::2])):
            assert ingest_file(store, app.export(tmp_path / f"part-{part}.json", chunk)).status == "stored"
        kept = stored_patterns(store)
        assert kept == live_patterns(store) and {row[6] for row in kept} == {6}
        assert len(kept) == 3
        prune_older_than(store.conn, 1 << 62)
        assert store.conn.execute("SELECT count(*) FROM traces").fetchone()[0] == 0
        assert stored_patterns(store) == set()


def test_pattern_detection_on_stored_rows_leaves_its_input_unchanged(unsessioned_db: Path) -> None:
    with Store(unsessioned_db) as store:
        (trace_id,) = store.conn.execute("SELECT trace_id FROM trace_patterns LIMIT 1").fetchone()
        tree = calls_tree(build_tree(queries.trace_spans(store.conn, trace_id)))
    before = (tree.spans, tree.parent, tree.children, tree.clamped)
    assert trace_patterns(tree)
    assert (tree.spans, tree.parent, tree.children, tree.clamped) == before
