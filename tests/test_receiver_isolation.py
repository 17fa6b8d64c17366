"""The receiver under hostile input: poison spans, broken gzip, slow and huge requests, a full quota.

A real receiver on a free port; the good traffic comes from the real OTLP/HTTP exporter of
opentelemetry-exporter-otlp-proto-http, the bad traffic from raw sockets and httpx.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import socket
import sqlite3
import threading
import time
from pathlib import Path

import anyio
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from test_receiver import Running, rows

from mcp_sessions import receiver
from mcp_sessions.model import Span
from mcp_sessions.receiver_limits import ReceiverLimits
from mcp_sessions.store import Store

GOOD = {"traceId": "0af7651916cd43dd8448eb211c80319c", "name": "GET /ok", "kind": 2}


def span_json(span_id: int, **fields: object) -> dict:
    return {
        **GOOD,
        "spanId": format(span_id, "016x"),
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000100000000",
        **fields,
    }


def request_json(*spans: dict) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "poisoned"}}]},
                "scopeSpans": [{"spans": list(spans)}],
            }
        ]
    }


def nested_array(depth: int) -> dict:
    value: dict = {"stringValue": "leaf"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    return value


POISONS = {
    "end 2^64-1": span_json(2, endTimeUnixNano="18446744073709551615"),
    "1e30 start": span_json(3, startTimeUnixNano=1e30),
    "40-deep attribute": span_json(4, attributes=[{"key": "deep", "value": nested_array(40)}]),
    "int beyond 64 bits": span_json(5, attributes=[{"key": "n", "value": {"intValue": str(2**70)}}]),
}


def post_json(url: str, doc: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/traces", json=doc, headers=headers, timeout=30)


@pytest.fixture
def running(db_path: Path):
    with Running(db_path, max_body=256 * 1024) as r:
        yield r


@pytest.mark.parametrize("poison", list(POISONS), ids=list(POISONS))
def test_a_poison_span_is_rejected_alone_and_named(running: Running, db_path: Path, poison: str):
    response = post_json(running.url, request_json(span_json(1), POISONS[poison], span_json(9)))
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "out of range" in partial["errorMessage"] or "nests more than" in partial["errorMessage"]
    assert rows(db_path, "spans") == 2


def test_the_poison_value_and_field_are_named(running: Running):
    response = post_json(running.url, request_json(span_json(1), POISONS["end 2^64-1"]))
    message = response.json()["partialSuccess"]["errorMessage"]
    assert "spans[1].endTimeUnixNano 18446744073709551615 is out of range" in message


def test_a_request_of_only_poison_is_400_and_stores_nothing(running: Running, db_path: Path):
    response = post_json(running.url, request_json(*POISONS.values()))
    assert response.status_code == 400
    assert "all 4 rejected spans" in response.json()["message"]
    assert rows(db_path, "spans") == 0 and rows(db_path, "ingests") == 0


def test_protobuf_poison_times_are_rejected_alone(running: Running, db_path: Path):
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for i, end in enumerate([2_000, 2**64 - 1, 3_000]):
        span = spans.add()
        span.trace_id, span.span_id, span.name = b"\x01" * 16, bytes([i + 1]) * 8, f"span {i}"
        span.start_time_unix_nano, span.end_time_unix_nano = 1_000, end
    response = httpx.post(
        f"{running.url}/v1/traces",
        content=request.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "end_time_unix_nano 18446744073709551615 is out of range" in partial.error_message
    assert rows(db_path, "spans") == 2


def test_every_gzip_member_is_read(running: Running, db_path: Path):
    first = json.dumps(request_json(span_json(1)))[:-2]  # the JSON split across two gzip members
    second = json.dumps(request_json(span_json(1)))[-2:]
    body = gzip.compress(first.encode()) + gzip.compress(second.encode())
    response = httpx.post(
        f"{running.url}/v1/traces",
        content=body,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert rows(db_path, "spans") == 1


@pytest.mark.parametrize("cut", [10, 25, -4], ids=["in-header", "in-data", "in-trailer"])
def test_truncated_gzip_is_400_and_stores_nothing(running: Running, db_path: Path, cut: int):
    body = gzip.compress(json.dumps(request_json(span_json(1), span_json(2))).encode())[:cut]
    response = httpx.post(
        f"{running.url}/v1/traces",
        content=body,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert response.status_code == 400
    assert "gzip" in response.json()["message"]
    assert rows(db_path, "spans") == 0


def test_a_request_the_database_refuses_fails_alone_not_its_batch(db_path: Path):
    """Below the parsers: a record that reaches the writer and cannot be stored is retried alone."""

    def span(i: int, end: int = 2) -> Span:
        return Span(trace_id="a" * 32, span_id=format(i, "016x"), parent_span_id=None, name="s", kind="internal",
                    start_ns=1, end_ns=end)  # fmt: skip

    outcomes: dict[int, str] = {}
    with Store(db_path) as store:
        writer = receiver.BatchWriter(store)

        async def one(i: int) -> None:
            records = [span(i, end=2**64 - 1 if i == 7 else 2)]  # 7 bypasses decode: overflows SQLite
            try:
                await writer.submit(records, f"hash-{i}", {})
                outcomes[i] = "ok"
            except receiver.RequestRejected as exc:
                outcomes[i] = f"{exc.status}"

        async def main() -> None:
            async with anyio.create_task_group() as tasks:
                for i in range(20):
                    tasks.start_soon(one, i)
                await anyio.sleep(0.2)  # all 20 queued: they form one batch
                writer.start()
            await anyio.to_thread.run_sync(writer.stop)

        anyio.run(main)
    assert outcomes.pop(7) == "400"
    assert set(outcomes.values()) == {"ok"} and len(outcomes) == 19
    assert rows(db_path, "spans") == 19


def test_storage_quota_is_503_with_retry_after_and_stores_nothing_more(db_path: Path):
    with Store(db_path) as store:
        size = store.page_bytes()
    limits = ReceiverLimits(max_body=256 * 1024, max_db_bytes=size + 64 * 1024)
    with Running(db_path, limits=limits) as r:
        statuses = []
        for i in range(60):
            attrs = [{"key": "blob", "value": {"stringValue": f"{i:04d}" * 2_000}}]
            statuses.append(post_json(r.url, request_json(span_json(i + 1, attributes=attrs))).status_code)
        refused = post_json(r.url, request_json(span_json(999)))
    assert statuses[0] == 200 and statuses[-1] == 503
    assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
    assert "storage quota" in refused.json()["message"]
    stored = rows(db_path, "spans")
    assert stored == statuses.count(200)
    conn = sqlite3.connect(db_path)
    assert not conn.execute("SELECT 1 FROM spans WHERE span_id = ?", (format(999, "016x"),)).fetchall()


def test_slow_body_is_408_and_the_memory_budget_answers_503(db_path: Path):
    limits = ReceiverLimits(max_body=256 * 1024, max_reading=64 * 1024, body_timeout_s=1.0, budget_wait_s=0.3)
    with Running(db_path, limits=limits) as r:
        slow = socket.create_connection(("127.0.0.1", r.port))
        slow.sendall(
            b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{"
        )
        slow.settimeout(10)
        reply = slow.recv(4096)
        slow.close()
    assert reply.startswith(b"HTTP/1.1 408")


def test_over_budget_requests_get_503_with_retry_after(db_path: Path):
    limits = ReceiverLimits(max_body=256 * 1024, max_reading=64 * 1024, max_inflight=64 * 1024, budget_wait_s=0.02)
    pad = [{"key": "pad", "value": {"stringValue": "x" * 100_000}}]
    doc = request_json(span_json(1, attributes=pad))

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            results: list[httpx.Response] = []

            async def one(i: int) -> None:
                body = json.loads(json.dumps(doc))
                body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = format(i + 1, "016x")
                results.append(await client.post(f"{url}/v1/traces", json=body))

            async with anyio.create_task_group() as tasks:
                for i in range(12):
                    tasks.start_soon(one, i)
            return results

    with Running(db_path, limits=limits) as r:
        results = anyio.run(burst, r.url)
        peak = r.app.state.budgets[1].peak
    codes = [x.status_code for x in results]
    assert set(codes) <= {200, 503} and 503 in codes and 200 in codes
    assert all(x.headers["retry-after"] for x in results if x.status_code == 503)
    assert rows(db_path, "spans") == codes.count(200)
    one_request = len(json.dumps(doc)) * 21  # raw + decoded estimate: one request may pass the budget alone
    assert peak <= limits.max_inflight + one_request


class CountingExporter(OTLPSpanExporter):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.results: list[SpanExportResult] = []

    def export(self, spans):  # type: ignore[no-untyped-def]
        result = super().export(spans)
        self.results.append(result)
        return result


def test_good_exporters_keep_being_answered_while_poison_slow_and_huge_requests_arrive(
    db_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING)
    limits = ReceiverLimits(
        max_body=512 * 1024,
        max_reading=1024 * 1024,
        max_inflight=8 * 1024 * 1024,
        max_connections=40,
        header_timeout_s=1.0,
        body_timeout_s=2.0,
        budget_wait_s=1.0,
    )
    good_spans, stop = 40, threading.Event()
    attack_results: dict[str, list[int]] = {"poison": [], "huge": [], "too-big": []}
    slow_sockets: list[socket.socket] = []
    huge_ids = itertools.count(100_000)  # shared by both `huge` threads: every span id distinct

    with Running(db_path, limits=limits) as r:

        def slowloris() -> None:  # more half-open connections than the cap, dribbling header bytes
            while not stop.is_set():
                try:
                    s = socket.create_connection(("127.0.0.1", r.port), timeout=2)
                    s.sendall(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n")
                    slow_sockets.append(s)
                except OSError:
                    pass
                time.sleep(0.01)

        def poison() -> None:
            i = 1000
            while not stop.is_set():
                i += 10
                doc = request_json(
                    span_json(i), *(dict(p, spanId=format(i + n + 1, "016x")) for n, p in enumerate(POISONS.values()))
                )
                try:
                    attack_results["poison"].append(post_json(r.url, doc).status_code)
                except httpx.HTTPError:
                    attack_results["poison"].append(0)

        def huge() -> None:
            big = {"key": "blob", "value": {"stringValue": "y" * 400_000}}
            while not stop.is_set():
                i = next(huge_ids)
                try:
                    attack_results["huge"].append(
                        post_json(r.url, request_json(span_json(i, attributes=[big]))).status_code
                    )
                    too_big = httpx.post(f"{r.url}/v1/traces", content=b"[" * (600 * 1024),
                                         headers={"content-type": "application/json"}, timeout=30)  # fmt: skip
                    attack_results["too-big"].append(too_big.status_code)
                except httpx.HTTPError:
                    attack_results["huge"].append(0)

        attackers = [threading.Thread(target=f, daemon=True) for f in (slowloris, poison, huge, huge)]
        for t in attackers:
            t.start()
        time.sleep(0.5)

        exporter = CountingExporter(endpoint=f"{r.url}/v1/traces", timeout=20)
        provider = TracerProvider(resource=Resource.create({"service.name": "good"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("attack-test")
        started = time.monotonic()
        for n in range(good_spans):
            with tracer.start_as_current_span(f"good {n}"):
                pass
        elapsed = time.monotonic() - started
        stop.set()
        for t in attackers:
            t.join(30)
        provider.shutdown()
        for s in slow_sockets:
            s.close()
        statuses = dict(r.app.state.writer.stats.statuses)

    assert exporter.results == [SpanExportResult.SUCCESS] * good_spans
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM spans WHERE service = 'good'").fetchone()[0] == good_spans
    # every poison request kept its one good span and rejected the 4 poisoned ones
    assert attack_results["poison"] and set(attack_results["poison"]) <= {200, 503}
    poisoned_kept = conn.execute("SELECT count(*) FROM spans WHERE service = 'poisoned' AND name = 'GET /ok'")
    assert poisoned_kept.fetchone()[0] == attack_results["poison"].count(200) + attack_results["huge"].count(200)
    assert set(attack_results["too-big"]) == {413}
    assert len(slow_sockets) > limits.max_connections  # the cap was really exceeded
    assert elapsed < 60, f"good exports took {elapsed:.1f} s"
    assert statuses.get(500, 0) == 0
    # refusals are logged a line per interval, never a line (or traceback) per event
    receiver_lines = [rec for rec in caplog.records if rec.name.startswith(("mcp_sessions", "uvicorn", "asyncio"))]
    assert len(receiver_lines) < 50, [rec.getMessage() for rec in receiver_lines[:20]]
    assert not any(rec.exc_info for rec in receiver_lines)
