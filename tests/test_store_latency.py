"""The tables and query plans that make questions over all data fast give the same answers as reading every row.

Schema 4 keeps per-operation summaries, per-trace service rows and search text beside the
stored rows (store/summaries.py), kept exact by derivation (schema 5) and triggers. Here they are checked against a
fresh computation after ingest, after spans of a trace arrive late, after retention and after
an upgrade; and the global rankings and list filters built on them are checked against a
span-by-span or row-by-row reading of the same database.
"""

from __future__ import annotations

import json
import sqlite3
from functools import partial
from pathlib import Path

import pytest
from schema_shims import remove_newer_schemas, remove_schema_12

from mcp_sessions.ingest import ingest_file, ingest_paths
from mcp_sessions.model import CodeLocation, OperationRow, SpanScope
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite import insights, queries, retention, schema, summaries
from mcp_sessions.store.sqlite.paging import SORTS
from mcp_sessions.store.sqlite.scope import scope_where

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = [ROOT / "fixtures" / "recordings", ROOT / "fixtures" / "recordings-browser"]
N_PLUS_ONE = ROOT / "fixtures" / "recordings" / "shop" / "otlp" / "n-plus-one.jsonl"


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("latency") / "shop.db"
    with Store(db) as store:
        results = list(ingest_paths(store, [str(p) for p in RECORDINGS]))
    assert all(r.status == "stored" for r in results), [(r.source, r.error) for r in results]
    return db


@pytest.fixture
def conn(shop_db: Path) -> sqlite3.Connection:
    c = sqlite3.connect(f"{shop_db.resolve().as_uri()}?mode=ro", uri=True)
    yield c
    c.close()


def operations_of(conn: sqlite3.Connection) -> set[tuple]:
    return set(
        conn.execute(
            "SELECT service, fingerprint, span_count, trace_count, critical_ns, self_ns, total_ns FROM operations"
        )
    )


# --- the kept tables stay exact ---------------------------------------------------------------------------


def test_kept_tables_match_a_fresh_computation_after_ingest(conn: sqlite3.Connection):
    assert summaries.differences(conn) == {}
    assert conn.execute("SELECT count(*) FROM operations").fetchone()[0] > 10
    spans = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
    assert conn.execute("SELECT sum(span_count) FROM operations").fetchone()[0] == spans
    assert queries.totals(conn)["spans"] == spans


def split_late(source: Path, early: Path, late: Path) -> None:
    """Write the spans of `source` into two exports: the children first, every root span later."""
    with early.open("w") as first, late.open("w") as second:
        for line in source.read_text().splitlines():
            doc = json.loads(line)
            for target, keep in (
                (first, lambda s: s.get("parentSpanId")),
                (second, lambda s: not s.get("parentSpanId")),
            ):
                part = {
                    "resourceSpans": [
                        {
                            **rs,
                            "scopeSpans": [
                                {**ss, "spans": [s for s in ss["spans"] if keep(s)]} for ss in rs["scopeSpans"]
                            ],
                        }
                        for rs in doc.get("resourceSpans", [])
                    ]
                }
                target.write(json.dumps(part) + "\n")


def test_late_spans_and_late_roots_keep_every_kept_table_exact(tmp_path: Path):
    early, late = tmp_path / "early.jsonl", tmp_path / "late.jsonl"
    split_late(N_PLUS_ONE, early, late)
    with Store(tmp_path / "whole.db") as whole:
        assert ingest_file(whole, N_PLUS_ONE).status == "stored"
        expected = operations_of(whole.conn)
        expected_text = set(whole.conn.execute("SELECT * FROM trace_search"))
    with Store(tmp_path / "parts.db") as parts:
        assert ingest_file(parts, early).status == "stored"
        assert summaries.differences(parts.conn) == {}
        before = operations_of(parts.conn)
        assert ingest_file(parts, late).status == "stored"
        assert summaries.differences(parts.conn) == {}
        assert operations_of(parts.conn) == expected != before
        # the root arrived late: the trace's search text now names it, as if it had come first
        assert set(parts.conn.execute("SELECT * FROM trace_search")) == expected_text
        checkout = queries.list_traces(parts.conn, queries.TraceFilter(text="POST /api/checkout"))
        assert checkout.total >= 1 and all(t.root_name == "POST /api/checkout" for t in checkout.rows)


