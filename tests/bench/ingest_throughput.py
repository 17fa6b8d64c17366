"""Ingest throughput for OTLP JSON Lines, beside the parse-only ceiling and a naive pipeline, in one run.

    python tests/bench/ingest_throughput.py [--spans 200000] [--seed 7] [--repeat 3] [--profile]

On one generated file (tests/bench/dataset.py, cached under the system temp folder) it
times, each in a fresh child process so none inherits another's heap, with the file
already in the page cache and the repetitions interleaved (machines are shared and noisy):

    ingest    mcp_sessions.ingest.ingest_file into a new database (Store opened and closed
              inside the timing): detect, parse, redact, write, derive traces and sessions
    parse     our parser and redaction: formats.read_path + redact_records, every record
              consumed, nothing stored (diagnostic: how much of ingest is reading, not writing)
    ceiling   orjson.loads line by line, iterating every span dict, nothing stored
    store     the floor of any ingest into our schema: orjson.loads, one row tuple per span of
              the `spans` table built with plain dict lookups (no redaction, promotion rules,
              fingerprints or derivation), executemany into a new database (diagnostic)
    naive     json.loads line by line, one flattened dict per span (attributes as JSON),
              sqlite-utils insert_all into a new database: what a user might write

and prints spans/s for each (median over --repeat), then ingest/ceiling (target >= 0.6)
and ingest/naive (target >= 3). --profile then runs ingest once in this process under
cProfile and prints the top 25 functions by cumulative and by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dataset import ensure_dataset

PIPELINES = ("ingest", "parse", "store", "ceiling", "naive")


def run_ingest(path: Path, db: Path) -> int:
    from mcp_sessions.ingest import ingest_file
    from mcp_sessions.store import Store

    with Store(db) as store:
        result = ingest_file(store, path)
    if result.status != "stored":
        raise SystemExit(f"ingest did not store {path}: {result.status} {result.error}")
    return result.counts.spans_stored


def run_parse(path: Path, db: Path) -> int:
    from mcp_sessions.formats import read_path
    from mcp_sessions.model import Span
    from mcp_sessions.redact import RedactionReport, redact_records

    spans = 0
    with read_path(path) as parsed:
        for record in redact_records(parsed.records, RedactionReport()):
            if isinstance(record, Span):
                spans += 1
    return spans


def run_ceiling(path: Path, db: Path) -> int:
    spans = 0
    with path.open("rb") as handle:
        for line in handle:
            request = orjson.loads(line)
            for resource_spans in request.get("resourceSpans", ()):
                for scope_spans in resource_spans["scopeSpans"]:
                    for span in scope_spans["spans"]:
                        if span:
                            spans += 1
    return spans


def run_store(path: Path, db: Path) -> int:
    from mcp_sessions.store import Store
    from mcp_sessions.store.sqlite.writer import _SPAN_COLUMNS

    def value(any_value: dict) -> object:
        (kind, raw), *_ = any_value.items()
        return int(raw) if kind == "intValue" else raw

    insert = f"INSERT OR IGNORE INTO spans ({', '.join(_SPAN_COLUMNS)}) VALUES ({', '.join('?' * len(_SPAN_COLUMNS))})"
    spans = 0
    with Store(db) as store:
        conn = store.conn
        conn.execute("BEGIN")
        ingest_id = conn.execute(
            "INSERT INTO ingests (content_hash, source, format, ingested_at_ns) VALUES ('floor', 'floor', 'otlp', 0)"
        ).lastrowid
        resource_id = conn.execute("INSERT INTO resources (hash, attributes) VALUES ('floor', '{}')").lastrowid
        rows = []
        with path.open("rb") as handle:
            for line in handle:
                for resource_spans in orjson.loads(line).get("resourceSpans", ()):
                    service = next(
                        (
                            value(a["value"])
                            for a in resource_spans["resource"]["attributes"]
                            if a["key"] == "service.name"
                        ),
                        None,
                    )
                    for scope_spans in resource_spans["scopeSpans"]:
                        for span in scope_spans["spans"]:
                            spans += 1
                            attrs = {a["key"]: value(a["value"]) for a in span.get("attributes", ())}
                            get = attrs.get
                            start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
                            rows.append((
                                span["traceId"], span["spanId"], span.get("parentSpanId"), 0, get("session.id"),
                                get("user.id"), service, span["name"], span.get("kind", ""), start, end, end - start,
                                "unset", None, get("http.method"), get("http.route"), get("http.status_code"),
                                get("http.url"), get("db.system"), get("db.statement"), None, None,
                                get("code.function"), get("code.filepath"), get("code.lineno"), None,
                                orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS).decode(), "[]", "[]", resource_id,
                                ingest_id, span["name"],
                            ))  # fmt: skip
                            if len(rows) >= 2_000:
                                conn.executemany(insert, rows)
                                rows.clear()
        conn.executemany(insert, rows)
        conn.execute("COMMIT")
    return spans


def run_naive(path: Path, db: Path) -> int:
    import sqlite_utils

    spans = 0

    def rows():
        nonlocal spans
        with path.open() as handle:
            for line in handle:
                request = json.loads(line)
                for resource_spans in request.get("resourceSpans", ()):
                    resource = {
                        a["key"]: next(iter(a["value"].values())) for a in resource_spans["resource"]["attributes"]
                    }
                    for scope_spans in resource_spans["scopeSpans"]:
                        for span in scope_spans["spans"]:
                            spans += 1
                            attributes = {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", ())}
                            yield {
                                "trace_id": span["traceId"],
                                "span_id": span["spanId"],
                                "parent_span_id": span.get("parentSpanId"),
                                "service": resource.get("service.name"),
                                "name": span["name"],
                                "kind": span.get("kind"),
                                "start_ns": int(span["startTimeUnixNano"]),
                                "end_ns": int(span["endTimeUnixNano"]),
                                "status": span.get("status", {}).get("code"),
                                "session_id": attributes.get("session.id"),
                                "attributes": json.dumps(attributes),
                                "events": json.dumps(span.get("events", [])),
                            }

    sqlite_utils.Database(db)["spans"].insert_all(rows())
    return spans


RUNNERS = {"ingest": run_ingest, "parse": run_parse, "store": run_store, "ceiling": run_ceiling, "naive": run_naive}


def child(mode: str, path: Path) -> None:
    """Run one pipeline on `path` and print {"seconds", "spans"} as JSON (called in a fresh process)."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        spans = RUNNERS[mode](path, Path(tmp) / "bench.db")
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "spans": spans}))


