"""The receiver under the attacks of issue 16, measured on a real `mcp-sessions collect` process.

    python tests/bench/receiver_attack.py [--huge 32] [--huge-mb 15] [--slow 1100]

1. `--huge` concurrent protobuf bodies of `--huge-mb` each (under the 16 MB limit): the
   collector's peak RSS (VmHWM) and the status codes.
2. `--slow` connections that send half a request line and then nothing, held for 12 s:
   how many lines the collector writes to stderr meanwhile, and whether a good request
   sent during the flood is answered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from netutil import free_port, wait_for_port


def big_request(megabytes: float, seed: int) -> bytes:
    rng = random.Random(seed)
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    size = 0
    while size < megabytes * 1e6:
        span = spans.add()
        span.trace_id, span.span_id = rng.randbytes(16), rng.randbytes(8)
        span.name = "GET /api/items/{id}"
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + rng.randrange(10**12)
        span.end_time_unix_nano = span.start_time_unix_nano + 1000
        for k in range(8):
            kv = span.attributes.add()
            kv.key, kv.value.string_value = f"attr.{k}", f"value-{rng.randrange(10**9)}"
        size += 300
    return request.SerializeToString()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def send_huge(port: int, bodies: list[bytes]) -> Counter[int]:
    async with httpx.AsyncClient(timeout=120) as client:

        async def one(body: bytes) -> int:
            try:
                response = await client.post(
                    f"http://127.0.0.1:{port}/v1/traces",
                    content=body,
                    headers={"content-type": "application/x-protobuf"},
                )
                return response.status_code
            except httpx.HTTPError:
                return 0

        return Counter(await asyncio.gather(*(one(b) for b in bodies)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--huge", type=int, default=32)
    parser.add_argument("--huge-mb", type=float, default=15)
    parser.add_argument("--slow", type=int, default=1100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db, log = Path(tmp) / "attack.db", Path(tmp) / "collect.log"
        port = free_port()
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "mcp_sessions", "collect", "--db", str(db), "--port", str(port)],
                stderr=sink,
                stdout=subprocess.DEVNULL,
            )
        try:
            wait_for_port(port, process, log)
            baseline = peak_rss_mb(process.pid)
            bodies = [big_request(args.huge_mb, seed) for seed in range(args.huge)]
            started = time.monotonic()
            codes = asyncio.run(send_huge(port, bodies))
            print(
                f"{args.huge} × {len(bodies[0]) / 1e6:.1f} MB protobuf at once: statuses {dict(codes)}, "
                f"{time.monotonic() - started:.1f} s, collector peak RSS {peak_rss_mb(process.pid):.0f} MB "
                f"(idle {baseline:.0f} MB)"
            )
            del bodies
            lines_before = len(log.read_text().splitlines())
            held = []
            for _ in range(args.slow):
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=5)
                    s.sendall(b"POST /v1/tr")
                    held.append(s)
                except OSError:
                    pass
            good = httpx.post(
                f"http://127.0.0.1:{port}/v1/traces",
                content=big_request(0.01, 999),
                headers={"content-type": "application/x-protobuf"},
                timeout=30,
            )
            time.sleep(12)
            lines = log.read_text().splitlines()[lines_before:]
            print(
                f"{len(held)} slow connections held 12 s: a good request during the flood got {good.status_code}; "
                f"{len(lines)} log lines, {sum('Traceback' in x for x in lines)} tracebacks"
            )
            for x in lines[:6]:
                print("   ", x)
            for s in held:
                s.close()
        finally:
            process.terminate()
            process.wait(30)
            if os.environ.get("SHOW_LOG"):
                print(log.read_text())


if __name__ == "__main__":
    main()