def test_retention_keeps_every_kept_table_exact(tmp_path: Path, shop_db: Path):
    db = tmp_path / "copy.db"
    db.write_bytes(shop_db.read_bytes())
    with Store(db) as store:
        users = [r[0] for r in store.conn.execute("SELECT DISTINCT user_id FROM sessions WHERE user_id IS NOT NULL")]
        assert users
        retention.forget_user(store.conn, users[0])
        assert summaries.differences(store.conn) == {}
        middle = store.conn.execute("SELECT min(end_ns) + (max(end_ns) - min(end_ns)) / 2 FROM sessions").fetchone()[0]
        retention.prune_older_than(store.conn, middle)
        assert summaries.differences(store.conn) == {}
        retention.prune_older_than(store.conn, 2**62)
        assert summaries.differences(store.conn) == {}
        for table in (
            "operations",
            "operation_traces",
            "operation_durations",
            "trace_services",
            "trace_search",
            "session_search",
        ):
            assert store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


def test_upgrading_from_schema_3_builds_the_kept_tables(tmp_path: Path, shop_db: Path):
    db = tmp_path / "old.db"
    db.write_bytes(shop_db.read_bytes())
    with Store(db) as store:
        expected = operations_of(store.conn)
    conn = sqlite3.connect(db, isolation_level=None)  # turn the file back into schema 3
    remove_newer_schemas(conn)
    for kind, name in conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'index', 'table') "
        "AND (name LIKE 'operation%' OR name LIKE '%_search' OR name LIKE 'trace_services%' OR name LIKE '%_derived_%' "
        "OR name IN ('spans_operation', 'traces_duration', 'traces_errors', 'traces_span_count', 'traces_end', "
        "'traces_route')) ORDER BY type = 'table'"
    ).fetchall():
        conn.execute(f"DROP {kind.upper()} IF EXISTS {name}")
    conn.execute("CREATE INDEX spans_fingerprint ON spans(fingerprint, duration_ns)")
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    with Store(db) as store:
        assert schema.current_version(store.conn) == schema.LATEST_VERSION
        assert summaries.differences(store.conn) == {}
        assert operations_of(store.conn) == expected


# --- global rankings read from them equal a span-by-span reading -----------------------------------------------


def scopes(conn: sqlite3.Connection) -> list[SpanScope]:
    """All data, a service, a route, and time windows whose edges cut through traces."""
    start, end = conn.execute("SELECT min(start_ns), max(end_ns) FROM spans").fetchone()
    cut = conn.execute(
        "SELECT start_ns + duration_ns / 2 FROM traces WHERE span_count > 5 ORDER BY start_ns LIMIT 1 OFFSET 3"
    ).fetchone()[0]
    later = conn.execute(
        "SELECT start_ns + duration_ns / 3 FROM traces WHERE span_count > 5 ORDER BY start_ns DESC LIMIT 1 OFFSET 2"
    ).fetchone()[0]
    return [
        SpanScope(),
        SpanScope(service="payments"),
        SpanScope(route="/api/checkout"),
        SpanScope(route="/api/checkout", service="shop"),
        SpanScope(since_ns=cut),
        SpanScope(until_ns=later),
        SpanScope(since_ns=cut, until_ns=later),
        SpanScope(since_ns=cut, until_ns=later, service="shop", route="/api/cart/coupon"),
        SpanScope(since_ns=start - 10, until_ns=end + 10),
        SpanScope(since_ns=end + 10),
    ]


def worst_key(conn: sqlite3.Connection, trace_id: str, span_id: str) -> tuple[int, int]:
    return conn.execute(
        "SELECT coalesce(critical_ns, 0), duration_ns FROM spans WHERE trace_id = ? AND span_id = ? "
        "ORDER BY critical_ns DESC LIMIT 1",
        (trace_id, span_id),
    ).fetchone()


