"""Rows built by the ingest worker process are stored exactly as rows built in-process, and
every way the pair can fail (bad input, the worker killed, the database failing, an
interrupt) leaves the database unchanged and no process behind."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from bench.dataset import generate

from mcp_sessions import pipeline
from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.ingest import FileResult, ingest_file, ingest_paths
from mcp_sessions.redact import DEFAULT_RULES, RedactionRules, rules_from_config
from mcp_sessions.redact_rules import is_sensitive_key
from mcp_sessions.store import Store
from mcp_sessions.store.writer import IngestWriter

ROOT = Path(__file__).resolve().parents[1]
CONFIG = rules_from_config(
    {
        "keys": {"mask_containing": ["statement"], "keep": ["token_count"]},
        "patterns": [{"name": "user_id", "regex": r"user-\d{5}"}],
    }
)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated recording: OTLP JSON Lines with logs (one file), HAR and rrweb files."""
    out = tmp_path_factory.mktemp("generated")
    generate(out, spans=2_000, browser_share=0.3)
    return out


@pytest.fixture(scope="module")
def large_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OTLP JSON Lines file of several batches (about 12,000 spans, 9 MB)."""
    out = tmp_path_factory.mktemp("large")
    generate(out, spans=10_000, browser_share=0.0)
    return out / "otlp" / "part-0001.jsonl"


def _ingest(db: Path, paths: list[Path], worker: str, rules: RedactionRules = DEFAULT_RULES) -> list[FileResult]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(pipeline.WORKER_ENV_VAR, worker)
        with Store(db) as store:
            return list(ingest_paths(store, [str(p) for p in paths], rules=rules))


def _dump(db: Path) -> dict[str, list[Any]]:
    """Every table's rows, in a stable order; the ingest time stamps left out."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        dump = {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}"))) for t in tables if t != "ingests"}
        stamp = [r[1] for r in conn.execute("PRAGMA table_info(ingests)")].index("ingested_at_ns")
        dump["ingests"] = [r[:stamp] + r[stamp + 1 :] for r in conn.execute("SELECT * FROM ingests ORDER BY id")]
        return dump
    finally:
        conn.close()


def _children() -> set[int]:
    """This process's child processes, zombies included, but for multiprocessing's resource tracker."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"resource_tracker" not in cmdline:
            children.add(int(entry.name))
    return children


def _same_results(a: list[FileResult], b: list[FileResult]) -> None:
    assert [(r.source, r.status, r.format, r.counts, r.redactions, r.error) for r in a] == [
        (r.source, r.status, r.format, r.counts, r.redactions, r.error) for r in b
    ]


def test_the_worker_stores_what_in_process_stores_from_the_fixtures(tmp_path):
    shop = ROOT / "fixtures" / "recordings" / "shop" / "otlp"  # each file costs a worker start-up: not all
    fixtures = [shop / f"{name}.jsonl" for name in ("n-plus-one", "returning-user", "secrets", "server-error")]
    in_process = _ingest(tmp_path / "a.db", fixtures, "never")
    in_worker = _ingest(tmp_path / "b.db", fixtures, "always")
    assert [r.status for r in in_process] == ["stored"] * 4
    _same_results(in_process, in_worker)
    assert _dump(tmp_path / "a.db") == _dump(tmp_path / "b.db")


def test_the_worker_stores_what_in_process_stores_from_a_generated_recording_under_a_config(tmp_path, recording):
    paths = [
        recording / "otlp" / "part-0001.jsonl",
        next((recording / "browser" / "har").iterdir()),
        next((recording / "browser" / "rrweb").iterdir()),
        ROOT / "fixtures" / "recordings" / "shop" / "otlp" / "secrets.jsonl",
    ]
    in_process = _ingest(tmp_path / "a.db", paths, "never", CONFIG)
    in_worker = _ingest(tmp_path / "b.db", paths, "always", CONFIG)
    assert [r.status for r in in_process] == ["stored"] * 4
    assert in_process[0].counts.logs_stored and in_process[1].counts.events_stored
    assert {"user_id", "configured_key", "known_value"} <= set(in_process[0].redactions)  # config and state
    _same_results(in_process, in_worker)
    assert _dump(tmp_path / "a.db") == _dump(tmp_path / "b.db")


def test_an_already_stored_file_is_unchanged_and_its_worker_stopped(tmp_path, recording):
    path = recording / "otlp" / "part-0001.jsonl"
    _ingest(tmp_path / "a.db", [path], "never")
    before, children = _dump(tmp_path / "a.db"), _children()
    [again] = _ingest(tmp_path / "a.db", [path], "always")
    assert (again.status, again.format) == ("unchanged", "otlp-jsonl")
    assert _dump(tmp_path / "a.db") == before
    assert _children() == children


def _with_bad_line(large_file: Path, tmp_path: Path) -> Path:
    lines = large_file.read_bytes().splitlines(keepends=True)
    middle = len(lines) // 2
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join([*lines[:middle], b'{"resourceSpans": [\n', *lines[middle:]]))
    return bad


class _FailsLater:
    """A key rule with a bug that shows only far into a file (picklable: it travels to the worker)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, key: str) -> str | None:
        self.calls += 1
        if self.calls > 35_000:  # about half of the large file
            raise ZeroDivisionError("a bug")
        return is_sensitive_key(key)


class _BuggyRules(RedactionRules):
    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "key_rule", _FailsLater())


