"""Real clients from npm against `mcp-sessions serve`: the TypeScript SDK client, the MCP Inspector CLI and the
official conformance suite, over stdio and Streamable HTTP (see tests/interop/README.md).

The Node scripts call every tool the server lists (ingest_recording included when it is offered) and fail on
a tool they have no call for; these tests start the servers and run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from netutil import free_port, wait_for_port

from mcp_sessions.ingest import ingest_paths
from mcp_sessions.store import Store

ROOT = Path(__file__).resolve().parents[1]
INTEROP = ROOT / "tests" / "interop"
RECORDINGS = ROOT / "fixtures" / "recordings"
INGEST_PATH = "otlp/sdk-shop.jsonl"  # under RECORDINGS, the root ingest_recording may read
TOKEN = "interop-token-3b9d"
NODE = shutil.which("node")
# The servers run this checkout's code with this interpreter, whatever `mcp-sessions` on PATH points at.
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    "MCP_SESSIONS_TOKEN": "",
}

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not on PATH (the interop tests need Node 20+ and npm)"),
    pytest.mark.skipif(
        not (INTEROP / "node_modules").is_dir(),
        reason="tests/interop/node_modules is missing: run npm ci --prefix tests/interop --no-audit --no-fund",
    ),
]


def serve(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "mcp_sessions", "serve", "--db", str(db), *args]


@contextmanager
def http_server(db: Path, *args: str) -> Iterator[str]:
    """`serve --http` on a free loopback port; its log goes to a file, never a pipe that could fill."""
    port = free_port()
    log = db.with_suffix(f".{port}.log")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            serve(db, "--http", "--port", str(port), *args), stdout=subprocess.DEVNULL, stderr=sink, env=ENV
        )
    try:
        wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def node(script: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NODE or "node", str(INTEROP / script), *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def passes(script: str, *args: str) -> str:
    result = node(script, *args)
    assert result.returncode == 0, f"{script} {' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def data_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled OTLP recording (sessions s-fast-7f3a, s-slow-91c2, s-error-c0de), served read-only."""
    db = tmp_path_factory.mktemp("interop") / "sessions.db"
    with Store(db) as store:
        results = list(ingest_paths(store, [str(RECORDINGS / "otlp")]))
    assert all(r.status == "stored" for r in results), [r.error for r in results]
    return db


@pytest.fixture(scope="module")
def readonly_url(data_db: Path) -> Iterator[str]:
    with http_server(data_db) as url:
        yield url


@pytest.fixture(scope="module")
def token_ingest_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A token-protected server over an empty database that offers ingest_recording."""
    db = tmp_path_factory.mktemp("interop-ingest") / "sessions.db"
    with http_server(db, "--token", TOKEN, "--allow-ingest", str(RECORDINGS)) as url:
        yield url


CASES = ["stdio", "stdio-ingest", "http", "http-token-ingest"]


def target(case: str, request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """The scripts' arguments for one way of reaching the server."""
    ingest = ["--ingest-path", INGEST_PATH]
    if case == "stdio":
        return ["stdio", "--", *serve(request.getfixturevalue("data_db"))]
    if case == "stdio-ingest":
        return [*ingest, "stdio", "--", *serve(tmp_path / "empty.db", "--allow-ingest", str(RECORDINGS))]
    if case == "http":
        return ["http", request.getfixturevalue("readonly_url")]
    return [*ingest, "--token", TOKEN, "http", request.getfixturevalue("token_ingest_url")]


@pytest.mark.parametrize("case", CASES)
def test_typescript_sdk_client_calls_every_tool(case: str, request: pytest.FixtureRequest, tmp_path: Path):
    output = passes("client.mjs", *target(case, request, tmp_path))
    assert "get_trace(" in output
    assert ("ingest_recording(" in output) == case.endswith("ingest")


@pytest.mark.parametrize("case", CASES)
def test_inspector_cli_calls_every_tool(case: str, request: pytest.FixtureRequest, tmp_path: Path):
    output = passes("inspector.mjs", *target(case, request, tmp_path))
    assert "get_trace(" in output
    assert ("ingest_recording(" in output) == case.endswith("ingest")


def test_client_without_the_token_fails_clearly(token_ingest_url: str):
    result = node("client.mjs", "http", token_ingest_url)
    assert result.returncode == 1
    assert "FAILED (TypeScript SDK client over http)" in result.stderr
    assert "unauthorized" in result.stderr


def test_conformance_scenarios_that_apply_pass(readonly_url: str, tmp_path: Path):
    output = passes("conformance.mjs", readonly_url, "--output-dir", str(tmp_path))
    for scenario in ("server-initialize", "ping", "tools-list", "dns-rebinding-protection"):
        assert f"pass {scenario}:" in output