def test_global_slow_operations_equal_a_span_by_span_computation(conn: sqlite3.Connection):
    for scope in scopes(conn):
        rows, total, critical_total = insights.slow_operations(conn, scope, 1000)
        # the per-scope path reads every span the scope's SQL condition selects and ranks them in Python
        expected, expected_total, expected_critical = insights._slow_operations_in(conn, scope, 1000)
        assert (total, critical_total) == (expected_total, expected_critical), scope
        assert [(r.service, r.fingerprint) for r in rows] == [(r.service, r.fingerprint) for r in expected], scope
        for got, want in zip(rows, expected, strict=True):
            figures = ("count", "trace_count", "critical_ns", "self_ns", "total_ns", "max_ns", "p50_ns", "p95_ns")
            assert [getattr(got, f) for f in figures] == [getattr(want, f) for f in figures], (scope, got.fingerprint)
            assert worst_key(conn, got.worst_trace_id, got.worst_span_id) == worst_key(
                conn, want.worst_trace_id, want.worst_span_id
            )
            assert got.worst_name == want.worst_name or worst_key(conn, got.worst_trace_id, got.worst_span_id)
    assert insights.slow_operations(conn, scopes(conn)[-1], 10) == ([], 0, 0)


@pytest.mark.parametrize("direct", [0, 10**9], ids=["walk-critical-index", "read-scope-whole"])
def test_global_slow_spans_equal_a_span_by_span_ranking(conn: sqlite3.Connection, monkeypatch, direct: int):
    monkeypatch.setattr(insights, "DIRECT_SPANS", direct)
    for scope in scopes(conn):
        where, params = scope_where(scope)
        expected = conn.execute(
            "SELECT s.trace_id, s.span_id FROM spans s "
            f"WHERE {where} ORDER BY +s.critical_ns DESC, s.self_ns DESC, s.id LIMIT 15",
            params,
        ).fetchall()
        count = conn.execute(f"SELECT count(*) FROM spans s WHERE {where}", params).fetchone()[0]
        rows, total = insights.slow_spans(conn, scope, 15)
        assert total == count, scope
        assert [(r.trace_id, r.span_id) for r in rows] == expected, scope


def test_global_failures_read_through_the_failed_spans_index(conn: sqlite3.Connection):
    for scope in [SpanScope(), SpanScope(service="shop"), SpanScope(route="/api/cart/coupon")]:
        where, params = scope_where(scope)
        plan = " ".join(
            r[3]
            for r in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT s.id FROM spans s INDEXED BY spans_failed WHERE "
                f"(s.status_code = 'error' OR s.exception_type IS NOT NULL) AND {where}",
                params,
            )
        )
        assert "spans_failed" in plan
        expected = {
            r[0]
            for r in conn.execute(
                f"SELECT s.span_id FROM spans s WHERE (s.status_code = 'error' OR s.exception_type IS NOT NULL) "
                f"AND {where}",
                params,
            )
        }
        found = insights.failures(conn, scope)
        assert expected and {span.span_id for _, span in found.spans} == expected, scope