@pytest.mark.parametrize("failure", ["malformed line", "unexpected exception"])
def test_a_failure_mid_file_gives_the_in_process_text_and_stores_nothing(tmp_path, large_file, failure):
    if failure == "malformed line":
        path, rules, expected = _with_bad_line(large_file, tmp_path), DEFAULT_RULES, "line "
    else:
        path, rules, expected = large_file, _BuggyRules(), "unexpected ZeroDivisionError while reading"
    db = tmp_path / "s.db"
    _ingest(db, [ROOT / "fixtures" / "recordings" / "otlp" / "sdk-shop.jsonl"], "never")
    before, children = _dump(db), _children()
    [in_process] = _ingest(db, [path], "never", dataclasses.replace(rules))  # a fresh rule state for each
    [in_worker] = _ingest(db, [path], "always", dataclasses.replace(rules))
    assert in_process.status == "failed" and in_process.error.startswith(expected)
    _same_results([in_process], [in_worker])
    assert _dump(db) == before
    assert _children() == children


def _kill_the_worker_after_the_first_write(monkeypatch: pytest.MonkeyPatch) -> None:
    write = IngestWriter.write

    def write_then_kill(self: IngestWriter, batch: Any) -> None:
        write(self, batch)
        for worker in multiprocessing.active_children():
            os.kill(worker.pid, signal.SIGKILL)  # type: ignore[arg-type]

    monkeypatch.setattr(IngestWriter, "write", write_then_kill)


def test_a_killed_worker_fails_the_file_and_stores_nothing(tmp_path, large_file, monkeypatch):
    db = tmp_path / "s.db"
    _ingest(db, [ROOT / "fixtures" / "recordings" / "otlp" / "sdk-shop.jsonl"], "never")
    before, children = _dump(db), _children()
    _kill_the_worker_after_the_first_write(monkeypatch)
    [result] = _ingest(db, [large_file], "always")
    assert result.status == "failed"
    assert result.error == (
        "the ingest worker process died (killed by SIGKILL, perhaps for lack of memory); nothing stored"
    )
    assert _dump(db) == before
    assert _children() == children


@pytest.mark.parametrize("failure", [sqlite3.OperationalError("disk I/O error"), KeyboardInterrupt()])
def test_a_failure_here_mid_way_stops_the_worker_and_stores_nothing(tmp_path, large_file, monkeypatch, failure):
    db = tmp_path / "s.db"
    _ingest(db, [ROOT / "fixtures" / "recordings" / "otlp" / "sdk-shop.jsonl"], "never")
    before, children = _dump(db), _children()
    write = IngestWriter.write

    def write_then_fail(self: IngestWriter, batch: Any) -> None:
        write(self, batch)
        raise failure

    monkeypatch.setattr(IngestWriter, "write", write_then_fail)
    if isinstance(failure, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            _ingest(db, [large_file], "always")
    else:
        [result] = _ingest(db, [large_file], "always")
        assert result.error == "unexpected OperationalError while reading; nothing stored (please report this file)"
    assert _dump(db) == before
    assert _children() == children


def _read_offset(pid: int, path: Path) -> int:
    """How far process `pid` has read into `path` (from its open file descriptions)."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        if fd.resolve() == path.resolve():
            return int(Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().split("pos:")[1].split()[0])
    raise AssertionError(f"{pid} does not have {path} open")


def test_the_worker_waits_for_the_writer_instead_of_running_ahead(large_file):
    with pipeline.WorkerRows(large_file, DEFAULT_RULES) as rows:
        batches = rows.batches(ingest_id=1)
        next(batches)  # then nothing read here for a while: the worker must come to a stop
        [worker] = multiprocessing.active_children()
        offsets = [_read_offset(worker.pid, large_file)]  # type: ignore[arg-type]
        deadline = time.monotonic() + 10
        while (len(offsets) < 5 or len(set(offsets[-5:])) > 1) and time.monotonic() < deadline:
            time.sleep(0.1)
            offsets.append(_read_offset(worker.pid, large_file))  # type: ignore[arg-type]
        assert len(set(offsets[-5:])) == 1, "the worker kept reading"
        assert offsets[-1] < large_file.stat().st_size * 3 / 4  # blocked, with much of the file unread
        assert sum(1 for _ in batches) >= 3  # the rest was still to come


def _spy_on_workers(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    started: list[Path] = []
    worker_rows = pipeline.WorkerRows

    def recording_worker(path: Path, rules: RedactionRules) -> pipeline.WorkerRows:
        started.append(path)
        return worker_rows(path, rules)

    monkeypatch.setattr(pipeline, "WorkerRows", recording_worker)
    monkeypatch.delenv(pipeline.WORKER_ENV_VAR, raising=False)
    return started


def test_small_files_stay_in_process_and_large_ones_go_to_the_worker(tmp_path, monkeypatch, recording):
    started = _spy_on_workers(monkeypatch)
    small, large = next((recording / "browser" / "har").iterdir()), recording / "otlp" / "part-0001.jsonl"
    monkeypatch.setattr(pipeline, "WORKER_MIN_BYTES", large.stat().st_size)
    with Store(tmp_path / "s.db") as store:
        assert [ingest_file(store, p).status for p in (small, large)] == ["stored", "stored"]
    assert started == [large]


@pytest.mark.parametrize(("setting", "size", "expected"), [("always", 1, True), ("never", 1 << 40, False)])
def test_the_environment_forces_either_path(monkeypatch, setting, size, expected):
    monkeypatch.setenv(pipeline.WORKER_ENV_VAR, setting)
    assert pipeline.use_worker(size) is expected


def test_an_unknown_setting_is_refused_by_name(monkeypatch):
    monkeypatch.setenv(pipeline.WORKER_ENV_VAR, "sometimes")
    with pytest.raises(InvalidArgumentError, match="MCP_SESSIONS_INGEST_WORKER"):
        pipeline.use_worker(1)
