"""Server start-up: time until an MCP client over stdio has the tool list, beside a bare MCPServer.

    python tests/bench/startup.py [--repeat 15] [--db PATH] [--no-importtime]

Both servers are started the way an IDE starts them, as a subprocess over stdio through
`mcp.Client(StdioServerParameters(...))`: `python -m mcp_sessions serve --db DB` (DB: the
fixture recordings ingested into a temporary file, or --db) and a tiny script holding an
MCPServer with one tool. Each sample runs from spawning the process to `list_tools`
returning; the two alternate, --repeat times each, and the medians and their ratio are
printed (target: mcp-sessions <= 1.3x the bare server), with the ratio of the fastest runs
beside it, which other load on a shared machine disturbs less. Then, to see where the time goes,
the medians of bare imports in fresh interpreters (`python -c "import ..."`), and
`python -X importtime` of both servers (stdin closed, so each exits after starting): the
slowest imports and the time per top-level package.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parents[2]
TARGET = 1.3
BARE_SERVER = '''\
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("bare")


@mcp.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


if __name__ == "__main__":
    mcp.run("stdio")
'''


async def time_to_tools(command: list[str]) -> tuple[float, int]:
    params = StdioServerParameters(
        command=command[0], args=command[1:], env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=str(REPO)
    )
    started = time.perf_counter()
    async with Client(params, read_timeout_seconds=60) as client:
        tools = await client.list_tools()
        elapsed = time.perf_counter() - started
    return elapsed, len(tools.tools)


def fixture_db(tmp: Path) -> Path:
    db = tmp / "fixtures.db"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mcp_sessions",
            "--db",
            str(db),
            "ingest",
            str(REPO / "fixtures" / "recordings"),
            str(REPO / "fixtures" / "recordings-browser"),
        ],
        check=True,
        capture_output=True,
    )
    return db


def import_seconds(statement: str, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True, cwd=REPO)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


BREAKDOWN = """\
import sys, time
from pathlib import Path
marks = [("start", time.perf_counter())]
import mcp.server.mcpserver
marks.append(("import mcp.server.mcpserver (the SDK; the bare server pays this too)", time.perf_counter()))
import mcp_sessions.cli, mcp_sessions.server, mcp_sessions.http, mcp_sessions.receiver
marks.append(("import mcp_sessions.cli, .server, .http, .receiver (what `serve` imports)", time.perf_counter()))
from mcp_sessions.store import Store
Store(Path(sys.argv[1])).close()
marks.append(("Store(db) open, migrate, close", time.perf_counter()))
server = mcp_sessions.server.create_server(Path(sys.argv[1]))
marks.append(("create_server: register the tools (signatures, schemas)", time.perf_counter()))
import anyio
anyio.run(server.list_tools)
marks.append(("list_tools in process", time.perf_counter()))
for (_, before), (label, after) in zip(marks, marks[1:]):
    print(f"{(after - before) * 1e3:7.0f} ms  {label}")
"""


def breakdown(db: Path, repeat: int) -> None:
    """Where mcp-sessions' own start-up goes, step by step in one fresh interpreter (median of `repeat`)."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", BREAKDOWN, str(db)], check=True, capture_output=True, text=True, cwd=REPO
        ).stdout
        runs.append([(float(line.split()[0]), line.split("ms", 1)[1].strip()) for line in out.splitlines()])
    print(f"\nmcp-sessions start-up step by step in one process (median of {repeat}):")
    for i, (_, label) in enumerate(runs[0]):
        print(f"  {statistics.median(run[i][0] for run in runs):7.0f} ms  {label}")


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def importtime(command: list[str]) -> list[tuple[int, int, int, str]]:
    """(self µs, cumulative µs, depth, module) for each import of `command`, from -X importtime."""
    err = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    ).stderr
    rows = []
    for line in err.splitlines():
        match = _LINE.match(line)
        if match:
            rows.append((int(match[1]), int(match[2]), len(match[3]) // 2, match[4]))
    return rows


def report_importtime(label: str, rows: list[tuple[int, int, int, str]], top: int) -> None:
    total = sum(r[0] for r in rows)
    print(f"\n-X importtime of {label}: {len(rows)} modules, {total / 1e3:.0f} ms of imports in all")
    print("  slowest imports (cumulative, with what they pull in):")
    for self_us, cumulative, depth, module in sorted(rows, key=lambda r: -r[1])[:top]:
        print(f"    {cumulative / 1e3:7.1f} ms  (self {self_us / 1e3:5.1f})  {'  ' * min(depth, 6)}{module}")
    per_package: dict[str, int] = defaultdict(int)
    for self_us, _, _, module in rows:
        per_package[module.split(".")[0]] += self_us
    print("  own import time per top-level package:")
    for package, us in sorted(per_package.items(), key=lambda item: -item[1])[:top]:
        print(f"    {us / 1e3:7.1f} ms  {package}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="samples of each server (alternating)")
    parser.add_argument("--db", type=Path, help="database to serve (default: the fixtures, ingested now)")
    parser.add_argument("--no-importtime", action="store_true", help="skip the import breakdown")
    parser.add_argument("--top", type=int, default=15, help="rows in the import breakdown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db = args.db or fixture_db(tmp)
        bare = tmp / "bare_server.py"
        bare.write_text(BARE_SERVER)
        commands = {
            "mcp-sessions serve": [sys.executable, "-m", "mcp_sessions", "serve", "--db", str(db)],
            "bare MCPServer": [sys.executable, str(bare)],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        tools: dict[str, int] = {}
        for round_ in range(args.repeat):
            names = list(commands) if round_ % 2 == 0 else list(reversed(commands))
            for name in names:
                seconds, count = anyio.run(time_to_tools, commands[name])
                samples[name].append(seconds)
                tools[name] = count
        print(f"start-up to tool list over stdio on {os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(
            f"{'server':<20} {'tools':>5} {'median':>9} {'min':>9} {'max':>9}   ({args.repeat} runs each, alternating)"
        )
        for name, values in samples.items():
            print(
                f"{name:<20} {tools[name]:>5} {statistics.median(values) * 1e3:>7.0f} ms "
                f"{min(values) * 1e3:>6.0f} ms {max(values) * 1e3:>6.0f} ms"
            )
        ratio = statistics.median(samples["mcp-sessions serve"]) / statistics.median(samples["bare MCPServer"])
        print(f"ratio mcp-sessions / bare: {ratio:.2f}   target <= {TARGET}: {'met' if ratio <= TARGET else 'MISSED'}")
        fastest = min(samples["mcp-sessions serve"]) / min(samples["bare MCPServer"])
        print(f"ratio of the fastest runs: {fastest:.2f}   (less sensitive to other load on the machine)")
        if args.no_importtime:
            return
        n = max(3, args.repeat // 3)
        print(f"\nfresh interpreter, median of {n}:")
        for statement in (
            "pass",
            "import mcp.server.mcpserver",
            "import mcp_sessions.cli",
            "import mcp_sessions.server",
            "import mcp_sessions.server, mcp_sessions.http, mcp_sessions.receiver",
        ):
            print(f"  {import_seconds(statement, n) * 1e3:7.0f} ms  python -c {statement!r}")
        breakdown(db, n)
        report_importtime("mcp-sessions serve", importtime(commands["mcp-sessions serve"]), args.top)
        report_importtime("the bare MCPServer", importtime(commands["bare MCPServer"]), args.top)


if __name__ == "__main__":
    main()
