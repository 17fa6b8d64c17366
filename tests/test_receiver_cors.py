"""CORS on the receiver: configured origins get what the browser exporter needs, every other origin nothing.

The real browser exporter is driven in tests/test_browser_intake.py; here the preflight and the
refusals are checked header by header, including the "simple" requests a browser sends without
asking first.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest
from test_receiver import SPAN_JSON, Running, rows

from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.receiver_cors import normalize_origin

PAGE = "http://localhost:5173"
RRWEB = {"session_id": "s-1", "page_id": "p-1", "seq": 0, "events": []}


def preflight(url: str, origin: str, path: str = "/v1/traces", **extra: str) -> httpx.Response:
    headers = {"origin": origin, "access-control-request-method": "POST", **extra}
    return httpx.options(f"{url}{path}", headers=headers)


def test_without_configured_origins_a_browser_request_is_403_and_stores_nothing(db_path: Path):
    with Running(db_path) as r:
        asked = preflight(r.url, PAGE, **{"access-control-request-headers": "content-type"})
        posted = httpx.post(f"{r.url}/v1/traces", json=SPAN_JSON, headers={"origin": PAGE})
        beacon = httpx.post(
            f"{r.url}/v1/rrweb", content=json.dumps(RRWEB), headers={"origin": PAGE, "content-type": "text/plain"}
        )
        exporter = httpx.post(f"{r.url}/v1/traces", json=SPAN_JSON)  # no Origin: not a browser
    for refused in (asked, posted, beacon):
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers
        assert f"--cors-origin {PAGE}" in refused.json()["message"]
    assert exporter.status_code == 200 and rows(db_path, "spans") == 1


def test_a_configured_origin_gets_the_preflight_the_browser_exporter_needs(db_path: Path):
    with Running(db_path, cors_origins=[PAGE, "https://app.example.com"]) as r:
        asked = preflight(
            r.url,
            PAGE,
            **{
                "access-control-request-headers": "content-type,content-encoding,x-custom-header",
                "access-control-request-private-network": "true",
            },
        )
        rrweb_asked = preflight(r.url, "https://app.example.com", "/v1/rrweb")
        other = preflight(r.url, "http://localhost:5174")
        no_headers = preflight(r.url, PAGE, **{"access-control-request-headers": "x-a, bad header"})
    assert asked.status_code == 204
    h = asked.headers
    assert h["access-control-allow-origin"] == PAGE
    assert "POST" in h["access-control-allow-methods"]
    allowed = {x.strip().lower() for x in h["access-control-allow-headers"].split(",")}
    assert allowed >= {"content-type", "content-encoding", "x-custom-header"}
    assert h["access-control-allow-private-network"] == "true"
    assert int(h["access-control-max-age"]) > 0 and "origin" in h["vary"].lower()
    assert rrweb_asked.status_code == 204
    assert rrweb_asked.headers["access-control-allow-origin"] == "https://app.example.com"
    assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
    assert no_headers.status_code == 204 and "access-control-allow-headers" not in no_headers.headers


def test_answers_to_a_configured_origin_carry_the_cors_headers_errors_included(db_path: Path):
    with Running(db_path, cors_origins=[PAGE]) as r:
        ok = httpx.post(f"{r.url}/v1/traces", json=SPAN_JSON, headers={"origin": PAGE})
        bad = httpx.post(
            f"{r.url}/v1/traces", content=b"{", headers={"origin": PAGE, "content-type": "application/json"}
        )
        batch = httpx.post(
            f"{r.url}/v1/rrweb", content=json.dumps(RRWEB), headers={"origin": PAGE, "content-type": "text/plain"}
        )
        missing = httpx.post(f"{r.url}/v1/nothing", headers={"origin": PAGE})
    for response in (ok, bad, batch, missing):
        assert response.headers["access-control-allow-origin"] == PAGE
        assert response.headers["access-control-allow-credentials"] == "true"
        assert "retry-after" in response.headers["access-control-expose-headers"].lower()
        assert "origin" in response.headers["vary"].lower()
    assert (ok.status_code, bad.status_code, batch.status_code, missing.status_code) == (200, 400, 200, 404)
    assert rows(db_path, "spans") == 1


def test_a_refused_origin_is_refused_before_its_body_is_read(db_path: Path):
    with Running(db_path, cors_origins=[PAGE]) as r:
        conn = socket.create_connection(("127.0.0.1", r.port))
        conn.sendall(
            b"POST /v1/traces HTTP/1.1\r\nhost: x\r\norigin: https://evil.example\r\n"
            b"content-type: application/json\r\ncontent-length: 1000000\r\n\r\n{"
        )
        conn.settimeout(5)
        started = time.monotonic()
        reply = conn.recv(4096)
        conn.close()
    assert reply.startswith(b"HTTP/1.1 403") and time.monotonic() - started < 4


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("http://localhost:5173", "http://localhost:5173"),
        ("HTTP://LocalHost:5173/", "http://localhost:5173"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_origins_are_normalized_as_browsers_send_them(given: str, origin: str):
    assert normalize_origin(given) == origin


@pytest.mark.parametrize(
    "bad", ["*", "localhost:5173", "ftp://x", "http://x/path", "http://x?q", "http://u@x", "http://x:99999", "null"]
)
def test_anything_but_an_origin_is_refused_with_what_to_give(bad: str):
    with pytest.raises(InvalidArgumentError, match="expected an origin such as"):
        normalize_origin(bad)