def test_stream_spans_read_through_their_index_in_every_scope(tmp_path: Path, shop_db: Path):
    db = tmp_path / "streams.db"
    db.write_bytes(shop_db.read_bytes())
    with sqlite3.connect(db) as c:  # mark some spans of every kind as streams, so each scope holds some
        c.execute("UPDATE spans SET stream = 1 WHERE id % 7 = 0")
    conn = sqlite3.connect(db)
    trace_id, session_id = conn.execute(
        "SELECT s.trace_id, t.session_id FROM spans s JOIN traces t USING (trace_id) "
        "WHERE s.stream = 1 AND t.session_id IS NOT NULL LIMIT 1"
    ).fetchone()
    marked = 0
    for scope in [*scopes(conn), SpanScope(trace_id=trace_id), SpanScope(session_id=session_id)]:
        where, params = scope_where(scope)
        plan = " ".join(
            r[3]
            for r in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT count(*) FROM {insights._STREAM_SPANS} AND {where}", params
            )
        )
        assert "spans_stream" in plan, scope
        expected = conn.execute(
            f"SELECT trace_id, span_id, service, name, duration_ns FROM spans s NOT INDEXED WHERE s.stream = 1 "
            f"AND {where} ORDER BY duration_ns DESC, s.id",
            params,
        ).fetchall()
        rows, total = insights.streams(conn, scope, limit=1000)
        assert ([(r.trace_id, r.span_id, r.service, r.name, r.duration_ns) for r in rows], total) == (
            expected,
            len(expected),
        ), scope
        by_operation = conn.execute(
            "SELECT service, fingerprint, count(*) FROM spans s NOT INDEXED WHERE s.stream = 1 "
            f"AND fingerprint IS NOT NULL AND {where} GROUP BY service, fingerprint",
            params,
        ).fetchall()
        assert insights._stream_operations(conn, scope) == {(r[0], r[1]): r[2] for r in by_operation}, scope
        marked += total
    conn.close()
    assert marked


def test_an_operations_code_location_is_its_shortest_span_with_one(tmp_path: Path, shop_db: Path):
    db = tmp_path / "code.db"
    db.write_bytes(shop_db.read_bytes())
    conn = sqlite3.connect(db)
    # worst spans without a code location of their own, so every operation falls back to its other spans
    conn.execute("UPDATE spans SET code_function = NULL, code_filepath = NULL WHERE id % 3 = 0")
    operations = conn.execute(
        "SELECT DISTINCT service, fingerprint FROM spans WHERE fingerprint IS NOT NULL AND "
        "(code_function IS NOT NULL OR code_filepath IS NOT NULL)"
    ).fetchall()
    assert operations
    for service, fingerprint in operations:
        worst = conn.execute(
            "SELECT trace_id, span_id FROM spans WHERE fingerprint = ? AND service IS ? AND code_function IS NULL "
            "AND code_filepath IS NULL LIMIT 1",
            (fingerprint, service),
        ).fetchone() or ("no-such-trace", "no-such-span")
        row = OperationRow(service, fingerprint, 1, 1, 0, 0, 0, 0, worst[0], worst[1], "", 0, 0)
        expected = conn.execute(
            "SELECT code_function, code_filepath, code_lineno FROM spans NOT INDEXED WHERE fingerprint = ? "
            "AND service IS ? AND (code_function IS NOT NULL OR code_filepath IS NOT NULL) ORDER BY duration_ns, id "
            "LIMIT 1",
            (fingerprint, service),
        ).fetchone()
        (found,) = insights.with_code_locations(conn, [row])
        assert found.code == CodeLocation(*expected), (service, fingerprint)
    plan = " ".join(
        r[3]
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT code_function FROM spans INDEXED BY spans_code WHERE fingerprint = 'x' "
            "AND service IS 'y' AND (code_function IS NOT NULL OR code_filepath IS NOT NULL) ORDER BY duration_ns"
        )
    )
    assert "spans_code" in plan and "TEMP B-TREE" not in plan
    conn.close()


def test_upgrading_to_schema_12_counts_durations_and_indexes_code_locations(tmp_path: Path, shop_db: Path):
    db = tmp_path / "old.db"
    db.write_bytes(shop_db.read_bytes())
    conn = sqlite3.connect(db, isolation_level=None)
    remove_schema_12(conn)
    conn.execute("PRAGMA user_version = 11")
    conn.close()
    with Store(db) as store:
        assert schema.current_version(store.conn) == schema.LATEST_VERSION
        indexed = store.conn.execute(
            "SELECT count(*) FROM spans INDEXED BY spans_code WHERE fingerprint IS NOT NULL "
            "AND (code_function IS NOT NULL OR code_filepath IS NOT NULL)"
        ).fetchone()[0]
        stored = store.conn.execute(
            "SELECT count(*) FROM spans NOT INDEXED WHERE fingerprint IS NOT NULL "
            "AND (code_function IS NOT NULL OR code_filepath IS NOT NULL)"
        ).fetchone()[0]
        assert indexed == stored > 0
        assert store.conn.execute("SELECT count(*) FROM operation_durations").fetchone()[0] > 0
        assert summaries.differences(store.conn) == {}


