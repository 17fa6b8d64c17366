"""What redaction costs on one large file: parsing alone beside parsing and redacting, interleaved.

    python tests/bench/redaction_cost.py FILE [FILE ...] [--repeat 3]

For each file (any format `mcp-sessions ingest` reads; a generated OTLP part from
dataset.py, or a big HAR) it runs, each in a fresh child process and interleaved:

    parse     formats.read_path, every record consumed (the parsers' own cuts included,
              which run the text rules first: see redact.clip)
    redact    the same, every record through redact_records

and prints the fastest and median seconds of each, and redact − parse (the redaction
stage). To compare two trees, run it with each tree first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path


def child(path: Path, mode: str) -> None:
    from mcp_sessions.formats import read_path
    from mcp_sessions.redact import RedactionReport, redact_records

    start = time.perf_counter()
    records = 0
    with read_path(path) as parsed:
        stream = redact_records(parsed.records, RedactionReport()) if mode == "redact" else parsed.records
        for _ in stream:
            records += 1
    print(json.dumps({"seconds": time.perf_counter() - start, "records": records}))


def measure(path: Path, mode: str) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["seconds"], result["records"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.files[0], args.child)
        return
    print(f"redaction cost on {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}")
    print("| file | MB | records | parse s (min / median) | parse + redact s (min / median) | redaction s (min) |")
    print("|---|---|---|---|---|---|")
    for path in args.files:
        times: dict[str, list[float]] = {"parse": [], "redact": []}
        records = 0
        for _ in range(args.repeat):
            for mode in times:
                seconds, records = measure(path, mode)
                times[mode].append(seconds)
        parse, redact = times["parse"], times["redact"]
        print(
            f"| {path.name} | {path.stat().st_size / 1e6:.0f} | {records:,} | {min(parse):.2f} / "
            f"{statistics.median(parse):.2f} | {min(redact):.2f} / {statistics.median(redact):.2f} | "
            f"{min(redact) - min(parse):.2f} |"
        )


if __name__ == "__main__":
    main()
