"""The same questions on our SQLite store and on the clickhouseexporter's tables in chdb, side by side.

    python tests/bench/clickhouse_vs_sqlite.py [--spans 500000] [--repeat 3] [--seed 7] [--window-min 60]

Builds (cached under the system temp folder, like tool_latency.py) the generated data set of
dataset.py at --spans, our SQLite database of it (`mcp-sessions ingest`), and a chdb directory
holding the same spans and logs as the exporter writes them (tests/data/clickhouse DDL, every
row once), and a second one with `clickhouse init-accelerators` applied. Then each question is
answered in a fresh process per row, rows rotated each round:

    sqlite               the SQLite file
    sqlite (control)     the same code again: the spread between the two is the noise
    clickhouse cold      an empty cache: the scope's traces come over from chdb first
    clickhouse cold+acc  the same, on the accelerated copy (session id column and table)
    clickhouse cached    a cache a previous process (untimed) filled with the same question
    clickhouse again     the same question a second time in the process that asked it first (a running
                         server: what it fetched is fresh for refresh_s, so the cluster is not asked again)

Questions: get_session and get_trace on a median session / its largest trace (answers/, as the
tools call them), find_errors and find_slow_spans over a --window-min window of the data.
Prints the medians in ms, and the statements each row sent to chdb.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dataset import CACHE_ROOT

ROWS = (
    "sqlite",
    "sqlite (control)",
    "clickhouse cold",
    "clickhouse cold+acc",
    "clickhouse cached",
    "clickhouse again",
)
QUESTIONS = ("get_session", "get_trace", "find_errors [window]", "find_slow_spans [window]")
DDL = Path(__file__).resolve().parents[1] / "data" / "clickhouse" / "otel-exporter-ddl.sql"


def build(spans: int, seed: int) -> tuple[Path, Path, Path, Path]:
    """The SQLite database, the chdb directory, its accelerated copy and the local browser file (cached)."""
    from tool_latency import build_db

    db, _ = build_db(spans / 2_000_000, seed, False)
    chdb_dir = db.with_name(db.stem + "-chdb")
    accelerated = db.with_name(db.stem + "-chdb-acc")
    browser = db.with_name(db.stem + "-browser.db")
    marker = chdb_dir / ".loaded.json"
    if not marker.exists():
        shutil.rmtree(chdb_dir, ignore_errors=True)
        shutil.rmtree(accelerated, ignore_errors=True)
        browser.unlink(missing_ok=True)
        data = Path(str(db.name).removeprefix("db-").removesuffix(".db"))
        started = time.perf_counter()
        run_child(["load", str(CACHE_ROOT / data), str(chdb_dir), str(browser)])
        # a chdb directory does not survive being copied: the accelerated one is loaded anew
        run_child(["load", str(CACHE_ROOT / data), str(accelerated), str(browser.with_suffix(".unused.db"))])
        run_child(["accelerate", str(accelerated)])
        marker.write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))
    return db, chdb_dir, accelerated, browser


def load(data: Path, chdb_dir: Path, browser: Path) -> None:
    """Our readers parse the data: spans and logs into chdb (as the exporter writes them), browser files local."""
    import clickhouse_connect

    from mcp_sessions.formats import read_path
    from mcp_sessions.ingest import ingest_paths
    from mcp_sessions.store import Store
    from mcp_sessions.store.clickhouse import load as ch_load
    from mcp_sessions.store.clickhouse.schema import Variant

    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_dir}")
    ch_load.create_tables(client, DDL.read_text())
    variant = Variant("otel", "otel_traces", "map", "short", True, True, True, False, False)
    written = [0, 0]
    for part in sorted((data / "otlp").glob("*.jsonl")):
        with read_path(part) as parsed:
            s, n = ch_load.insert(client, variant, parsed.records)
            written[0] += s
            written[1] += n
    client.close()
    with Store(browser) as store:
        ingest_paths(store, [str(data / "browser")])
    print(f"loaded {written[0]:,} spans and {written[1]:,} logs into {chdb_dir}", file=sys.stderr)


def accelerate(chdb_dir: Path) -> None:
    from mcp_sessions.store.clickhouse import accelerators
    from mcp_sessions.store.clickhouse.connect import remote_of

    remote = remote_of(f"clickhouse+chdb://{chdb_dir}")
    accelerators.apply(remote.client, accelerators.statements(remote))
    remote.client.close()


def picks(db: Path, window_min: int) -> dict[str, str]:
    """A median session (by span count), its largest trace, and a window in the middle of the data."""
    from mcp_sessions.model import SessionFilter, TraceFilter
    from mcp_sessions.store import SqliteStore

    store = SqliteStore(db, readonly=True)
    try:
        sessions = store.sessions(SessionFilter(), sort="largest", limit=500, cursor=None).rows
        with_traces = [s for s in sessions if s.trace_count]
        session = with_traces[len(with_traces) // 2]
        trace = store.traces(TraceFilter(session_id=session.session_id), sort="largest", limit=1, cursor=None).rows[0]
        oldest = store.traces(TraceFilter(), sort="oldest", limit=1, cursor=None).rows[0].start_ns
        newest = store.traces(TraceFilter(), sort="recent", limit=1, cursor=None).rows[0].start_ns
    finally:
        store.close()
    middle = (oldest + newest) // 2
    half = window_min * 60 * 1_000_000_000 // 2

    def iso(ns: int) -> str:
        return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()

    return {
        "session": session.session_id,
        "trace": trace.trace_id,
        "since": iso(middle - half),
        "until": iso(middle + half),
        "session_spans": str(session.span_count),
        "trace_spans": str(trace.span_count),
    }


def ask(store: Any, question: str, p: dict[str, str]) -> None:
    from mcp_sessions.answers.errors import search_errors
    from mcp_sessions.answers.lookup import ScopeQuery
    from mcp_sessions.answers.session import session_overview
    from mcp_sessions.answers.slow import slow_work
    from mcp_sessions.answers.trace import trace_view

    window = ScopeQuery(since=p["since"], until=p["until"])
    if question == "get_session":
        session_overview(store, p["session"])
    elif question == "get_trace":
        trace_view(store, p["trace"], max_spans=200)
    elif question == "find_errors [window]":
        search_errors(store, window, None, 10)
    else:
        slow_work(store, window, group_by="operation", limit=10)


def measure(row: str, question: str, paths: dict[str, str], p: dict[str, str]) -> dict[str, float]:
    """One question in this (fresh) process: its wall time, and the statements sent to chdb."""
    from mcp_sessions.store import SqliteStore
    from mcp_sessions.store.clickhouse.connect import open_clickhouse

    if row.startswith("sqlite"):
        store: Any = SqliteStore(Path(paths["db"]), readonly=True)
    else:
        source = paths["accelerated"] if row.endswith("+acc") else paths["chdb"]
        store = open_clickhouse(f"clickhouse+chdb://{source}", Path(paths["cache"]))
    try:
        if row == "clickhouse again":
            ask(store, question, p)
        before = getattr(getattr(store, "remote", None), "statements", 0)
        started = time.perf_counter()
        ask(store, question, p)
        seconds = time.perf_counter() - started
        statements = getattr(getattr(store, "remote", None), "statements", 0) - before
    finally:
        store.close()
    return {"seconds": seconds, "statements": statements}


def run_child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, env={**os.environ}
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args[:2]} failed:\n{done.stderr[-3000:]}")
    last = done.stdout.strip().splitlines()
    return json.loads(last[-1]) if last else {}


def fresh_cache(browser: Path, into: Path) -> Path:
    """A cache holding only the local browser recordings, as a user's file does before any question."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(into) + suffix).unlink(missing_ok=True)
    shutil.copy(browser, into)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--window-min", type=int, default=60)
    parser.add_argument("--child", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "load":
            load(Path(rest[0]), Path(rest[1]), Path(rest[2]))
        elif kind == "accelerate":
            accelerate(Path(rest[0]))
        else:
            print(json.dumps(measure(rest[0], rest[1], json.loads(rest[2]), json.loads(rest[3]))))
        return

    started = time.perf_counter()
    db, chdb_dir, accelerated, browser = build(args.spans, args.seed)
    p = picks(db, args.window_min)
    print(f"# {platform.python_version()} on {os.cpu_count()} CPUs; built in {time.perf_counter() - started:.0f} s")
    print(
        f"# {args.spans:,} spans; session {p['session']} ({p['session_spans']} spans), trace {p['trace']} "
        f"({p['trace_spans']} spans), window {p['since']} .. {p['until']}"
    )
    work = Path(tempfile.mkdtemp(prefix="ch-vs-sqlite-"))
    paths = {"db": str(db), "chdb": str(chdb_dir), "accelerated": str(accelerated)}
    times: dict[tuple[str, str], list[float]] = {}
    statements: dict[tuple[str, str], float] = {}
    for round_ in range(args.repeat):
        for qi, question in enumerate(QUESTIONS):
            order = ROWS[(round_ + qi) % len(ROWS) :] + ROWS[: (round_ + qi) % len(ROWS)]
            for row in order:
                cache = work / f"cache-{round_}-{qi}-{ROWS.index(row)}.db"
                if row.startswith("clickhouse"):
                    fresh_cache(browser, cache)
                if row == "clickhouse cached":  # filled by an untimed process first
                    run_child(["measure", row, question, json.dumps({**paths, "cache": str(cache)}), json.dumps(p)])
                out = run_child(["measure", row, question, json.dumps({**paths, "cache": str(cache)}), json.dumps(p)])
                times.setdefault((row, question), []).append(out["seconds"] * 1000)
                statements[(row, question)] = out["statements"]
    shutil.rmtree(work, ignore_errors=True)

    width = max(len(q) for q in QUESTIONS)
    print(f"\n| question (median ms of {args.repeat}, fresh process each) | " + " | ".join(ROWS) + " |")
    print("|---|" + "---:|" * len(ROWS))
    for question in QUESTIONS:
        cells = []
        for row in ROWS:
            ms = statistics.median(times[(row, question)])
            sent = statements[(row, question)]
            cells.append(f"{ms:,.0f}" + (f" ({sent:.0f} q)" if row.startswith("clickhouse") else ""))
        print(f"| {question:<{width}} | " + " | ".join(cells) + " |")
    print("\n(n q): statements sent to chdb by the timed process")


if __name__ == "__main__":
    main()
