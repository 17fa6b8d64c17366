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
    duckdb    DuckDB's own read_json of the file, spans unnested into a table with promoted
              columns (service, session id, route, statement) and a MAP of attributes
    chdb      the ClickHouse engine in-process (chdb): the lines read as strings, spans
              extracted with JSONExtract into a MergeTree table with a Map of attributes
    control   the ingest pipeline again, the identical code: its ratio to ingest shows the noise

duckdb and chdb are optional (`pip install -e '.[bench]'`); a missing one is named and
skipped. It prints spans/s for each (median over --repeat) and, for every pipeline, the
median over rounds of its paired ratio to ingest in the same round (time of ingest / time
of the pipeline: above 1 means that pipeline is faster than ours), then ingest/ceiling
(target >= 0.6) and ingest/naive (target >= 3). --profile then runs ingest once in this
process under cProfile and prints the top 25 functions by cumulative and by own time.
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
from importlib.util import find_spec
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dataset import ensure_dataset

PIPELINES = ("ingest", "parse", "store", "ceiling", "naive", "duckdb", "chdb", "control")
OPTIONAL = {"duckdb": "duckdb", "chdb": "chdb"}  # pipeline -> the module it needs


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
                            row = {
                                "trace_id": span["traceId"], "span_id": span["spanId"],
                                "parent_span_id": span.get("parentSpanId"), "shared": 0,
                                "session_id": get("session.id"), "user_id": get("user.id"), "service": service,
                                "name": span["name"], "kind": span.get("kind", ""), "start_ns": start, "end_ns": end,
                                "duration_ns": end - start, "status_code": "unset",
                                "http_method": get("http.method"), "http_route": get("http.route"),
                                "http_status": get("http.status_code"), "http_url": get("http.url"),
                                "db_system": get("db.system"), "db_statement": get("db.statement"),
                                "code_function": get("code.function"), "code_filepath": get("code.filepath"),
                                "code_lineno": get("code.lineno"),
                                "attributes": orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS).decode(),
                                "events": "[]", "links": "[]", "resource_id": resource_id, "ingest_id": ingest_id,
                                "fingerprint": span["name"], "record_hash": span["spanId"],
                            }  # fmt: skip
                            rows.append(tuple(row.get(column) for column in _SPAN_COLUMNS))
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


def run_duckdb(path: Path, db: Path) -> int:
    import duckdb

    conn = duckdb.connect(str(db.with_suffix(".duckdb")))
    conn.execute(
        """
        CREATE TABLE spans AS
        WITH requests AS (
            SELECT unnest(resourceSpans) AS rs
            FROM read_json(?, format = 'newline_delimited', maximum_object_size = 1073741824)
        ),
        scopes AS (SELECT rs.resource.attributes AS resource, unnest(rs.scopeSpans) AS ss FROM requests),
        spans AS (SELECT resource, unnest(ss.spans) AS s FROM scopes),
        flat AS (
            SELECT resource, s, map_from_entries(list_transform(s.attributes, lambda a: struct_pack(
                k := a.key, v := coalesce(a.value.stringValue, CAST(a.value AS JSON)::VARCHAR)))) AS attributes
            FROM spans
        )
        SELECT s.traceId AS trace_id, s.spanId AS span_id, s.parentSpanId AS parent_span_id,
               list_filter(resource, lambda a: a.key = 'service.name')[1].value.stringValue AS service,
               s.name AS name, s.kind AS kind,
               CAST(s.startTimeUnixNano AS UBIGINT) AS start_ns, CAST(s.endTimeUnixNano AS UBIGINT) AS end_ns,
               attributes['session.id'] AS session_id, attributes['http.route'] AS http_route,
               attributes['db.statement'] AS db_statement, attributes
        FROM flat
        """,
        [str(path)],
    )
    (spans,) = conn.execute("SELECT count(*) FROM spans").fetchone()
    conn.close()
    return int(spans)


