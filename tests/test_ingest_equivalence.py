"""Every table an ingest writes, compared with what the code stored before the in-memory ingest path.

The golden (tests/golden/ingest_tables.json) holds, per table, the row count and the sha256 of
its canonical rows: every column, rows sorted. Left out, because they legitimately differ from
run to run: `ingests.ingested_at_ns` (the clock), `erased_ids.erased_at_ns` (the clock), and the
row ids of spans, logs, events and operations (`id`, assigned in insert order, not part of what a record is).
Resource, ingest and operation ids are replaced by what they name (resource hash, ingest content
hash, operation key); `ingests.source` is cut to the file's name (where the checkout sits).
The database's random salt is fixed before ingest, so the salted `url_values` hashes are stable.

Regenerate (only when stored data is meant to change, with a migration):
    MCP_SESSIONS_WRITE_GOLDEN=1 python -m pytest -q tests/test_ingest_equivalence.py
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from mcp_sessions.ingest import ingest_paths
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite import writer

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "ingest_tables.json"
FIXTURES = ROOT / "fixtures" / "recordings"
SALT = b"\x01" * 32
# Columns left out of the dump, by table (see the module docstring).
_DROPPED = {
    "ingests": {"id", "ingested_at_ns"},
    "spans": {"id"},
    "logs": {"id"},
    "events": {"id"},
    "resources": {"id"},
    "operations": {"id"},
    "erased_ids": {"erased_at_ns"},
}


def _inputs(samples: Path) -> list[str]:
    fixtures = sorted(str(p) for p in FIXTURES.rglob("*") if p.is_file())
    shared = sorted(str(p) for p in samples.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".har"))
    return fixtures + shared


def _ingest(db_path: Path, calls: list[list[str]]) -> None:
    with Store(db_path) as s:
        pass
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE salt SET value = ?", (SALT,))
    conn.commit()
    conn.close()
    with Store(db_path) as s:
        for paths in calls:
            for result in ingest_paths(s, paths):
                assert result.status in ("stored", "unchanged"), (paths, result.status, result.error)


def dump(db_path: Path, *, without_ingests: bool = False) -> dict[str, list[str]]:
    """Each table's canonical rows (JSON text, sorted), ids replaced by what they name."""
    conn = sqlite3.connect(db_path)
    ingest_key = dict(conn.execute("SELECT id, content_hash FROM ingests"))
    resource_key = dict(conn.execute("SELECT id, hash FROM resources"))
    operation_key = dict(conn.execute("SELECT id, op_key FROM operations"))
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name"
        )
    ]
    virtual_shadow = {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%'")
    }
    out: dict[str, list[str]] = {}
    for table in tables:
        if any(table.startswith(v + "_") for v in virtual_shadow):
            continue  # FTS shadow tables: keyed by rowids; their content follows the tables they index
        if without_ingests and table == "ingests":
            continue
        cursor = conn.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        dropped = _DROPPED.get(table, set())
        if without_ingests:
            dropped = dropped | {"ingest_id"}
        rows = []
        for row in cursor:
            values = {}
            for name, value in zip(names, row, strict=True):
                if name in dropped:
                    continue
                if name == "ingest_id":
                    value = ingest_key.get(value, value)
                elif name == "resource_id":
                    value = resource_key.get(value, value)
                elif name == "operation_id":
                    value = operation_key.get(value, value)
                elif table == "ingests" and name == "source" and isinstance(value, str):
                    value = Path(value).name  # the file's name, not where this checkout sits
                if isinstance(value, bytes):
                    value = value.hex()
                values[name] = value
            rows.append(orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode())
        out[table] = sorted(rows)
    conn.close()
    return out


def digest(tables: dict[str, list[str]]) -> dict[str, dict[str, int | str]]:
    return {
        t: {"rows": len(rows), "sha256": hashlib.sha256("\n".join(rows).encode()).hexdigest()}
        for t, rows in tables.items()
    }


def _differing(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(t for t in a.keys() | b.keys() if a.get(t) != b.get(t))


def test_every_table_equals_the_golden(samples: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _ingest(db, [_inputs(samples)])
    got = digest(dump(db))
    assert got["spans"]["rows"] > 1000, got["spans"]
    if os.environ.get("MCP_SESSIONS_WRITE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert not _differing(got, expected), f"tables differ from the golden: {_differing(got, expected)}"


def test_batches_split_small_store_the_same(samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = _inputs(samples)
    _ingest(tmp_path / "one.db", [inputs])
    monkeypatch.setattr(writer, "BATCH_ROWS", 7)
    _ingest(tmp_path / "split.db", [[p] for p in inputs])  # one call per file, batches of 7 rows
    a, b = dump(tmp_path / "one.db"), dump(tmp_path / "split.db")
    assert not _differing(a, b), f"tables differ: {_differing(a, b)}"


def test_a_trace_spread_over_two_files_stores_what_one_file_does(tmp_path: Path) -> None:
    """Half of every trace in one file, the rest in another ingested later: the second ingest reads back
    the traces that already had spans, and must end where one ingest of the whole ends."""
    lines = [
        line
        for p in sorted((FIXTURES / "shop" / "otlp").glob("*.jsonl"))
        for line in p.read_bytes().splitlines()
        if line.strip()
    ]
    spans = [orjson.loads(line) for line in lines]
    first, second = [], []
    for doc in spans:  # every request split: its resource spans' scope spans halved across the two files
        a, b = orjson.loads(orjson.dumps(doc)), orjson.loads(orjson.dumps(doc))
        for ra, rb in zip(a.get("resourceSpans", []), b.get("resourceSpans", []), strict=True):
            for sa, sb in zip(ra.get("scopeSpans", []), rb.get("scopeSpans", []), strict=True):
                n = len(sa.get("spans", []))
                sa["spans"], sb["spans"] = sa["spans"][: n // 2], sb["spans"][n // 2 :]
        first.append(a)
        second.append(b)
    whole, part1, part2 = tmp_path / "whole.jsonl", tmp_path / "p1.jsonl", tmp_path / "p2.jsonl"
    whole.write_bytes(b"\n".join(orjson.dumps(d) for d in spans) + b"\n")
    part1.write_bytes(b"\n".join(orjson.dumps(d) for d in first) + b"\n")
    part2.write_bytes(b"\n".join(orjson.dumps(d) for d in second) + b"\n")
    _ingest(tmp_path / "one.db", [[str(whole)]])
    _ingest(tmp_path / "two.db", [[str(part1)], [str(part2)]])
    a, b = dump(tmp_path / "one.db", without_ingests=True), dump(tmp_path / "two.db", without_ingests=True)
    assert len(a["spans"]) > 100 and len(a["traces"]) > 5
    assert not _differing(a, b), f"tables differ: {_differing(a, b)}"
