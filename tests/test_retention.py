"""prune and forget remove whole sessions and leave no byte of them in the database files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcp_sessions.ingest import ingest_file
from mcp_sessions.store import Store

DAY_NS = 86_400 * 10**9


def export(session: str, user: str, marker: str, end_ns: int, trace_byte: str) -> dict:
    def kv(k: str, v: str) -> dict:
        return {"key": k, "value": {"stringValue": v}}

    trace_id = trace_byte * 16
    spans = [
        {
            "traceId": trace_id,
            "spanId": f"{i + 1:016x}",
            "name": f"GET /{marker}/{i}",
            "startTimeUnixNano": str(end_ns - 10**9),
            "endTimeUnixNano": str(end_ns),
            "attributes": [kv("session.id", session), kv("user.id", user), kv("app.note", f"{marker}-attr")],
            **({"parentSpanId": f"{1:016x}"} if i else {}),
        }
        for i in range(3)
    ]
    log = {
        "timeUnixNano": str(end_ns),
        "body": {"stringValue": f"{marker}-log-body"},
        "traceId": trace_id,
        "spanId": f"{1:016x}",
    }
    resource = {"attributes": [kv("service.name", "shop")]}
    return {
        "resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}],
        "resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [log]}]}],
    }


@pytest.fixture
def populated(tmp_path: Path) -> Path:
    now = time.time_ns()
    db = tmp_path / "retention.db"
    data = [
        ("s-ann-old", "ann", "ANNOLDMARKER", now - 60 * DAY_NS, "a1"),
        ("s-ann-new", "ann", "ANNNEWMARKER", now - 1 * DAY_NS, "a2"),
        ("s-bob-old", "bob", "BOBOLDMARKER", now - 45 * DAY_NS, "b1"),
        ("s-bob-new", "bob", "BOBNEWMARKER", now - 2 * DAY_NS, "b2"),
    ]
    with Store(db) as store:
        for session, user, marker, end_ns, trace_byte in data:
            path = tmp_path / f"{session}.json"
            path.write_text(json.dumps(export(session, user, marker, end_ns, trace_byte)))
            assert ingest_file(store, path).status == "stored"
    return db


def file_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcp_sessions", *args], capture_output=True, timeout=120, env=dict(os.environ)
    )


def test_forget_user_leaves_no_trace_in_the_file(populated: Path):
    assert b"ANNOLDMARKER" in file_bytes(populated)
    result = run("forget", "--user", "ann", "--db", str(populated))
    assert result.returncode == 0, result.stderr
    expected = "forgot user 'ann': removed 2 sessions, 2 traces, 6 spans, 2 logs, 0 browser events"
    assert expected in result.stdout.decode()
    raw = file_bytes(populated)
    for gone in (b"ANNOLDMARKER", b"ANNNEWMARKER", b"s-ann-old", b"s-ann-new"):
        assert gone not in raw
    for kept in (b"BOBOLDMARKER", b"BOBNEWMARKER", b"s-bob-new"):
        assert kept in raw


def test_prune_older_than_removes_old_sessions_only(populated: Path):
    result = run("prune", "--older-than", "30d", "--db", str(populated))
    assert result.returncode == 0, result.stderr
    assert "removed 2 sessions, 2 traces, 6 spans, 2 logs, 0 browser events" in result.stdout.decode()
    raw = file_bytes(populated)
    assert b"ANNOLDMARKER" not in raw and b"BOBOLDMARKER" not in raw
    assert b"ANNNEWMARKER" in raw and b"BOBNEWMARKER" in raw
    with Store(populated) as store:
        remaining = [r[0] for r in store.conn.execute("SELECT session_id FROM sessions ORDER BY session_id")]
    assert remaining == ["s-ann-new", "s-bob-new"]


def test_forgetting_an_unknown_user_removes_nothing(populated: Path):
    result = run("forget", "--user", "nobody", "--db", str(populated))
    assert result.returncode == 0
    assert "removed 0 sessions, 0 traces, 0 spans, 0 logs, 0 browser events" in result.stdout.decode()


@pytest.mark.parametrize("age", ["yesterday", "2024-01-01", "30"])
def test_prune_wants_an_age(populated: Path, age: str):
    result = run("prune", "--older-than", age, "--db", str(populated))
    assert result.returncode == 2
    assert "is not an age" in result.stderr.decode()


def test_reingesting_the_same_file_does_not_bring_forgotten_data_back(populated: Path):
    run("forget", "--user", "ann", "--db", str(populated))
    result = run("ingest", str(populated.parent / "s-ann-old.json"), "--db", str(populated))
    assert "unchanged" in result.stdout.decode()
    assert b"ANNOLDMARKER" not in file_bytes(populated)