def run_chdb(path: Path, db: Path) -> int:
    from chdb import session

    if "'" in str(path) or "\\" in str(path):
        raise SystemExit(f"chdb pipeline: a path with quotes or backslashes is not supported: {path}")
    engine = session.Session(str(db.with_suffix(".chdb")))
    engine.query("CREATE DATABASE IF NOT EXISTS bench")
    engine.query(
        """
        CREATE TABLE bench.spans (
            trace_id String, span_id String, parent_span_id String, service LowCardinality(String),
            name String, kind LowCardinality(String), start_ns UInt64, end_ns UInt64, session_id String,
            attributes Map(LowCardinality(String), String)
        ) ENGINE = MergeTree ORDER BY (service, start_ns)
        """
    )
    value = (
        "if(JSONHas(a, 'value', 'stringValue'), JSONExtractString(a, 'value', 'stringValue'), "
        "JSONExtractRaw(a, 'value'))"
    )
    engine.query(
        f"""
        INSERT INTO bench.spans
        SELECT JSONExtractString(s, 'traceId'), JSONExtractString(s, 'spanId'), JSONExtractString(s, 'parentSpanId'),
               service, JSONExtractString(s, 'name'), JSONExtractString(s, 'kind'),
               toUInt64OrZero(JSONExtractString(s, 'startTimeUnixNano')),
               toUInt64OrZero(JSONExtractString(s, 'endTimeUnixNano')), attrs['session.id'], attrs
        FROM (
            SELECT s, service, mapFromArrays(
                arrayMap(a -> JSONExtractString(a, 'key'), JSONExtractArrayRaw(s, 'attributes')),
                arrayMap(a -> {value}, JSONExtractArrayRaw(s, 'attributes'))) AS attrs
            FROM (
                SELECT arrayJoin(JSONExtractArrayRaw(ss, 'spans')) AS s, service
                FROM (
                    SELECT arrayJoin(JSONExtractArrayRaw(rs, 'scopeSpans')) AS ss,
                           JSONExtractString(JSONExtractRaw(arrayFirst(
                               a -> JSONExtractString(a, 'key') = 'service.name',
                               JSONExtractArrayRaw(JSONExtractRaw(rs, 'resource'), 'attributes')), 'value'),
                               'stringValue') AS service
                    FROM (
                        SELECT arrayJoin(JSONExtractArrayRaw(line, 'resourceSpans')) AS rs
                        FROM file('{path}', 'LineAsString', 'line String')
                    )
                )
            )
        )
        """
    )
    spans = int(str(engine.query("SELECT count() FROM bench.spans", "CSV")).strip())
    engine.close()
    return spans


RUNNERS = {
    "ingest": run_ingest,
    "parse": run_parse,
    "store": run_store,
    "ceiling": run_ceiling,
    "naive": run_naive,
    "duckdb": run_duckdb,
    "chdb": run_chdb,
    "control": run_ingest,
}


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
    pipelines = tuple(mode for mode in PIPELINES if mode not in OPTIONAL or find_spec(OPTIONAL[mode]))
    for mode in PIPELINES:
        if mode not in pipelines:
            print(f"{mode}: not installed (pip install -e '.[bench]'), skipped")
    times: dict[str, list[float]] = {mode: [] for mode in pipelines}
    for round_ in range(args.repeat):
        order = pipelines[round_ % len(pipelines) :] + pipelines[: round_ % len(pipelines)]
        for mode in order:
            seconds, spans = measure(mode, path)
            if spans != summary.spans:
                raise SystemExit(f"{mode} saw {spans:,} spans, the file has {summary.spans:,}")
            times[mode].append(seconds)
    rate = {mode: summary.spans / statistics.median(values) for mode, values in times.items()}
    # paired: each round's ingest time over that round's time of the pipeline, then the median
    paired = {
        mode: statistics.median(ours / theirs for ours, theirs in zip(times["ingest"], times[mode], strict=True))
        for mode in pipelines
    }
    print(f"\n{'pipeline':<10} {'spans/s':>11} {'MB/s':>7} {'median s':>9} {'speed / ours':>13}  runs (s)")
    for mode in pipelines:
        median = statistics.median(times[mode])
        runs = " ".join(f"{t:.2f}" for t in times[mode])
        print(
            f"{mode:<10} {rate[mode]:>11,.0f} {size / 1e6 / median:>7.1f} {median:>9.2f} {paired[mode]:>13.2f}  {runs}"
        )
    print("(speed / ours: median over rounds of ingest's time / the pipeline's time in the same round;")
    print(" the control row is ingest's identical code, so its distance from 1.00 is the noise)")
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
