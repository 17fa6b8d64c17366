"""The OTLP/HTTP receiver, fed by the real OpenTelemetry SDK exporters and by hand-made bad requests."""

from __future__ import annotations

import gzip
import json
import os
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters
from netutil import free_port
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from mcp_sessions import receiver
from mcp_sessions.model import Span
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

SPAN_JSON = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
            "scopeSpans": [
                {
                    "spans": [
                        {
                            "traceId": "0af7651916cd43dd8448eb211c80319c",
                            "spanId": "b7ad6b7169203331",
                            "name": "GET /json",
                            "kind": 2,
                            "startTimeUnixNano": "1700000000000000000",
                            "endTimeUnixNano": "1700000000100000000",
                            "attributes": [{"key": "session.id", "value": {"stringValue": "json-session"}}],
                        }
                    ]
                }
            ],
        }
    ]
}


class Running:
    def __init__(
        self,
        db: Path,
        max_body: int = 256 * 1024,
        limits: receiver.ReceiverLimits | None = None,
        **options: Any,  # the rest of create_app's options (cors_origins, on_batch, rules)
    ) -> None:
        self.store = Store(db)
        self.sock = receiver.bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.limits = limits or receiver.ReceiverLimits(max_body=max_body)
        self.app = receiver.create_app(self.store, limits=self.limits, **options)
        self.server = receiver.uvicorn_server(self.app)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        self.store.close()


@pytest.fixture
def running(db_path: Path) -> Iterator[Running]:
    with Running(db_path, max_body=256 * 1024) as r:
        yield r


def rows(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_sdk_http_exporter_spans_are_visible_through_the_mcp_tools(running: Running, db_path: Path):
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{running.url}/v1/traces")))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /orders", attributes={"session.id": "live-1", "user.id": "eve"}):
        with tracer.start_as_current_span("INSERT order", attributes={"db.query.text": "INSERT INTO orders"}):
            pass
        with tracer.start_as_current_span("authorize", attributes={"http.request.header.authorization": "Bearer x"}):
            pass
    provider.shutdown()
    assert rows(db_path, "spans") == 3

    import anyio

    async def ask() -> tuple[dict, dict]:
        async with Client(create_server(db_path)) as client:
            sessions = await client.call_tool("list_sessions", {"user_id": "eve"})
            trace_id = (await client.call_tool("list_traces", {"session_id": "live-1"})).structured_content
            trace = await client.call_tool("get_trace", {"trace_id": trace_id["traces"][0]["trace_id"]})
            return sessions.structured_content, trace.structured_content

    sessions, trace = anyio.run(ask)
    assert sessions["sessions"][0]["session_id"] == "live-1"
    assert {n["name"] for n in trace["spans"]} == {"POST /orders", "INSERT order", "authorize"}
    conn = sqlite3.connect(db_path)
    assert b"Bearer x" not in b"".join(r[0].encode() for r in conn.execute("SELECT attributes FROM spans"))


def test_sdk_http_log_exporter(running: Running, db_path: Path):
    from opentelemetry._logs import SeverityNumber

    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{running.url}/v1/logs")))
    provider.get_logger("receiver-test").emit(
        severity_number=SeverityNumber.WARN,
        severity_text="WARN",
        body="payment retry 3",
        attributes={"session.id": "log-session"},
    )
    provider.shutdown()
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT body, severity_text, session_id FROM logs").fetchall() == [
        ("payment retry 3", "WARN", "log-session")
    ]


def test_json_and_gzip_bodies(running: Running, db_path: Path):
    body = json.dumps(SPAN_JSON).encode()
    response = httpx.post(
        f"{running.url}/v1/traces",
        content=gzip.compress(body),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {}
    assert rows(db_path, "spans") == 1
    again = httpx.post(f"{running.url}/v1/traces", content=body, headers={"content-type": "application/json"})
    assert again.status_code == 200 and rows(db_path, "spans") == 1  # a retried export adds nothing


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"content-type": "application/x-protobuf"}, b"\x0a\xff\xff\xff\x0fgarbage", 400),
        ({"content-type": "application/json"}, b'{"resourceSpans": [', 400),
        ({"content-type": "application/json"}, json.dumps({"resourceLogs": []}).encode(), 400),
        (
            {"content-type": "application/json"},
            json.dumps(
                {
                    "resourceSpans": [
                        {"scopeSpans": [{"spans": [{"traceId": "xyz", "spanId": "1", "startTimeUnixNano": "1"}]}]}
                    ]
                }
            ).encode(),
            400,
        ),
        ({"content-type": "text/plain"}, json.dumps(SPAN_JSON).encode(), 415),
        ({}, json.dumps(SPAN_JSON).encode(), 415),
        ({"content-type": "application/json", "content-encoding": "br"}, json.dumps(SPAN_JSON).encode(), 415),
        ({"content-type": "application/json", "content-encoding": "gzip"}, b"not gzip", 400),
        ({"content-type": "application/json"}, b" " * (300 * 1024), 413),
        ({"content-type": "application/json", "content-encoding": "gzip"}, gzip.compress(b" " * (2 << 20)), 413),
    ],
    ids=[
        "bad-protobuf",
        "truncated-json",
        "logs-to-traces",
        "bad-id",
        "text-plain",
        "no-type",
        "brotli",
        "bad-gzip",
        "oversized",
        "gzip-bomb",
    ],
)
def test_rejected_requests_get_their_status_and_store_nothing(running: Running, db_path: Path, headers, body, status):
    response = httpx.post(f"{running.url}/v1/traces", content=body, headers=headers)
    assert response.status_code == status
    if response.headers.get("content-type", "").startswith("application/json"):
        assert response.json()["message"]
    assert rows(db_path, "spans") == 0
    assert rows(db_path, "ingests") == 0


