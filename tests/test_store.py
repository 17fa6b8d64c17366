"""The store: migrations, idempotent ingest, one transaction per file, derived traces/sessions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from schema_shims import add_newer_schemas, remove_newer_schemas

from mcp_sessions.errors import SchemaVersionError, StoreError
from mcp_sessions.ingest import ingest_file, ingest_paths
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite import db, derive, rows, schema, summaries, url_templates


def count(store: Store, sql: str) -> int:
    return store.conn.execute(sql).fetchone()[0]


def test_new_database_is_wal_and_at_latest_schema(store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert schema.current_version(store.conn) == schema.LATEST_VERSION
    assert {"ingests", "spans", "traces", "sessions", "logs", "resources"} <= {
        r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }


def test_older_database_is_upgraded_in_place_keeping_its_data(db_path, monkeypatch, samples):
    with Store(db_path) as s:
        ingest_file(s, samples / "otlp" / "spec-example-trace.json")
    upgrade = schema.Migration(schema.LATEST_VERSION + 1, "test column", "ALTER TABLE spans ADD COLUMN extra TEXT;")
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, upgrade))
    monkeypatch.setattr(schema, "LATEST_VERSION", upgrade.version)
    with Store(db_path) as s:
        assert schema.current_version(s.conn) == upgrade.version
        assert count(s, "SELECT count(*) FROM spans") == 1
        assert "extra" in [r[1] for r in s.conn.execute("PRAGMA table_info(spans)")]


def test_failed_migration_leaves_the_file_at_its_old_version(db_path, monkeypatch):
    Store(db_path).close()
    broken = schema.Migration(schema.LATEST_VERSION + 1, "broken", "CREATE TABLE t (a); CREATE TABLE t (a);")
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken))
    monkeypatch.setattr(schema, "LATEST_VERSION", broken.version)
    with pytest.raises(StoreError, match="file is unchanged"):
        Store(db_path)
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == broken.version - 1
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()[0] == 0


def test_database_from_a_newer_version_is_refused(db_path):
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {schema.LATEST_VERSION + 5}")
    conn.close()
    with pytest.raises(SchemaVersionError, match="newer than this mcp-sessions"):
        Store(db_path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("hello, this is not sqlite " * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store(bogus)


def test_sample_ingest_counts_and_idempotence(store, samples):
    first = list(ingest_paths(store, [str(samples / "otlp")]))
    assert [r.status for r in first] == ["stored"] * 7
    assert count(store, "SELECT count(*) FROM spans") == 739
    assert count(store, "SELECT count(DISTINCT trace_id) FROM spans") == 31
    assert count(store, "SELECT count(*) FROM traces") == 31
    assert count(store, "SELECT count(*) FROM logs") == 3
    again = list(ingest_paths(store, [str(samples / "otlp")]))
    assert [r.status for r in again] == ["unchanged"] * 7
    assert count(store, "SELECT count(*) FROM spans") == 739
    assert count(store, "SELECT count(*) FROM ingests") == 7


def test_overlapping_files_do_not_duplicate_spans(store, samples, tmp_path):
    doc = json.loads((samples / "otlp" / "highlight-nextjs.json").read_text())
    del doc["resourceSpans"][0]["scopeSpans"][-1]  # drop the last scope's two spans
    part = tmp_path / "part.json"
    part.write_text(json.dumps(doc, indent=1))  # different bytes, six of the same spans
    whole = ingest_file(store, samples / "otlp" / "highlight-nextjs.json")
    overlap = ingest_file(store, part)
    assert (whole.counts.spans_stored, overlap.counts.spans_stored, overlap.counts.spans_duplicate) == (8, 0, 6)
    assert count(store, "SELECT count(*) FROM spans") == 8


def test_bad_file_in_the_middle_stores_nothing_partial(store, tmp_path):
    good = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "01" * 16,
                                "spanId": "02" * 8,
                                "name": "ok",
                                "startTimeUnixNano": "1",
                                "endTimeUnixNano": "2",
                            },
                        ]
                    }
                ]
            }
        ]
    }
    bad = json.loads(json.dumps(good))
    spans = bad["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append(dict(spans[0], spanId="03" * 8))
    spans.append(dict(spans[0], spanId="04" * 8, startTimeUnixNano="not a time"))  # fails after two good spans
    (tmp_path / "a-good.json").write_text(json.dumps(good))
    (tmp_path / "b-bad.json").write_text(json.dumps(bad))
    results = {Path(r.source).name: r for r in ingest_paths(store, [str(tmp_path)])}
    assert results["a-good.json"].status == "stored"
    assert results["b-bad.json"].status == "failed"
    assert "spans[2].startTimeUnixNano" in results["b-bad.json"].error
    assert count(store, "SELECT count(*) FROM spans") == 1
    assert count(store, "SELECT count(*) FROM ingests") == 1


def test_sessions_are_derived_from_session_keys(store, samples):
    ingest_file(store, samples / "otlp" / "highlight-traces.json")
    rows = store.conn.execute("SELECT session_id, trace_count, span_count FROM sessions").fetchall()
    # 473 spans carry highlight.session_id; 39 carry an empty one, which is no session.
    assert rows == [("tUVyYXgmLPMuJBM5FdhaEcDIOfah", 4, 473)]
    assert count(store, "SELECT count(*) FROM traces WHERE session_id IS NULL") == 24


def test_session_key_on_the_resource_and_user_id(store, tmp_path):
    doc = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "session.id", "value": {"stringValue": "s-1"}},
                        {"key": "service.name", "value": {"stringValue": "web"}},
                    ]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "0a" * 16,
                                "spanId": "0b" * 8,
                                "name": "GET /",
                                "startTimeUnixNano": "1000",
                                "endTimeUnixNano": "5000",
                                "attributes": [{"key": "enduser.id", "value": {"stringValue": "u-9"}}],
                            },
                        ]
                    }
                ],
            }
        ]
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    ingest_file(store, path)
    row = store.conn.execute("SELECT session_id, user_id, service, services, duration_ns FROM sessions").fetchone()
    assert row == ("s-1", "u-9", "web", '["web"]', 4000)


def test_stores_are_usable_from_several_threads(store, samples):
    import threading

    ingest_file(store, samples / "otlp" / "spec-example-trace.json")
    seen = []

    def read() -> None:
        seen.append(store.conn.execute("SELECT count(*) FROM spans").fetchone()[0])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [1, 1, 1, 1]


def test_upgrade_to_schema_3_backfills_fingerprints_and_timing_exactly_as_ingest_derives_them(db_path, samples):
    with Store(db_path) as s:
        list(ingest_paths(s, [str(samples / "otlp")]))
        derived = "SELECT id, fingerprint, self_ns, critical_ns FROM spans ORDER BY id"
        expected = s.conn.execute(derived).fetchall()
    assert expected and all(row[1] for row in expected)
    assert any(row[3] for row in expected)
    conn = sqlite3.connect(db_path, isolation_level=None)  # turn the file back into schema 2
    remove_newer_schemas(conn)
    for kind, name in conn.execute(  # schema 4's tables, triggers and indexes
        "SELECT type, name FROM sqlite_master WHERE name LIKE 'operation%' OR name LIKE '%_search' "
        "OR name LIKE 'trace_services%' OR name LIKE '%_derived_%' OR name IN ('traces_duration', 'traces_errors', "
        "'traces_span_count', 'traces_end', 'traces_route') ORDER BY type = 'table'"
    ).fetchall():
        conn.execute(f"DROP {kind.upper()} IF EXISTS {name}")
    for index in ("spans_operation", "spans_critical", "spans_failed", "events_problems", "logs_errors"):
        conn.execute(f"DROP INDEX {index}")
    for column in ("fingerprint", "self_ns", "critical_ns"):
        conn.execute(f"ALTER TABLE spans DROP COLUMN {column}")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    with Store(db_path) as s:
        assert schema.current_version(s.conn) == schema.LATEST_VERSION
        assert s.conn.execute(derived).fetchall() == expected


SHOP = Path(__file__).resolve().parents[1] / "fixtures"
SHOP_SPANS = SHOP / "recordings" / "shop" / "otlp"
SHOP_BROWSER = SHOP / "recordings-browser" / "shop"  # requests that link to the spans: traces derived again


def _schema_4_as_todays_writer_needs(conn: sqlite3.Connection) -> None:
    schema.migrate(conn, target=4)
    add_newer_schemas(conn)


def test_upgrade_to_schema_5_hands_the_operation_summaries_from_triggers_to_derivation(tmp_path, monkeypatch):
    summary_tables = "SELECT * FROM operations ORDER BY id", "SELECT * FROM operation_traces ORDER BY 1, 2"
    with Store(tmp_path / "new.db") as new:  # schema 5 from the start
        list(ingest_paths(new, [str(SHOP_SPANS), str(SHOP_BROWSER)]))
        expected = [new.conn.execute(q).fetchall() for q in summary_tables]
    with monkeypatch.context() as schema_4:  # a file written by schema 4, its summaries kept by triggers alone
        schema_4.setattr(db, "migrate", _schema_4_as_todays_writer_needs)
        schema_4.setattr(derive, "update_operations", lambda *_: None)
        schema_4.setattr(url_templates, "update", lambda *_: set())  # fingerprints as schema 4 kept them
        with Store(tmp_path / "old.db") as old:
            list(ingest_paths(old, [str(SHOP_SPANS)]))
            assert schema.current_version(old.conn) == 4
            before = [old.conn.execute(q).fetchall() for q in summary_tables]
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    remove_newer_schemas(conn)
    conn.close()
    with Store(tmp_path / "old.db") as upgraded:
        conn = upgraded.conn
        assert schema.current_version(conn) == schema.LATEST_VERSION
        assert [conn.execute(q).fetchall() for q in summary_tables] == before
        triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert "traces_derived_spans" not in triggers and "traces_derived_delete" in triggers
        list(ingest_paths(upgraded, [str(SHOP_BROWSER)]))
        assert summaries.differences(conn) == {}
        assert [conn.execute(q).fetchall() for q in summary_tables] == expected


def _failed_requests_har(path: Path) -> Path:
    """A HAR file of three requests: one answered 404, one refused (no answer at all), one fine."""

    def entry(url: str, status: int, error: str | None = None) -> dict:
        response: dict = {"status": status, "statusText": "", "headers": [], "content": {"size": 0}}
        if error:
            response["_error"] = error
        return {
            "startedDateTime": "2026-11-01T10:00:00.000Z",
            "time": 12,
            "request": {"method": "GET", "url": url, "headers": [{"name": "x-session-id", "value": "s-upgrade"}]},
            "response": response,
            "timings": {"send": 1, "wait": 10, "receive": 1},
        }

    log = {
        "version": "1.2",
        "creator": {"name": "test", "version": "1"},
        "entries": [
            entry("https://shop.test/api/missing", 404),
            entry("https://shop.test/api/down", 0, "net::ERR_CONNECTION_REFUSED"),
            entry("https://shop.test/api/ok", 200),
        ],
    }
    path.write_text(json.dumps({"log": log}))
    return path


def _schema_5_as_todays_writer_needs(conn: sqlite3.Connection) -> None:
    schema.migrate(conn, target=5)
    add_newer_schemas(conn)


def test_upgrade_to_schema_6_counts_every_failed_request_under_one_rule(tmp_path, monkeypatch):
    har = _failed_requests_har(tmp_path / "failed.har")
    with monkeypatch.context() as schema_5:
        schema_5.setattr(db, "migrate", _schema_5_as_todays_writer_needs)
        with Store(tmp_path / "old.db") as old:
            assert ingest_file(old, har).status == "stored"
            assert schema.current_version(old.conn) == 5
            statuses = sorted(str(r[0]) for r in old.conn.execute("SELECT status FROM events WHERE kind = 'network'"))
            old.conn.execute("UPDATE sessions SET frontend_error_count = 0")  # as an old rule would have left it
            remove_newer_schemas(old.conn)
    with Store(tmp_path / "old.db") as upgraded:
        conn = upgraded.conn
        assert schema.current_version(conn) == schema.LATEST_VERSION
        counts = conn.execute("SELECT sum(frontend_error_count), sum(event_count) FROM sessions").fetchone()
        assert statuses == ["200", "404", "None"] and counts == (2, 3)
        plan = " ".join(
            r[3]
            for r in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT id FROM events WHERE {rows.BROWSER_PROBLEM} AND shadowed = 0 "
                "ORDER BY coalesce(time_ns, 0), seq LIMIT 10"
            )
        )
        assert "events_problems" in plan
    with Store(tmp_path / "new.db") as new:  # the same file ingested at the latest schema counts the same
        ingest_file(new, har)
        assert new.conn.execute("SELECT sum(frontend_error_count) FROM sessions").fetchone()[0] == 2
