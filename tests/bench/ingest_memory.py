"""Peak memory (RSS) of `mcp-sessions ingest` on a JSON Lines file of at least 1 GiB.

    python tests/bench/ingest_memory.py [--gib 1.0] [--seed 7] [--keep-db]

Generates the file with tests/bench/dataset.py into a cache folder under the system temp
folder (reused when present), then runs the real command line,
`python -m mcp_sessions --db NEW.db ingest FILE`, as a child process. While it runs, the
child's VmRSS is read from /proc every 0.1 s; when it ends, the kernel's own peak for it
comes from getrusage(RUSAGE_CHILDREN).ru_maxrss. Prints both, a few samples of RSS over
the run (flat means streaming; a climb means something is held per span or per trace),
the time it took, spans/s and the database size. Target: peak under 400 MB.
The database is deleted afterwards unless --keep-db.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dataset import CACHE_ROOT, ensure_dataset

TARGET_MB = 400
GIB = 1 << 30


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="size of the JSON Lines file in GiB (default 1)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep-db", action="store_true", help="keep the database (path printed)")
    args = parser.parse_args()
    out_dir, summary = ensure_dataset(seed=args.seed, size_bytes=int(args.gib * GIB), browser_share=0.0)
    path = out_dir / summary.otlp_files[0]
    size = path.stat().st_size
    print(f"ingest memory on {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"file: {path} ({size / GIB:.2f} GiB, {summary.spans:,} spans, {summary.lines:,} lines)")
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    db_dir = Path(tempfile.mkdtemp(prefix="ingest-memory-", dir=CACHE_ROOT))
    db = db_dir / "memory.db"
    command = [sys.executable, "-m", "mcp_sessions", "--db", str(db), "ingest", str(path)]
    print("command:", " ".join(command))
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, int]] = []
    while child.poll() is None:
        kib = rss_kib(child.pid)
        if kib is not None:
            samples.append((time.perf_counter() - started, kib))
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    out, err = child.communicate()
    peak_kernel_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    peak_polled_mb = max((kib for _, kib in samples), default=0) / 1024
    if child.returncode != 0:
        print(out, err, sep="\n")
        raise SystemExit(f"ingest exited with {child.returncode}")
    db_bytes = sum(f.stat().st_size for f in db_dir.iterdir())
    print(out.strip().splitlines()[-1])
    print()
    print(
        f"{'peak RSS (kernel, ru_maxrss)':<32} {peak_kernel_mb:8.0f} MB   target < {TARGET_MB} MB: "
        f"{'met' if peak_kernel_mb < TARGET_MB else 'MISSED'}"
    )
    print(f"{'peak RSS (polled /proc)':<32} {peak_polled_mb:8.0f} MB")
    print(f"{'time':<32} {elapsed:8.1f} s    ({summary.spans / elapsed:,.0f} spans/s, {size / 1e6 / elapsed:.1f} MB/s)")
    print(f"{'database (with WAL)':<32} {db_bytes / 1e6:8.0f} MB")
    if samples:
        print("\nRSS over the run:")
        step = max(1, len(samples) // 10)
        for t, kib in [*samples[::step], samples[-1]]:
            print(f"  {t:7.1f} s  {kib / 1024:7.0f} MB")
    if args.keep_db:
        print(f"\ndatabase kept: {db}")
    else:
        for f in db_dir.iterdir():
            f.unlink()
        db_dir.rmdir()


if __name__ == "__main__":
    main()
