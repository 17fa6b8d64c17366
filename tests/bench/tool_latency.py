"""Tool latency (p50/p95 through the in-memory MCP client) and response sizes, on a large database.

    python tests/bench/tool_latency.py [--scale 1.0] [--calls 30] [--seed 7] [--rebuild]

Builds (or reuses, cached by seed and scale under the system temp folder) a database of
10,000 x scale sessions and 2,000,000 x scale spans: tests/bench/dataset.py writes OTLP
JSON Lines in parts of 250,000 spans plus one HAR or rrweb file for 2% of the sessions,
and our own command line ingests them (`python -m mcp_sessions --db DB ingest ...`; the
time it took is printed). Then it picks realistic arguments from the database (random
sessions and traces, the largest ones, sessions with errors, with browser events, with
the N+1 checkout; read with sqlite3, read-only) and calls every tool the server lists
through `Client(create_server(db))`, --calls times per row, the rows interleaved, timing
each call from the client's side; a row whose calls have taken --row-budget seconds (60)
is called no more. Tools not (yet) listed by the server are skipped with a
note. Prints per row: p50, p95, max, the target, errors, and the response size (text
characters, approximate tokens = characters / 4, and characters of structured content).

Targets: per-session calls p95 < 100 ms; list_sessions and global calls p95 < 500 ms.
Start with --scale 0.05 (500 sessions, 100,000 spans) to try it quickly.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dataset import CACHE_ROOT, ensure_dataset

PER_SESSION_MS, GLOBAL_MS = 100, 500
PART_SPANS = 250_000


@dataclass
class Row:
    """One line of the table: a tool in one kind of use, with the arguments to cycle through."""

    label: str
    tool: str
    target_ms: int | None
    arguments: list[dict[str, Any]]
    seconds: list[float] = field(default_factory=list)
    slowest: tuple[float, dict[str, Any]] = (0.0, {})
    text_chars: list[int] = field(default_factory=list)
    structured_chars: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def build_db(scale: float, seed: int, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    sessions, spans = round(10_000 * scale), round(2_000_000 * scale)
    out_dir, summary = ensure_dataset(seed=seed, sessions=sessions, spans=spans, file_spans=PART_SPANS)
    db = CACHE_ROOT / f"db-{out_dir.name}.db"
    marker = db.with_suffix(".build.json")
    if marker.exists() and not rebuild:
        return db, json.loads(marker.read_text())
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), marker):
        stale.unlink(missing_ok=True)
    build: dict[str, Any] = {"sessions": summary.sessions, "spans": summary.spans, "bytes": summary.bytes}
    for label, folder in (("otlp", out_dir / "otlp"), ("browser", out_dir / "browser")):
        if not folder.exists():
            continue
        print(f"ingesting {folder} into {db} …", file=sys.stderr)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "mcp_sessions", "--db", str(db), "ingest", str(folder)],
            capture_output=True,
            text=True,
        )
        build[f"{label}_seconds"] = round(time.perf_counter() - started, 1)
        if done.returncode != 0:
            raise SystemExit(f"ingest of {folder} failed:\n{done.stderr[-2000:]}")
        build[f"{label}_files"] = len(done.stdout.splitlines()) - 1
    marker.write_text(json.dumps(build, indent=2))
    return db, build


def pick(db: Path, seed: int) -> dict[str, list[str]]:
    """Realistic arguments, read straight from the database (read-only)."""
    rng = random.Random(seed)
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)

    def column(sql: str, *params: Any) -> list[str]:
        return [row[0] for row in conn.execute(sql, params)]

    def sample(sql: str, n: int) -> list[str]:
        values = column(sql)
        return rng.sample(values, min(n, len(values)))

    picks = {
        "sessions": sample("SELECT session_id FROM sessions", 40),
        "largest_sessions": column("SELECT session_id FROM sessions ORDER BY span_count DESC LIMIT 5"),
        "error_sessions": sample("SELECT session_id FROM sessions WHERE error_count > 0", 20),
        "browser_sessions": sample("SELECT DISTINCT session_id FROM events WHERE session_id IS NOT NULL", 20),
        "n_plus_one_sessions": sample(
            "SELECT session_id FROM traces WHERE http_route = '/api/checkout' AND span_count > 30 "
            "AND session_id IS NOT NULL",
            20,
        ),
        "good_checkout_sessions": sample(
            "SELECT session_id FROM traces WHERE http_route = '/api/checkout' AND span_count < 20 "
            "AND session_id IS NOT NULL",
            20,
        ),
        "traces": sample("SELECT trace_id FROM traces", 40),
        "largest_traces": column("SELECT trace_id FROM traces ORDER BY span_count DESC LIMIT 5"),
        "error_traces": sample("SELECT trace_id FROM traces WHERE error_count > 0", 20),
        "users": sample("SELECT DISTINCT user_id FROM sessions WHERE user_id IS NOT NULL", 20),
    }
    conn.close()
    return {name: values or [""] for name, values in picks.items()}


def rows_for(p: dict[str, list[str]]) -> list[Row]:
    def each(key: str, **extra: Any) -> list[dict[str, Any]]:
        return [{"session_id": s, **extra} for s in p[key]]

    some = p["sessions"]
    return [
        Row(
            "list_sessions",
            "list_sessions",
            GLOBAL_MS,
            [
                {},
                {"has_errors": True, "sort": "slowest"},
                {"query": "/api/checkout"},
                {"service": "payments", "sort": "errors"},
                {"min_duration_ms": 120_000, "sort": "largest"},
                *({"user_id": u} for u in p["users"][:5]),
            ],
        ),
        Row("list_traces [session]", "list_traces", PER_SESSION_MS, each("sessions", sort="slowest")),
        Row(
            "list_traces [global]",
            "list_traces",
            GLOBAL_MS,
            [
                {},
                {"unsessioned": True},
                {"query": "/api/checkout", "sort": "slowest"},
                {"has_errors": True},
                {"service": "payments"},
            ],
        ),
        Row("get_session", "get_session", PER_SESSION_MS, each("sessions") + each("largest_sessions")),
        Row(
            "get_timeline",
            "get_timeline",
            PER_SESSION_MS,
            each("sessions") + each("browser_sessions") + each("browser_sessions", kinds=["network", "console"]),
        ),
        Row(
            "get_trace",
            "get_trace",
            PER_SESSION_MS,
            [{"trace_id": t} for t in p["traces"] + p["largest_traces"] + p["error_traces"]],
        ),
        Row(
            "find_slow_spans [session]",
            "find_slow_spans",
            PER_SESSION_MS,
            each("sessions") + each("n_plus_one_sessions") + each("largest_sessions"),
        ),
        Row(
            "find_slow_spans [trace]",
            "find_slow_spans",
            PER_SESSION_MS,
            [{"trace_id": t} for t in p["traces"] + p["largest_traces"]],
        ),
        Row(
            "find_slow_spans [global]",
            "find_slow_spans",
            GLOBAL_MS,
            [{}, {"service": "payments"}, {"route": "/api/checkout"}, {"group_by": "span"}],
        ),
        Row("find_errors [session]", "find_errors", PER_SESSION_MS, each("error_sessions") + each("sessions")),
        Row("find_errors [global]", "find_errors", GLOBAL_MS, [{}, {"service": "shop"}, {"route": "/api/cart/coupon"}]),
        Row(
            "diff_against_baseline",
            "diff_against_baseline",
            PER_SESSION_MS,
            each("n_plus_one_sessions")
            + [
                {"session_id": s, "baseline": b}
                for s, b in zip(p["n_plus_one_sessions"], p["good_checkout_sessions"], strict=False)
            ]
            + each("sessions"),
        ),
        Row(
            "draft_regression_test",
            "draft_regression_test",
            PER_SESSION_MS,
            each("n_plus_one_sessions", style="api") + each("error_sessions", style="api") + [{"session_id": some[0]}],
        ),
    ]


async def measure(db: Path, rows: list[Row], calls: int, row_budget: float) -> tuple[list[Row], list[str]]:
    from mcp_sessions.server import create_server

    async with Client(create_server(db)) as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        active = [row for row in rows if row.tool in listed]
        skipped = sorted({row.tool for row in rows if row.tool not in listed})
        for i in range(calls):
            for row in active:
                if sum(row.seconds) > row_budget:  # far too slow already: more calls only cost time
                    continue
                arguments = row.arguments[i % len(row.arguments)]
                started = time.perf_counter()
                answer = await client.call_tool(row.tool, arguments)
                row.seconds.append(time.perf_counter() - started)
                row.slowest = max(row.slowest, (row.seconds[-1], arguments), key=lambda item: item[0])
                text = "".join(getattr(block, "text", "") for block in answer.content)
                if answer.is_error:
                    row.errors.append(f"{arguments}: {text[:200]}")
                    continue
                row.text_chars.append(len(text))
                row.structured_chars.append(len(json.dumps(answer.structured_content or {})))
    return active, skipped


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 10,000 sessions and 2,000,000 spans")
    parser.add_argument("--calls", type=int, default=30, help="calls per row")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="ingest again even if the database is cached")
    parser.add_argument("--only", help="only rows whose label contains this text (e.g. 'global')")
    parser.add_argument(
        "--row-budget", type=float, default=60, help="stop calling a row once its calls took this many seconds"
    )
    args = parser.parse_args()
    db, build = build_db(args.scale, args.seed, args.rebuild)
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("sessions", "traces", "spans")}
    events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.close()
    rows = [row for row in rows_for(pick(db, args.seed)) if not args.only or args.only in row.label]
    active, skipped = anyio.run(measure, db, rows, args.calls, args.row_budget)

    print(f"tool latency on {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(
        f"database: {db} ({db.stat().st_size / 1e6:,.0f} MB): {counts['sessions']:,} sessions, "
        f"{counts['traces']:,} traces, {counts['spans']:,} spans, {events:,} browser events"
    )
    built = ", ".join(f"{k} {v}" for k, v in build.items() if k.endswith(("_seconds", "_files")))
    print(f"built by our ingest: {built}")
    print(
        f"up to {args.calls} calls per row, rows interleaved (a row stops once its calls took {args.row_budget:g} s); "
        "sizes are of successful answers (tokens ~ chars / 4)\n"
    )
    header = (
        f"{'tool [scope]':<27} {'calls':>5} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'target':>7}  {'verdict':<7} "
        f"{'errors':>6} {'text chars':>10} {'~tokens':>8} {'max tok':>8} {'struct ch':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in active:
        ms = [s * 1e3 for s in row.seconds]
        p95 = percentile(ms, 0.95)
        target = f"<{row.target_ms}" if row.target_ms else "-"
        verdict = "-" if not row.target_ms else ("met" if p95 < row.target_ms else "MISSED")
        chars = statistics.mean(row.text_chars) if row.text_chars else 0
        biggest = max(row.text_chars, default=0)
        structured = statistics.mean(row.structured_chars) if row.structured_chars else 0
        print(
            f"{row.label:<27} {len(ms):>5} {statistics.median(ms):>7.1f} {p95:>7.1f} {max(ms):>7.1f} {target:>7}  "
            f"{verdict:<7} {len(row.errors):>6} {chars:>10,.0f} {chars / 4:>8,.0f} {biggest / 4:>8,.0f} "
            f"{structured:>9,.0f}"
        )
    for tool in skipped:
        print(f"{tool:<27} skipped: the server does not list it (not built yet)")
    for row in active:
        if row.target_ms and percentile([s * 1e3 for s in row.seconds], 0.95) >= row.target_ms:
            seconds, arguments = row.slowest
            print(f"\n{row.label}: missed; slowest call {seconds * 1e3:,.0f} ms with {json.dumps(arguments)}")
        if row.errors:
            print(f"\n{row.label}: {len(row.errors)} tool errors; the first: {row.errors[0]}")


if __name__ == "__main__":
    main()
