"""The ingest progress bar: on a terminal only, out of the way of the result lines."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_sessions import cli, progress
from mcp_sessions.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
OTLP = ROOT / "fixtures" / "recordings" / "shop" / "otlp"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_nothing_is_drawn_on_a_pipe_or_a_file():
    out = io.StringIO()
    with Progress(3, 300, out, show_after_s=0, ticking=False) as bar:
        bar.working_on("a.json")
        bar.done(100)
        bar.write("stored a.json", io.StringIO())
    assert out.getvalue() == "" and not bar.drawn


def test_the_bar_waits_counts_files_and_bytes_and_clears_for_result_lines():
    screen, results, clock = io.StringIO(), io.StringIO(), Clock()
    bar = Progress(4, 4_000_000, screen, enabled=True, clock=clock, ticking=False)
    bar.working_on("first.json")
    bar.done(1_000_000)
    assert screen.getvalue() == ""  # a quick run draws nothing
    clock.now = 75
    bar.working_on("second.jsonl")
    drawn = screen.getvalue()
    assert "[#####---------------] 1/4 files · 1.0 MB of 4.0 MB · 1:15 · second.jsonl" in drawn
    bar.write("stored     first.json (otlp-json): 3 spans", results)
    assert screen.getvalue().count("\r\x1b[K") == 3  # drawn, cleared for the line, drawn again
    assert results.getvalue() == "stored     first.json (otlp-json): 3 spans\n"
    bar.close()
    assert screen.getvalue().endswith("\r\x1b[K") and not bar.drawn


def test_a_long_label_is_cut_from_the_left_to_fit_the_terminal():
    clock = Clock()
    bar = Progress(2, 0, io.StringIO(), enabled=True, clock=clock, ticking=False)
    bar.label = "/very/long/" + "x" * 200 + "/end.json"
    line = bar.line(columns=80)
    assert len(line) <= 79 and line.endswith("/end.json") and "…" in line and "0/2 files" in line


def test_ingest_draws_the_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    primary, secondary = os.openpty()
    terminal = os.fdopen(secondary, "w")
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.0)
    monkeypatch.delenv("TERM", raising=False)
    try:
        assert cli.main(["ingest", "--db", str(tmp_path / "t.db"), str(OTLP)]) == 0
        terminal.flush()
        seen = os.read(primary, 65536).decode()
    finally:
        terminal.close()
        os.close(primary)
    files = len([p for p in OTLP.rglob("*") if p.is_file()])
    assert f"{files}/{files} files" in seen and "\r\x1b[K" in seen


def test_ingest_piped_prints_only_the_result_lines(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "mcp_sessions", "ingest", "--db", str(tmp_path / "t.db"), str(OTLP)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr + done.stdout and "files" not in done.stderr
    assert done.stdout.count("stored     ") == len([p for p in OTLP.rglob("*") if p.is_file()])
