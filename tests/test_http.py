"""`mcp-sessions serve --http` as a subprocess: MCP over Streamable HTTP, bearer tokens, host checks, limits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from netutil import free_port, wait_for_port

TOKEN = "test-token-8c1f2e"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def start(db: Path, *args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = db.with_suffix(f".{port}.log")
    with log.open("wb") as sink:  # a file, not a pipe: a chatty server can never block on a full pipe
        process = subprocess.Popen(
            [sys.executable, "-m", "mcp_sessions", "serve", "--db", str(db), "--http", "--port", str(port), *args],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env={**os.environ, "MCP_SESSIONS_TOKEN": ""},
        )
    wait_for_port(port, process, log)
    return process, port


@pytest.fixture(scope="module")
def http_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import SAMPLES

    from mcp_sessions.ingest import ingest_paths
    from mcp_sessions.store import Store

    if not (SAMPLES / "otlp").is_dir():
        pytest.skip(f"public samples not found at {SAMPLES}")
    db = tmp_path_factory.mktemp("http") / "sessions.db"
    with Store(db) as store:
        list(ingest_paths(store, [str(SAMPLES / "otlp")]))
    return db


@pytest.fixture(scope="module")
def loopback(http_db: Path) -> Iterator[int]:
    process, port = start(http_db)
    yield port
    process.terminate()
    process.wait(20)


@pytest.fixture(scope="module")
def exposed(http_db: Path) -> Iterator[int]:
    """Bound to every interface (beyond loopback), so a token is required."""
    process, port = start(http_db, "--host", "0.0.0.0", "--token", TOKEN)
    yield port
    process.terminate()
    process.wait(20)


@pytest.mark.anyio
async def test_tools_over_streamable_http_on_loopback(loopback: int):
    async with Client(f"http://127.0.0.1:{loopback}/mcp") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("list_sessions", {})
    assert {"list_sessions", "list_traces", "get_trace"} <= tools
    assert result.structured_content["total"] == 1


@pytest.mark.anyio
async def test_token_opens_the_exposed_server(exposed: int):
    url = f"http://127.0.0.1:{exposed}/mcp"
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http_client,
        Client(streamable_http_client(url, http_client=http_client)) as client,
    ):
        result = await client.call_tool("list_traces", {"limit": 1})
    assert result.structured_content["total"] == 31


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN])
@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
def test_without_the_token_every_mcp_request_is_401(exposed: int, auth: str | None, method: str):
    headers = {**ACCEPT, **({"authorization": auth} if auth else {})}
    response = httpx.request(
        method, f"http://127.0.0.1:{exposed}/mcp", json=INIT if method == "POST" else None, headers=headers
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_beyond_loopback_without_a_token_refuses_to_start(otlp_db: Path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcp_sessions",
            "serve",
            "--db",
            str(otlp_db),
            "--http",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        timeout=60,
        env={**os.environ, "MCP_SESSIONS_TOKEN": ""},
    )
    assert result.returncode == 2
    assert "needs a bearer token" in result.stderr.decode()


def test_dns_rebinding_protection_rejects_foreign_host_headers(exposed: int):
    headers = {**ACCEPT, "authorization": f"Bearer {TOKEN}"}
    ok = httpx.post(f"http://127.0.0.1:{exposed}/mcp", json=INIT, headers=headers)
    assert ok.status_code == 200
    rebound = httpx.post(f"http://127.0.0.1:{exposed}/mcp", json=INIT, headers={**headers, "host": "evil.example"})
    assert rebound.status_code in (403, 421)
    origin = httpx.post(
        f"http://127.0.0.1:{exposed}/mcp", json=INIT, headers={**headers, "origin": "http://evil.example"}
    )
    assert origin.status_code == 403


def test_oversized_requests_are_refused(loopback: int):
    huge = {**INIT, "params": {**INIT["params"], "padding": "x" * (2 * 1024 * 1024)}}
    response = httpx.post(f"http://127.0.0.1:{loopback}/mcp", json=huge, headers=ACCEPT)
    assert response.status_code == 413


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_the_bearer_scheme_is_case_insensitive(exposed: int, scheme: str):
    headers = {**ACCEPT, "authorization": f"{scheme} {TOKEN}"}
    assert httpx.post(f"http://127.0.0.1:{exposed}/mcp", json=INIT, headers=headers).status_code == 200


@pytest.mark.parametrize("token", ["x", "short-token-15c", " padded-token-with-spaces "])
def test_a_short_or_padded_token_refuses_to_start(otlp_db: Path, token: str):
    args = ["serve", "--db", str(otlp_db), "--http", "--port", str(free_port()), "--token", token]
    result = subprocess.run(
        [sys.executable, "-m", "mcp_sessions", *args], capture_output=True, timeout=60, env=dict(os.environ)
    )
    assert result.returncode == 2
    assert "at least 16 characters" in result.stderr.decode()


def test_an_idle_http_session_expires(http_db: Path):
    process, port = start(http_db, "--session-idle-minutes", "0.02")  # 1.2 s
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        opened = httpx.post(url, json=INIT, headers=ACCEPT)
        session = opened.headers["mcp-session-id"]
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        headers = {**ACCEPT, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18"}
        assert httpx.post(url, json=ping, headers=headers).status_code == 200
        time.sleep(4)  # no request at all for more than the idle time (every request is activity)
        assert httpx.post(url, json=ping, headers=headers).status_code == 404  # the client starts a new session
    finally:
        process.terminate()
        process.wait(20)