# --- list filters and cursors equal a row-by-row reading ----------------------------------------------------


def all_pages(fetch, limit: int = 4) -> tuple[list, int]:
    rows, cursor, totals = [], None, set()
    while True:
        page = fetch(cursor=cursor, limit=limit)
        rows += page.rows
        totals.add(page.total)
        if not page.next_cursor:
            return rows, totals.pop() if len(totals) == 1 else -1
        cursor = page.next_cursor


@pytest.mark.parametrize("listed", [0, 10**6], ids=["checked-row-by-row", "listed-ids"])
def test_trace_list_filters_and_sorts_equal_a_row_by_row_reading(conn: sqlite3.Connection, monkeypatch, listed: int):
    monkeypatch.setattr(queries, "LISTED_MATCHES", listed)
    traces = queries.list_traces(conn, queries.TraceFilter(), limit=10**6).rows
    assert len(traces) > 20

    def text_of(t) -> str:
        return " ".join(x or "" for x in (t.trace_id, t.root_name, t.http_route, t.http_url)).lower()

    cases = [
        (queries.TraceFilter(text="checkout"), lambda t: "checkout" in text_of(t)),
        (queries.TraceFilter(text="API/CART"), lambda t: "api/cart" in text_of(t)),
        (queries.TraceFilter(text=traces[3].trace_id[5:15]), lambda t: traces[3].trace_id[5:15] in t.trace_id),
        (queries.TraceFilter(text="no-such-text"), lambda t: False),
        (queries.TraceFilter(service="payments"), lambda t: "payments" in t.services),
        (queries.TraceFilter(service="shop", has_errors=True), lambda t: "shop" in t.services and t.error_count > 0),
        (queries.TraceFilter(text="api", service="shop"), lambda t: "api" in text_of(t) and "shop" in t.services),
        (queries.TraceFilter(unsessioned=True), lambda t: t.session_id is None),
    ]
    for f, keep in cases:
        for sort in ("recent", "oldest", "slowest", "errors", "largest"):
            column, descending = SORTS[sort]
            expected = sorted(
                (t for t in traces if keep(t)), key=lambda t: (getattr(t, column), t.trace_id), reverse=descending
            )
            rows, total = all_pages(partial(queries.list_traces, conn, f, sort=sort))
            assert [t.trace_id for t in rows] == [t.trace_id for t in expected], (f, sort)
            assert total == len(expected), (f, sort)


@pytest.mark.parametrize("listed", [0, 10**6], ids=["checked-row-by-row", "listed-ids"])
def test_session_text_search_equals_a_row_by_row_reading(conn: sqlite3.Connection, monkeypatch, listed: int):
    monkeypatch.setattr(queries, "LISTED_MATCHES", listed)
    sessions = queries.list_sessions(conn, queries.SessionFilter(), limit=10**6).rows
    traces = queries.list_traces(conn, queries.TraceFilter(), limit=10**6).rows

    def matches(s, text: str) -> bool:
        own = [s.session_id, s.user_id, json.dumps(list(s.services), separators=(",", ":")), s.first_url]
        theirs = [x for t in traces if t.session_id == s.session_id for x in (t.root_name, t.http_route, t.http_url)]
        return any(text.lower() in (x or "").lower() for x in own + theirs)

    for text in ("checkout", "/api/cart/coupon", "payments", sessions[2].session_id[-6:], "nothing-like-this"):
        expected = sorted((s for s in sessions if matches(s, text)), key=lambda s: (s.start_ns, s.session_id))
        rows, total = all_pages(partial(queries.list_sessions, conn, queries.SessionFilter(text=text), sort="oldest"))
        assert [s.session_id for s in rows] == [s.session_id for s in expected], text
        assert total == len(expected), text