def test_wrong_method_and_path(running: Running):
    assert httpx.get(f"{running.url}/v1/traces").status_code == 405
    assert httpx.post(f"{running.url}/v2/traces", content=b"{}").status_code == 404


def test_partial_success_rejects_only_the_bad_span(running: Running, db_path: Path):
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for i, trace_id in enumerate([b"\x01" * 16, b"\x02" * 3, b"\x03" * 16]):
        span = spans.add()
        span.trace_id, span.span_id, span.name = trace_id, bytes([i + 1]) * 8, f"span {i}"
        span.start_time_unix_nano, span.end_time_unix_nano = 1_000, 2_000
    response = httpx.post(
        f"{running.url}/v1/traces",
        content=request.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_spans == 1
    assert parsed.partial_success.error_message
    assert rows(db_path, "spans") == 2


def test_every_acknowledged_request_is_already_committed(running: Running, db_path: Path):
    import anyio

    async def send(i: int) -> int:
        doc = json.loads(json.dumps(SPAN_JSON))
        doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = format(i + 1, "016x")
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{running.url}/v1/traces", json=doc)
        assert response.status_code == 200
        return rows(db_path, "spans")  # read by another connection right after the acknowledgement

    async def main() -> list[int]:
        results: list[int] = []

        async def one(i: int) -> None:
            results.append(await send(i))

        async with anyio.create_task_group() as tasks:
            for i in range(40):
                tasks.start_soon(one, i)
        return results

    seen = anyio.run(main)
    assert min(seen) >= 1 and rows(db_path, "spans") == 40


def test_queued_requests_share_one_transaction_and_stop_drains_the_queue(db_path: Path):
    import anyio

    span = Span(trace_id="a" * 32, span_id="", parent_span_id=None, name="s", kind="internal", start_ns=1, end_ns=2)
    with Store(db_path) as store:
        writer = receiver.BatchWriter(store)

        async def main() -> None:
            async with anyio.create_task_group() as tasks:
                for i in range(30):
                    record = Span(**{**{f: getattr(span, f) for f in span.__slots__}, "span_id": format(i, "016x")})
                    tasks.start_soon(writer.submit, [record], f"hash-{i}", {})
                await anyio.sleep(0.2)  # all 30 are queued; the writer has not started
                writer.start()
            await anyio.to_thread.run_sync(writer.stop)

        anyio.run(main)
        assert (writer.stats.requests, writer.stats.transactions) == (30, 1)
    assert rows(db_path, "spans") == 30


@pytest.mark.anyio
async def test_serve_with_collect_receives_and_answers_in_one_process(db_path: Path):
    port = free_port()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_sessions", "serve", "--db", str(db_path), "--collect", f"127.0.0.1:{port}"],
        env=dict(os.environ),
    )
    async with Client(params, read_timeout_seconds=60) as client:
        before = await client.call_tool("list_sessions", {})
        assert before.structured_content["total"] == 0
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    response = await http.post(f"http://127.0.0.1:{port}/v1/traces", json=SPAN_JSON)
                    break
                except httpx.ConnectError:
                    import anyio

                    await anyio.sleep(0.1)
        assert response.status_code == 200
        after = await client.call_tool("list_sessions", {})
    assert [s["session_id"] for s in after.structured_content["sessions"]] == ["json-session"]


def test_answers_on_a_kept_alive_connection_do_not_wait_for_a_delayed_ack(running: Running):
    """asyncio sets TCP_NODELAY only on sockets created as IPPROTO_TCP; otherwise each answer waits ~40 ms."""
    sock = receiver.bind("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    sock.close()
    took = []
    with httpx.Client() as client:
        for i in range(21):
            doc = json.loads(json.dumps(SPAN_JSON))
            doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = format(i + 1, "016x")
            started = time.perf_counter()
            assert client.post(f"{running.url}/v1/traces", json=doc).status_code == 200
            took.append(time.perf_counter() - started)
    assert sorted(took)[10] < 0.03, took
