"""Real processes for end-to-end tests: `mcp-sessions collect`, and apps under the official OTel instrumentation.

app (opentelemetry-instrument, OTLP/HTTP protobuf) ──POST /v1/traces──► collect ──► sessions.db
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from netutil import free_port, wait_for_port
from shoprun import ROOT, stop

TESTS = ROOT / "tests"
QUIET = {"OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none", "OTEL_BSP_SCHEDULE_DELAY": "100"}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without OTel or mcp-sessions settings, plus `extra`."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MCP_SESSIONS_"))}
    return {**keep, **extra}


@contextmanager
def running_collect(db: Path, work: Path, **env: str) -> Iterator[str]:
    """`mcp-sessions collect` writing `db`; yields its base URL. On exit it is stopped with Ctrl-C (all written)."""
    work.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), work / "collect.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "mcp_sessions", "collect", "--db", str(db), "--port", str(port)],
            cwd=ROOT,
            env=clean_env(**env),
            stdout=sink,
            stderr=sink,
        )
        try:
            wait_for_port(port, process, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.send_signal(signal.SIGINT)
            try:
                code = process.wait(timeout=30)
                assert code in (0, 130, -signal.SIGINT), f"collect exited {code}: {log.read_text()}"
            finally:
                if process.poll() is None:
                    process.kill()


def instrument_command() -> list[str]:
    launcher = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert launcher, "opentelemetry-instrument is not installed (pip install -e '.[test]')"
    return [launcher, sys.executable]


@contextmanager
def running_flask(build: str, work: Path, traces_endpoint: str, *args: str, **env: str) -> Iterator[str]:
    """tests/flask_orders.py of `build` under opentelemetry-instrument, exporting to `traces_endpoint`."""
    work.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), work / f"flask-{build}-{free_port()}.log"
    otel = {
        **QUIET,
        "OTEL_SERVICE_NAME": f"orders-flask-{build}",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces_endpoint,
    }
    command = [*instrument_command(), str(TESTS / "flask_orders.py"), "--port", str(port)]
    with log.open("w") as sink:
        process = subprocess.Popen(
            [*command, "--db", str(work / f"{build}-{port}.db"), "--build", build, *args],
            cwd=work,
            env=clean_env(**otel, **env),
            stdout=sink,
            stderr=sink,
        )
        try:
            wait_for_port(port, process, log, timeout=60)
            yield f"http://127.0.0.1:{port}"
        finally:
            interrupt(process)


def interrupt(process: subprocess.Popen) -> None:
    """Ctrl-C, so the SDK's exit hook exports the spans still queued; killed if it hangs."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        stop(process)
