"""Receiver throughput: spans per second accepted end to end (HTTP → decode → redact → commit).

    python tests/bench/receiver_throughput.py [--requests 400] [--spans 100] [--concurrency 8]

Starts `mcp-sessions collect` as its own process on a free loopback port with a fresh
database (so the sending client does not share its interpreter), sends protobuf export
requests (each `--spans` spans over 10 traces, with realistic attributes) from
`--concurrency` clients, waits for every acknowledgement (an acknowledgement means
committed), stops the receiver with SIGINT, and prints spans/s, requests/s, how many
transactions the writer used (rows in `ingests`) and whether every span is in the
database; then the same for JSON bodies. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def make_request(rng: random.Random, n_spans: int, t0: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attr = resource_spans.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", "bench-shop"
    spans = resource_spans.scope_spans.add().spans
    per_trace = max(1, n_spans // 10)
    for _ in range(0, n_spans, per_trace):
        trace_id = rng.randbytes(16)
        root_id = rng.randbytes(8)
        for j in range(per_trace):
            span = spans.add()
            span.trace_id, span.span_id = trace_id, root_id if j == 0 else rng.randbytes(8)
            if j:
                span.parent_span_id = root_id
            span.name = "POST /checkout" if j == 0 else "SELECT products"
            span.kind = 2 if j == 0 else 3
            span.start_time_unix_nano = t0 + j * 1_000_000
            span.end_time_unix_nano = span.start_time_unix_nano + rng.randint(100_000, 5_000_000)
            for key, value in (
                ("session.id", f"s-{rng.randint(1, 500)}"),
                ("http.route", "/checkout"),
                ("db.query.text", f"SELECT * FROM products WHERE id = {rng.randint(1, 999)}"),
            ):
                a = span.attributes.add()
                a.key, a.value.string_value = key, value
    return request


def start(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_sessions", "collect", "--db", str(db), "--port", str(port), "--max-body-mb", "64"],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the receiver did not start") from None
            time.sleep(0.05)
    return process, f"http://127.0.0.1:{port}"


async def send_all(url: str, bodies: list[bytes], media: str, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post(f"{url}/v1/traces", content=body, headers={"content-type": media})
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def run(media: str, bodies: list[bytes], spans_total: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        process, url = start(db)
        elapsed = asyncio.run(send_all(url, bodies, media, concurrency))
        process.send_signal(signal.SIGINT)
        process.wait(60)
        conn = sqlite3.connect(db)
        transactions = conn.execute("SELECT count(*) FROM ingests").fetchone()[0]
        stored = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
        conn.close()
    print(
        f"{media:<24} {spans_total / elapsed:>10,.0f} spans/s  {len(bodies) / elapsed:>8,.1f} requests/s  "
        f"{transactions:>5} transactions for {len(bodies)} requests  {stored:,} of {spans_total:,} spans stored  "
        f"({elapsed:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--spans", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    rng = random.Random(42)
    requests = [make_request(rng, args.spans, 1_763_800_000_000_000_000 + i * 10**9) for i in range(args.requests)]
    total = args.requests * args.spans
    print(f"receiver throughput: {args.requests} requests × {args.spans} spans, concurrency {args.concurrency}")
    run("application/x-protobuf", [r.SerializeToString() for r in requests], total, args.concurrency)
    run(
        "application/json",
        [json.dumps(json.loads(MessageToJson(r))).encode() for r in requests],
        total,
        args.concurrency,
    )


if __name__ == "__main__":
    main()
