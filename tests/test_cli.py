"""The command line, run as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcp_sessions", *args],
        capture_output=True,
        input=stdin,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_version_and_help():
    version = run("--version")
    assert version.returncode == 0 and version.stdout.decode().startswith("mcp-sessions ")
    for command in ("ingest", "serve", "sessions"):
        result = run(command, "--help")
        assert result.returncode == 0
        assert "--db" in result.stdout.decode()


def test_no_command_prints_help_and_fails():
    result = run()
    assert result.returncode == 2
    assert "COMMAND" in result.stderr.decode()


def test_ingest_samples_then_again_stores_nothing_new(samples: Path, db_path: Path):
    first = run("ingest", str(samples / "otlp"), "--db", str(db_path))
    assert first.returncode == 0, first.stderr
    out = first.stdout.decode()
    assert "7 inputs: 7 stored, 0 unchanged, 0 failed; 739 spans and 3 logs added" in out
    assert "highlight-traces.json (otlp-json): 512 spans" in out
    second = run("ingest", str(samples / "otlp"), "--db", str(db_path))
    assert second.returncode == 0
    assert "0 stored, 7 unchanged, 0 failed; 0 spans and 0 logs added" in second.stdout.decode()


def test_db_from_environment_variable(samples: Path, tmp_path: Path):
    db = tmp_path / "from-env.db"
    result = run("ingest", str(samples / "otlp" / "spec-example-trace.json"), env={"MCP_SESSIONS_DB": str(db)})
    assert result.returncode == 0
    assert db.exists()


def test_directory_of_good_and_bad_files(tmp_path: Path, db_path: Path, samples: Path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.json").write_bytes((samples / "otlp" / "spec-example-trace.json").read_bytes())
    (folder / "truncated.json").write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab')
    (folder / "notes.txt").write_text("just some notes")
    zipkin_v1 = [{"traceId": "a" * 16, "id": "b" * 16, "name": "get", "binaryAnnotations": []}]
    (folder / "old-zipkin.json").write_text(json.dumps(zipkin_v1))
    result = run("ingest", str(folder), "--db", str(db_path))
    assert result.returncode == 1
    errors = result.stderr.decode().splitlines()
    assert len(errors) == 3
    assert any("truncated.json" in e and "truncated" in e.split(":", 1)[1] for e in errors)
    assert any("notes.txt" in e and "not JSON" in e for e in errors)
    assert any("old-zipkin.json" in e and "Zipkin v1" in e for e in errors)
    assert "1 stored, 0 unchanged, 3 failed; 1 spans" in result.stdout.decode()


def test_missing_file_is_reported(db_path: Path):
    result = run("ingest", "/nonexistent/file.json", "--db", str(db_path))
    assert result.returncode == 1
    assert "/nonexistent/file.json: no such file" in result.stderr.decode()


def test_ingest_from_stdin(samples: Path, db_path: Path):
    body = (samples / "otlp" / "highlight-nextjs.json").read_bytes()
    result = run("ingest", "-", "--db", str(db_path), stdin=body)
    assert result.returncode == 0, result.stderr
    assert "stored     - (otlp-json): 8 spans" in result.stdout.decode()


def test_sessions_lists_for_humans(samples: Path, db_path: Path):
    run("ingest", str(samples / "otlp"), "--db", str(db_path))
    result = run("sessions", "--db", str(db_path))
    out = result.stdout.decode()
    assert result.returncode == 0
    assert "tUVyYXgmLPMuJBM5FdhaEcDIOfah" in out
    assert "shows 1 of 1 sessions" in out
    assert "27 traces carry no session key" in out


def test_newer_database_is_a_one_line_error(db_path: Path):
    import sqlite3

    run("sessions", "--db", str(db_path))
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    result = run("sessions", "--db", str(db_path))
    assert result.returncode == 2
    assert result.stderr.decode().count("\n") == 1
    assert "newer than this mcp-sessions" in result.stderr.decode()


@pytest.mark.parametrize("command", ["sessions", "ingest"])
def test_db_option_works_before_or_after_the_command(command, db_path: Path, samples: Path):
    sample = str(samples / "otlp" / "spec-example-trace.json")
    if command == "sessions":
        run("ingest", sample, "--db", str(db_path))  # `sessions` reads only: the file must exist
    result = run("--db", str(db_path), command, *([sample] if command == "ingest" else []))
    assert result.returncode == 0
    assert db_path.exists()
