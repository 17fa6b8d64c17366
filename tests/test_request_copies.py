"""The HAR and rrweb copies of one request, paired however they were recorded (analysis/request_copies.py,
store/sqlite/copies.py): by trace context, else by method, URL and time; keyless recordings of one visit joined."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from mcp_sessions.analysis.request_copies import PAIR_WINDOW_NS, Pair, RequestCopy, pair_copies
from mcp_sessions.ingest import ingest_paths
from mcp_sessions.store import SqliteStore, Store

MS = 1_000_000
T0 = 1_760_000_000_000 * MS


def test_copies_pair_by_trace_context_first_then_method_url_and_nearest_time() -> None:
    rrweb = [
        RequestCopy(1, "GET", "http://a/app.js", T0 + 10 * MS),
        RequestCopy(2, "GET", "http://a/api/items", T0 + 500 * MS),
        RequestCopy(3, "GET", "http://a/api/items", T0 + 900 * MS),
        RequestCopy(4, "POST", "http://a/api/cart", T0 + 1000 * MS, "t" * 32),
        RequestCopy(5, None, "http://a/api/save", T0 + 1500 * MS),  # read from the resource timings: no method
    ]
    har = [
        RequestCopy(11, "GET", "http://a/api/items", T0 + 880 * MS),
        RequestCopy(12, "GET", "http://a/api/items#x", T0 + 480 * MS),
        RequestCopy(13, "GET", "http://a/app.js", T0 + 5 * MS),
        RequestCopy(14, "POST", "http://a/api/cart", T0 + 9000 * MS, "t" * 32),  # far in time, same trace
        RequestCopy(15, "POST", "http://a/api/save", T0 + 1490 * MS),
        RequestCopy(16, "GET", "http://a/app.js", T0 + 10 * MS + PAIR_WINDOW_NS + 1),  # another load, too far
        RequestCopy(17, "DELETE", "http://a/api/items", T0 + 500 * MS),  # another method
    ]
    before = copy.deepcopy((rrweb, har))
    assert pair_copies(rrweb, har) == [
        Pair(3, 11, "method-url-time"),
        Pair(2, 12, "method-url-time"),
        Pair(1, 13, "method-url-time"),
        Pair(4, 14, "trace-context"),
        Pair(5, 15, "method-url-time"),
    ]
    assert (rrweb, har) == before  # analysis never changes its input


def _rrweb(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    snapshot = {"node": {"type": 0, "id": 1, "childNodes": []}, "initialOffset": {"left": 0, "top": 0}}
    return [
        {"type": 4, "data": {"href": "http://a/", "width": 800, "height": 600}, "timestamp": 1_760_000_000_000},
        {"type": 2, "data": snapshot, "timestamp": 1_760_000_000_001},
        *events,
    ]


def _request(ts: int, name: str, start: float, end: float, initiator: str = "fetch") -> dict[str, Any]:
    request = {"name": name, "initiatorType": initiator, "startTime": start, "endTime": end, "status": 200}
    return {"type": 6, "data": {"plugin": "rrweb/network@1", "payload": {"requests": [request]}}, "timestamp": ts}


def _har(entries: list[tuple[str, str, float]]) -> dict[str, Any]:
    def entry(method: str, url: str, at_ms: float) -> dict[str, Any]:
        started = f"2025-10-09T08:53:20.{int(at_ms):03d}Z"
        return {
            "startedDateTime": started,
            "time": 20,
            "request": {"method": method, "url": url, "headers": []},
            "response": {"status": 200, "headers": [], "content": {"size": 42, "mimeType": "application/json"}},
            "timings": {"blocked": 1, "dns": 0, "connect": 0, "send": 0, "wait": 15, "receive": 4},
        }

    return {"log": {"creator": {"name": "test"}, "entries": [entry(*e) for e in entries]}}


def test_a_keyless_har_and_rrweb_of_one_visit_are_one_session_with_each_request_once(tmp_path: Path) -> None:
    # T0 is 2025-10-09T08:53:20Z; the page's time origin is 100 ms after it
    rrweb = _rrweb(
        [
            _request(1_760_000_000_400, "http://a/api/items", 200, 230),
            _request(1_760_000_000_700, "http://a/api/fail", 500, 520),
        ]
    )
    (tmp_path / "visit.rrweb.json").write_text(json.dumps(rrweb))
    (tmp_path / "visit.har").write_text(
        json.dumps(_har([("GET", "http://a/api/items", 302), ("GET", "http://a/api/fail", 601)]))
    )
    with Store(tmp_path / "db.sqlite") as store:
        results = ingest_paths(store, [str(tmp_path / "visit.rrweb.json"), str(tmp_path / "visit.har")])
        assert [r.status for r in results] == ["stored", "stored"]
        rows = store.conn.execute(
            "SELECT source, url, method, session_id, shadowed, copy_method, copy_of IS NOT NULL FROM events "
            "WHERE kind = 'network' ORDER BY source, url"
        ).fetchall()
        sessions = store.conn.execute("SELECT session_id, request_count FROM sessions").fetchall()
    assert len({r[3] for r in rows}) == 1 and len(sessions) == 1
    assert sessions[0][1] == 2  # each request counted once
    assert [(r[0], r[1], r[2], r[4], r[5], r[6]) for r in rows] == [
        ("har", "http://a/api/fail", "GET", 1, "method-url-time", 1),
        ("har", "http://a/api/items", "GET", 1, "method-url-time", 1),
        ("rrweb", "http://a/api/fail", "GET", 0, None, 0),  # the method the timing entry lacked, from the HAR
        ("rrweb", "http://a/api/items", "GET", 0, None, 0),
    ]


def test_keyless_recordings_of_different_visits_stay_apart(tmp_path: Path) -> None:
    rrweb = _rrweb([_request(1_760_000_000_400, "http://a/api/items", 200, 230)])
    (tmp_path / "one.rrweb.json").write_text(json.dumps(rrweb))
    (tmp_path / "other.har").write_text(json.dumps(_har([("GET", "http://b/api/other", 302)])))
    with Store(tmp_path / "db.sqlite") as store:
        results = ingest_paths(store, [str(tmp_path / "one.rrweb.json"), str(tmp_path / "other.har")])
        assert [r.status for r in results] == ["stored", "stored"], results
        assert store.conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 2
        assert store.conn.execute("SELECT count(*) FROM events WHERE shadowed = 1").fetchone()[0] == 0


def test_upgrading_to_schema_11_pairs_the_copies_already_stored(tmp_path: Path) -> None:
    import sqlite3

    from schema_shims import remove_schema_11, remove_schema_12

    from mcp_sessions.store.sqlite import schema

    shop = Path(__file__).resolve().parents[1] / "fixtures" / "recordings-browser" / "shop"
    files = [str(shop / "rrweb" / "server-error.json"), str(shop / "har" / "server-error.har")]
    pairs = "SELECT id, shadowed, copy_of, copy_method FROM events ORDER BY id"
    with Store(tmp_path / "db.sqlite") as store:
        assert all(r.status == "stored" for r in ingest_paths(store, files))
        expected = store.conn.execute(pairs).fetchall()
        sessions = store.conn.execute("SELECT * FROM sessions").fetchall()
    assert any(method == "trace-context" for *_, method in expected)
    conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    conn.execute("UPDATE events SET copy_of = NULL, copy_method = NULL")
    remove_schema_12(conn)
    remove_schema_11(conn)
    conn.execute("PRAGMA user_version = 10")
    conn.close()
    with Store(tmp_path / "db.sqlite") as upgraded:
        assert schema.current_version(upgraded.conn) == schema.LATEST_VERSION
        assert upgraded.conn.execute(pairs).fetchall() == expected
        assert upgraded.conn.execute("SELECT * FROM sessions").fetchall() == sessions


def test_each_request_finds_its_own_har_copy_with_or_without_a_trace(tmp_path: Path) -> None:
    """har_twins pairs by the stored copy link: requests without a trace header get their copy, and
    two requests never share one (pairing by trace id lost the first and merged a page load's)."""
    from mcp_sessions.model import copy_key

    rrweb = _rrweb(
        [
            _request(1_760_000_000_400, "http://a/api/items", 200, 230),
            _request(1_760_000_000_700, "http://a/api/fail", 500, 520),
        ]
    )
    har = _har([("GET", "http://a/api/items", 302), ("GET", "http://a/api/fail", 601)])
    har["log"]["entries"][1]["response"]["content"]["mimeType"] = "text/plain"
    (tmp_path / "visit.rrweb.json").write_text(json.dumps(rrweb))
    (tmp_path / "visit.har").write_text(json.dumps(har))
    with SqliteStore(tmp_path / "db.sqlite") as store:
        assert all(
            r.status == "stored"
            for r in ingest_paths(store, [str(tmp_path / "visit.rrweb.json"), str(tmp_path / "visit.har")])
        )
        (session_id,) = store.conn.execute("SELECT session_id FROM sessions").fetchone()
        shown = [e for e in store.session_events(session_id) if e.kind == "network"]
        twins = store.har_twins(session_id, 100)
    assert len(shown) == 2 and all(e.source == "rrweb" and e.trace_id is None for e in shown)
    assert {e.url: twins[copy_key(e)].url for e in shown} == {u: u for u in ("http://a/api/items", "http://a/api/fail")}
    mime = {e.url: twins[copy_key(e)].detail.get("mime_type") for e in shown}
    assert mime == {"http://a/api/items": "application/json", "http://a/api/fail": "text/plain"}