def measure(mode: str, path: Path) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)], check=True, capture_output=True, text=True
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return data["seconds"], data["spans"]


def profile(path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        profiler = cProfile.Profile()
        profiler.enable()
        run_ingest(path, Path(tmp) / "profile.db")
        profiler.disable()
    for order in ("cumulative", "tottime"):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).strip_dirs().sort_stats(order).print_stats(25)
        text = stream.getvalue()
        print(f"\nprofile of ingest, top 25 by {order}:")
        print(text[text.index("   ncalls") :].rstrip())


def machine() -> str:
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.machine()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000, help="spans in the generated file (default 200,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions; medians are shown")
    parser.add_argument("--profile", action="store_true", help="then profile ingest (cProfile)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    out_dir, summary = ensure_dataset(seed=args.seed, spans=args.spans, browser_share=0.0)
    path = out_dir / summary.otlp_files[0]
    size = path.stat().st_size
    with path.open("rb") as handle:  # into the page cache, so no pipeline pays for the disk
        while handle.read(1 << 24):
            pass
    print(f"ingest throughput on {machine()}")
    print(
        f"file: {path} ({size / 1e6:,.0f} MB, {summary.spans:,} spans, {summary.lines:,} lines, "
        f"{summary.spans_per_line:.0f} spans/line)"
    )
    times: dict[str, list[float]] = {mode: [] for mode in PIPELINES}
    for round_ in range(args.repeat):
        order = PIPELINES[round_ % len(PIPELINES) :] + PIPELINES[: round_ % len(PIPELINES)]
        for mode in order:
            seconds, spans = measure(mode, path)
            if spans != summary.spans:
                raise SystemExit(f"{mode} saw {spans:,} spans, the file has {summary.spans:,}")
            times[mode].append(seconds)
    rate = {mode: summary.spans / statistics.median(values) for mode, values in times.items()}
    print(f"\n{'pipeline':<10} {'spans/s':>11} {'MB/s':>7} {'median s':>9}  runs (s)")
    for mode in PIPELINES:
        median = statistics.median(times[mode])
        runs = " ".join(f"{t:.2f}" for t in times[mode])
        print(f"{mode:<10} {rate[mode]:>11,.0f} {size / 1e6 / median:>7.1f} {median:>9.2f}  {runs}")
    print()
    for label, value, target in (
        ("ingest / ceiling", rate["ingest"] / rate["ceiling"], 0.6),
        ("ingest / naive", rate["ingest"] / rate["naive"], 3.0),
        ("parse / ceiling", rate["parse"] / rate["ceiling"], None),
        ("store / ceiling", rate["store"] / rate["ceiling"], None),
        ("store / naive", rate["store"] / rate["naive"], None),
    ):
        verdict = "" if target is None else f"  target >= {target:g}: {'met' if value >= target else 'MISSED'}"
        print(f"{label:<17} {value:6.2f}{verdict}")
    if args.profile:
        profile(path)


if __name__ == "__main__":
    main()
