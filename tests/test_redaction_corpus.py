"""Every secret shape real apps leak, planted in every field the parsers read, never stored or shown.

The corpus (tests/redaction_corpus.py) is ingested two ways: as files through `ingest_paths`
(OTLP JSON traces and logs, Zipkin, HAR, rrweb) and over HTTP through the receiver (OTLP
JSON, rrweb batches). Then no secret byte may be in the database file or its WAL, nor in
any tool's text or structured content over the MCP client; the ordinary text beside the
secrets (paths, ids, hashes, prose with "token" in it) must come through unchanged.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from redaction_corpus import (
    HAR_SESSION,
    KNOWN_ACROSS,
    ORDINARY,
    har,
    known_across_files,
    otlp_logs,
    otlp_traces,
    rrweb_events,
    secrets,
    zipkin,
)
from test_receiver import Running

from mcp_sessions.ingest import ingest_paths
from mcp_sessions.server import create_server
from mcp_sessions.store import Store


def _write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    first, second = known_across_files()
    docs: dict[str, Any] = {
        "traces.json": otlp_traces(),
        "logs.json": otlp_logs(),
        "zipkin.json": zipkin(),
        "session.har": har(),
        "recording.json": rrweb_events(),
        "known-1.json": first,
        "known-2.json": second,
    }
    for name, doc in docs.items():
        (folder / name).write_text(json.dumps(doc))
    return [folder / name for name in docs]


def _file_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def _leaks(blob: str | bytes) -> list[str]:
    data = blob.encode() if isinstance(blob, str) else blob
    return [name for name, secret in secrets() if secret.encode() in data]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    paths = _write(folder / "files")
    db = folder / "files.db"
    with Store(db) as store:
        results = list(ingest_paths(store, [str(p) for p in paths]))
    assert [r.status for r in results] == ["stored"] * len(paths), [(r.source, r.error) for r in results]
    return db


@pytest.fixture(scope="module")
def received(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("received") / "received.db"
    first, second = known_across_files()
    with Running(db, max_body=8 * 1024 * 1024) as r, httpx.Client(timeout=30) as http:
        json_headers = {"content-type": "application/json"}
        for path, doc in [
            ("/v1/traces", otlp_traces("s-corpus-recv", "b0" * 16)),
            ("/v1/logs", otlp_logs("s-corpus-recv", "b0" * 16)),
            ("/v1/traces", first),  # one request masks the value by key ...
            ("/v1/logs", second),  # ... a later one repeats it in free text
        ]:
            response = http.post(f"{r.url}{path}", content=json.dumps(doc), headers=json_headers)
            assert response.status_code == 200, response.text
        batch = {"session_id": "s-corpus-rrweb", "page_id": "p1", "seq": 0, "events": rrweb_events()}
        response = http.post(f"{r.url}/v1/rrweb", content=json.dumps(batch), headers=json_headers)
        assert response.status_code == 200, response.text
    return db


@pytest.mark.parametrize("way", ["ingested", "received"])
def test_no_secret_byte_in_the_database_file_or_wal(way: str, request: pytest.FixtureRequest):
    db: Path = request.getfixturevalue(way)
    raw = _file_bytes(db)
    assert b"s-corpus" in raw  # the planted records were stored
    assert _leaks(raw) == []


def test_the_known_value_is_caught_in_a_later_file_of_the_same_run(ingested: Path):
    conn = sqlite3.connect(ingested)
    bodies = [row[0] for row in conn.execute("SELECT body FROM logs")]
    conn.close()
    assert any("retrying the upload with [REDACTED] after 3 attempts" in str(b) for b in bodies), bodies[:3]
    assert not any(KNOWN_ACROSS in str(b) for b in bodies)


def _ids(db: Path) -> tuple[list[str], list[tuple[str, str]]]:
    conn = sqlite3.connect(db)
    try:
        sessions = [row[0] for row in conn.execute("SELECT session_id FROM sessions ORDER BY session_id")]
        spans = [(t, s) for t, s in conn.execute("SELECT trace_id, span_id FROM spans ORDER BY trace_id, span_id")]
    finally:
        conn.close()
    return sessions, spans


async def _every_answer(db: Path) -> Iterator[tuple[str, str]]:
    sessions, spans = _ids(db)
    assert sessions and spans
    calls: list[tuple[str, dict[str, Any]]] = [
        ("list_sessions", {}),
        ("list_traces", {}),
        ("list_traces", {"unsessioned": True}),
        ("find_errors", {}),
        ("find_slow_spans", {}),
    ]
    for session in sessions:
        calls += [
            ("get_session", {"session_id": session}),
            ("get_timeline", {"session_id": session, "limit": 200}),
            ("list_traces", {"session_id": session}),
            ("find_errors", {"session_id": session}),
            ("draft_regression_test", {"session_id": session}),
            ("diff_against_baseline", {"session_id": session, "baseline": sessions[0]}),
            ("view_session", {"session_id": session}),
        ]
    traces = sorted({t for t, _ in spans})
    for trace in traces:
        calls += [("get_trace", {"trace_id": trace}), ("view_trace", {"trace_id": trace})]
    calls += [("get_trace", {"trace_id": t, "span_id": s}) for t, s in spans]
    out = []
    async with Client(create_server(db)) as client:
        for name, arguments in calls:
            result = await client.call_tool(name, arguments)
            text = "\n".join(getattr(c, "text", "") for c in result.content)
            out.append((f"{name}({arguments})", text + json.dumps(result.structured_content)))
        uris = [f"session://{s}" for s in sessions] + [f"trace://{t}" for t in traces]
        for uri in uris:
            contents = (await client.read_resource(uri)).contents
            out.append((uri, "\n".join(getattr(c, "text", "") for c in contents)))
    return iter(out)


@pytest.mark.anyio
@pytest.mark.parametrize("way", ["ingested", "received"])
async def test_no_secret_in_any_tool_text_or_structured_content(way: str, request: pytest.FixtureRequest):
    db: Path = request.getfixturevalue(way)
    answers = list(await _every_answer(db))
    leaked = {call: _leaks(text) for call, text in answers if _leaks(text)}
    assert leaked == {}
    everything = "\n".join(text for _, text in answers)
    assert "POST /api/login" in everything or "post /api/login" in everything


@pytest.mark.parametrize("way", ["ingested", "received"])
def test_ordinary_text_comes_through_unchanged(way: str, request: pytest.FixtureRequest):
    db: Path = request.getfixturevalue(way)
    raw = _file_bytes(db)
    missing = [text for text in ORDINARY if json.dumps(text)[1:-1].encode() not in raw]
    assert missing == []
    assert b"/[REDACTED]/payment" not in raw and b"/checkout/payment" in raw


def test_ordinary_attribute_values_are_stored_exactly(ingested: Path):
    conn = sqlite3.connect(ingested)
    rows = [
        json.loads(row[0])
        for row in conn.execute(
            "SELECT attributes FROM spans WHERE name = 'POST /api/login' AND trace_id = ?", ("c0" * 16,)
        )
    ]
    conn.close()
    (attributes,) = rows
    kept = {attributes[f"app.ordinary.{i}"] for i in range(len(ORDINARY))}
    assert kept == set(ORDINARY)


def test_session_headers_stay_readable_and_credential_headers_do_not(ingested: Path):
    conn = sqlite3.connect(ingested)
    sessions = {row[0] for row in conn.execute("SELECT session_id FROM sessions")}
    conn.close()
    assert HAR_SESSION in sessions  # x-session-id: a join key, read and kept
    conn = sqlite3.connect(ingested)
    details = [json.loads(row[0]) for row in conn.execute("SELECT detail FROM events WHERE kind = 'network'")]
    conn.close()
    headers = [d.get("request_headers") or {} for d in details]
    assert any(h.get("x-session-id") == HAR_SESSION for h in headers)  # stored readable, too
    assert all(h.get("x-csrftoken", "[REDACTED]") == "[REDACTED]" for h in headers)
    assert all(h.get("accesstoken", "[REDACTED]") == "[REDACTED]" for h in headers)
    cookies = [d.get("request_cookies") or {} for d in details]
    assert any(c for c in cookies) and all(set(c.values()) <= {"[REDACTED]"} for c in cookies)
