"""Span records that share ids: different ones are all kept and counted, identical ones stored once.

Real exports only: the OpenTelemetry SDK with a seeded id generator (two runs reuse ids),
one export re-sent with a span changed on the way, the same batch re-sent by a retrying
exporter, and the public Jaeger and Zipkin samples (Zipkin's shared RPC halves reuse the
client's span id on purpose and are told apart by `shared`, not by content).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client
from schema_shims import remove_newer_schemas
from sdk_catalog import Catalog, SeededIds, cart

from mcp_sessions.ingest import ingest_file, ingest_paths
from mcp_sessions.server import create_server
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite import schema


def span_rows(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT trace_id, span_id, shared, name, start_ns, attributes FROM spans ORDER BY id"
    ).fetchall()


def cli_ingest(db: Path, *paths: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mcp_sessions", "--db", str(db), "ingest", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_runs_of_a_seeded_id_generator_keep_every_span_and_say_so(tmp_path: Path) -> None:
    exports = []
    for run, ids in enumerate((range(1, 4), range(4, 10))):
        app = Catalog(ids=SeededIds(7))
        app.run("/api/cart", cart(ids, batch=run == 1))
        exports.append((app.export(tmp_path / f"run-{run}.json"), list(app.exporter.get_finished_spans())))
    first = json.loads(exports[0][0].read_text())["resourceSpans"][0]["scopeSpans"]
    second = json.loads(exports[1][0].read_text())["resourceSpans"][0]["scopeSpans"]
    first_ids = {s["spanId"] for scope in first for s in scope["spans"]}
    second_ids = {s["spanId"] for scope in second for s in scope["spans"]}
    reused = first_ids & second_ids
    assert reused  # the seed hands out the same trace and span ids again

    db = tmp_path / "seeded.db"
    out = cli_ingest(db, exports[0][0], exports[1][0])
    assert "already" not in out and "identical" not in out
    n = len(reused)
    assert f"{n} span{'s share their' if n > 1 else ' shares its'} trace and span id with a different record" in out
    with Store(db) as store:
        rows = span_rows(store.conn)
        assert len(rows) == len(first_ids) + len(second_ids)  # nothing collapsed
        assert store.conn.execute("SELECT sum(spans_id_reused), sum(spans_duplicate) FROM ingests").fetchone() == (
            n,
            0,
        )


@pytest.mark.anyio
async def test_a_trace_holding_records_that_share_ids_shows_them_all_and_says_so(tmp_path: Path) -> None:
    runs = []
    for run in range(2):
        app = Catalog(ids=SeededIds(11))
        app.run("/api/cart", cart(range(1, 7)))  # the same request twice, at different times
        runs.append(app.export(tmp_path / f"run-{run}.json"))
    db = tmp_path / "twice.db"
    with Store(db) as store:
        results = list(ingest_paths(store, [str(p) for p in runs]))
        (trace_id,) = {r[0] for r in span_rows(store.conn)}
        total = store.conn.execute("SELECT count(*) FROM spans").fetchone()[0]
    assert [r.counts.spans_id_reused for r in results] == [0, results[0].counts.spans_stored]
    async with Client(create_server(db)) as client:
        view = await client.call_tool("get_trace", {"trace_id": trace_id, "max_spans": 300, "budget_tokens": 6000})
        listed = await client.call_tool("list_traces", {})
    content = view.structured_content
    assert content["total_spans"] == content["shown_spans"] == total == 2 * results[0].counts.spans_stored
    assert content["shared_ids"] == total // 2
    assert f"**Shared ids**: {total // 2} spans share their span id with a different record" in view.content[0].text
    (root_id,) = {n["span_id"] for n in content["spans"] if n["parent_span_id"] is None}
    roots = [n for n in content["spans"] if n["span_id"] == root_id]
    assert len(roots) == 2 and [n["depth"] for n in roots] == [0, 0]
    # The earlier request's server span holds every child (they follow it in tree order); the later
    # copy stands beside it, childless, at the end.
    spans = content["spans"]
    assert spans[0]["span_id"] == spans[-1]["span_id"] == root_id
    assert spans[0]["offset_ms"] == 0 < spans[-1]["offset_ms"]
    assert all(n["depth"] > 0 for n in spans[1:-1])
    assert listed.structured_content["traces"][0]["span_count"] == total


def test_a_span_re_sent_changed_is_kept_beside_the_first_the_unchanged_ones_are_duplicates(tmp_path: Path) -> None:
    app = Catalog()
    app.run("/api/cart", cart(range(1, 4)))
    original = app.export(tmp_path / "original.json")
    document = json.loads(original.read_text())
    spans = [s for scope in document["resourceSpans"][0]["scopeSpans"] for s in scope["spans"]]
    changed = next(s for s in spans if s["kind"] == "SPAN_KIND_SERVER")
    changed["attributes"].append({"key": "deployment.note", "value": {"stringValue": "added by a processor"}})
    resent = tmp_path / "resent.json"
    resent.write_text(json.dumps(document, indent=1))  # other bytes: not the same file again

    db = tmp_path / "resent.db"
    with Store(db) as store:
        first = ingest_file(store, original)
        again = ingest_file(store, resent)
        assert store.conn.execute("SELECT count(*) FROM spans").fetchone()[0] == len(spans) + 1
    assert (first.counts.spans_stored, first.counts.spans_duplicate, first.counts.spans_id_reused) == (len(spans), 0, 0)
    assert (again.counts.spans_stored, again.counts.spans_duplicate, again.counts.spans_id_reused) == (
        1,
        len(spans) - 1,
        1,
    )


def test_a_retried_batch_and_a_batch_sent_twice_in_one_request_are_stored_once(tmp_path: Path) -> None:
    app = Catalog()
    app.run("/api/cart", cart(range(1, 5)))
    batch = app.export(tmp_path / "batch.json")
    document = json.loads(batch.read_text())
    count = sum(len(scope["spans"]) for scope in document["resourceSpans"][0]["scopeSpans"])
    doubled = tmp_path / "doubled.json"  # one request carrying the batch twice
    doubled.write_text(json.dumps({"resourceSpans": document["resourceSpans"] * 2}))
    retried = tmp_path / "retried.json"  # the exporter's retry, serialised anew
    retried.write_text(json.dumps(document, separators=(",", ":")))

    db = tmp_path / "retry.db"
    out = cli_ingest(db, doubled)
    assert f"{count} spans identical to one already read (stored once)" in out
    assert "different record" not in out and "already stored" not in out
    out = cli_ingest(db, retried)
    assert f"0 spans, 0 logs, 1 traces, 0 sessions, {count} spans identical to one already read (stored once)" in out
    with Store(db) as store:
        assert store.conn.execute("SELECT count(*) FROM spans").fetchone()[0] == count


def test_on_an_empty_database_the_jaeger_samples_say_what_shares_ids_and_what_repeats(
    samples: Path, tmp_path: Path
) -> None:
    ui = cli_ingest(tmp_path / "ui.db", samples / "jaeger" / "jaeger-ui_01.json")  # two different spans with id 2
    assert "5 spans" in ui and "1 span shares its trace and span id with a different record (both kept)" in ui
    assert "already" not in ui and "identical" not in ui
    twice = cli_ingest(tmp_path / "in.db", samples / "jaeger" / "jaeger-query-otlp2jaeger-in.json")  # one span, twice
    assert "1 spans" in twice and "1 span identical to one already read (stored once)" in twice
    assert "different record" not in twice and "already stored" not in twice


@pytest.mark.anyio
async def test_ingest_recording_reports_duplicates_and_shared_ids(samples: Path, tmp_path: Path) -> None:
    db = tmp_path / "tool.db"
    async with Client(create_server(db, ingest_roots=[samples / "jaeger"])) as client:
        ui = await client.call_tool("ingest_recording", {"path": str(samples / "jaeger" / "jaeger-ui_01.json")})
        twice = await client.call_tool(
            "ingest_recording", {"path": str(samples / "jaeger" / "jaeger-query-otlp2jaeger-in.json")}
        )
    (file,) = ui.structured_content["files"]
    assert (file["spans"], file["duplicates"], file["spans_id_reused"]) == (5, 0, 1)
    assert "1 span shares its trace and span id with a different record (both kept)" in ui.content[0].text
    (file,) = twice.structured_content["files"]
    assert (file["spans"], file["duplicates"], file["spans_id_reused"]) == (1, 1, 0)
    assert "1 span identical to one already read (stored once)" in twice.content[0].text


def test_zipkin_shared_halves_are_two_records_of_one_id_and_no_reuse_is_reported(samples: Path, tmp_path: Path) -> None:
    with Store(tmp_path / "zipkin.db") as store:
        results = list(ingest_paths(store, [str(samples / "zipkin")]))
        assert sum(r.counts.spans_id_reused for r in results) == 0
        pairs = store.conn.execute(
            "SELECT count(*) FROM spans s WHERE s.shared = 1 AND EXISTS (SELECT 1 FROM spans c "
            "WHERE c.trace_id = s.trace_id AND c.span_id = s.span_id AND c.shared = 0)"
        ).fetchone()[0]
    assert pairs > 0


def test_upgrading_to_schema_7_hashes_stored_spans_as_ingest_does_and_finds_their_patterns(tmp_path: Path) -> None:
    app = Catalog()
    for length in (6, 2):
        app.run("/api/cart", cart(range(1, length + 1)))
    export = app.export(tmp_path / "cart.json")
    db = tmp_path / "old.db"
    with Store(db) as store:
        ingest_file(store, export)
        hashes = store.conn.execute("SELECT id, record_hash FROM spans ORDER BY id").fetchall()
        patterns = store.conn.execute("SELECT * FROM trace_patterns ORDER BY trace_id, span_id").fetchall()
    assert patterns and all(h is not None for _, h in hashes)
    conn = sqlite3.connect(db, isolation_level=None)  # turn the file back into schema 6
    remove_newer_schemas(conn)
    conn.execute("PRAGMA user_version = 6")
    conn.close()
    with Store(db) as store:
        assert schema.current_version(store.conn) == schema.LATEST_VERSION
        assert store.conn.execute("SELECT id, record_hash FROM spans ORDER BY id").fetchall() == hashes
        assert store.conn.execute("SELECT * FROM trace_patterns ORDER BY trace_id, span_id").fetchall() == patterns
        again = ingest_file(store, export.rename(tmp_path / "cart-again.json"))  # another name, the same bytes
        assert again.status == "unchanged"
        resent = tmp_path / "cart-resent.json"
        resent.write_text(json.dumps(json.loads((tmp_path / "cart-again.json").read_text())))
        assert ingest_file(store, resent).counts.spans_duplicate == len(hashes)
