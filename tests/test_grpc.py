"""OTLP/gRPC (`collect --grpc`), fed by the official Python OTLP gRPC exporters and by hand-made bad requests."""

from __future__ import annotations

import gzip
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from netutil import free_port, wait_for_port
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import Compression, OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import MetricsServiceStub
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from test_receiver import rows

from mcp_sessions import receiver
from mcp_sessions.collector import CollectSettings, serve_receiver
from mcp_sessions.intake_log import BatchReport
from mcp_sessions.receiver_grpc import concurrent_rpcs, retry_info, status_details
from mcp_sessions.receiver_limits import ReceiverLimits
from mcp_sessions.store import Store

ROOT = Path(__file__).resolve().parents[1]
TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class Collecting:
    """`collector.serve_receiver` with OTLP/gRPC beside OTLP/HTTP, in a thread, as `collect --grpc` runs it."""

    def __init__(self, db: Path, limits: ReceiverLimits | None = None) -> None:
        self.store = Store(db)
        self.sock = receiver.bind("127.0.0.1", 0)
        self.settings = CollectSettings(limits=limits or ReceiverLimits(), grpc=("127.0.0.1", 0))
        self.reports: list[BatchReport] = []
        self.addresses: dict[str, str] = {}
        self.stop, self.ready = threading.Event(), threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        def listening(addresses: dict[str, str]) -> None:
            self.addresses = addresses
            self.ready.set()

        try:
            anyio.run(
                lambda: serve_receiver(
                    self.store,
                    self.sock,
                    settings=self.settings,
                    on_batch=self.reports.append,
                    on_listening=listening,
                    stop=self.stop,
                )
            )
        except BaseException as exc:
            self.failure = exc
            self.ready.set()

    def __enter__(self) -> Collecting:
        self.thread.start()
        assert self.ready.wait(20), "the receiver did not start"
        assert self.failure is None, self.failure
        self.grpc = self.addresses["grpc"]
        self.channel = grpc.insecure_channel(self.grpc)
        return self

    def __exit__(self, *exc: object) -> None:
        self.channel.close()
        self.stop.set()
        self.thread.join(30)
        self.store.close()
        assert self.failure is None, self.failure

    def raw(self, method: str = TRACES) -> Callable[..., Any]:
        """A method that sends bytes as they are (no serializer), to send what no exporter would."""
        return self.channel.unary_unary(method, request_serializer=None, response_deserializer=None)


@pytest.fixture
def collecting(db_path: Path) -> Iterator[Collecting]:
    with Collecting(db_path) as c:
        yield c


class CountingExporter(OTLPSpanExporter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.results: list[SpanExportResult] = []

    def export(self, spans):  # type: ignore[no-untyped-def]
        result = super().export(spans)
        self.results.append(result)
        return result


def make_spans(provider: TracerProvider, traces: int, children: int, prefix: str) -> int:
    tracer = provider.get_tracer("test_grpc")
    for t in range(traces):
        with tracer.start_as_current_span(f"GET /{prefix}/{t}", attributes={"session.id": f"{prefix}-{t % 5}"}):
            for c in range(children):
                with tracer.start_as_current_span(f"SELECT {c}", attributes={"db.system": "sqlite"}):
                    pass
    return traces * (children + 1)


def span_pb(span_id: bytes, trace_id: bytes = b"\x0a" * 16, name: str = "s") -> trace_pb2.Span:
    return trace_pb2.Span(
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_100_000_000,
    )


def request_pb(*spans: trace_pb2.Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=list(spans))])]
    )


def poison_request(n: int) -> ExportTraceServiceRequest:
    """Three good spans of their own trace and one whose span id is 3 bytes wide."""
    trace_id = n.to_bytes(16, "big")
    good = [span_pb((n * 10 + i).to_bytes(8, "big"), trace_id, f"poison-neighbour-{i}") for i in range(1, 4)]
    return request_pb(*good[:2], span_pb(b"\x01\x02\x03", trace_id, "poison"), good[2])


def test_the_python_grpc_exporter_loses_nothing_while_poison_arrives_alongside(collecting: Collecting, db_path: Path):
    stub = TraceServiceStub(collecting.channel)
    partial: list[ExportTraceServiceResponse] = []

    def send_poison() -> None:
        for n in range(1, 21):
            partial.append(stub.Export(poison_request(n), timeout=30))

    poisoner = threading.Thread(target=send_poison)
    exporters, sent = [], 0
    for compression in (Compression.Gzip, Compression.NoCompression):
        provider = TracerProvider(resource=Resource.create({"service.name": f"svc-{compression.name}"}))
        exporter = CountingExporter(endpoint=collecting.grpc, insecure=True, compression=compression, timeout=30)
        provider.add_span_processor(
            BatchSpanProcessor(exporter, max_queue_size=100_000, max_export_batch_size=500, schedule_delay_millis=50)
        )
        exporters.append(exporter)
        if compression is Compression.Gzip:
            poisoner.start()
        sent += make_spans(provider, traces=300, children=7, prefix=compression.name)
        provider.shutdown()
    poisoner.join(60)
    assert sent == 4800
    assert all(r is SpanExportResult.SUCCESS for e in exporters for r in e.results) and len(exporters[0].results) > 1
    assert len(partial) == 20
    assert all(p.partial_success.rejected_spans == 1 for p in partial)
    assert all("span_id" in p.partial_success.error_message for p in partial)
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM spans WHERE name NOT LIKE 'poison%'").fetchone()[0] == sent
    assert conn.execute("SELECT count(*) FROM spans WHERE name LIKE 'poison-neighbour-%'").fetchone()[0] == 60
    assert conn.execute("SELECT count(*) FROM spans WHERE name = 'poison'").fetchone()[0] == 0
    assert conn.execute("SELECT count(DISTINCT session_id) FROM traces").fetchone()[0] == 10
    grpc_lines = [r for r in collecting.reports if r.transport == "grpc" and not r.refused]
    assert sum(r.spans for r in grpc_lines) == sent + 60
    assert sum(r.rejected for r in grpc_lines) == 20


def test_the_python_grpc_log_exporter(collecting: Collecting, db_path: Path):
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=collecting.grpc, insecure=True)))
    logger = provider.get_logger("test_grpc")
    from opentelemetry._logs import LogRecord, SeverityNumber

    for i in range(50):
        logger.emit(
            LogRecord(
                body=f"order {i} with Authorization: Bearer abc.def.ghi",
                severity_number=SeverityNumber.WARN,
                attributes={"session.id": "logs-1"},
            )
        )
    provider.shutdown()
    assert rows(db_path, "logs") == 50
    bodies = [r[0] for r in sqlite3.connect(db_path).execute("SELECT body FROM logs")]
    assert not any("abc.def.ghi" in b for b in bodies)
    masked = [r.masked for r in collecting.reports if r.signal == "logs" and not r.refused]
    assert sum(sum(m.values()) for m in masked) >= 50


def test_bad_requests_get_the_status_the_otlp_spec_names(db_path: Path):
    limits = ReceiverLimits(max_body=64 * 1024)
    with Collecting(db_path, limits=limits) as c:
        export = c.raw()
        with pytest.raises(grpc.RpcError) as malformed:
            export(b"\x0a\x05\xff\xff", timeout=10)
        only_poison = request_pb(span_pb(b"\x01"), span_pb(b"\x02\x03"))
        with pytest.raises(grpc.RpcError) as all_rejected:
            export(only_poison.SerializeToString(), timeout=10)
        bomb = request_pb(*[span_pb(i.to_bytes(8, "big"), name="x" * 100) for i in range(1, 2000)])
        with pytest.raises(grpc.RpcError) as too_big:
            TraceServiceStub(c.channel).Export(bomb, timeout=10, compression=grpc.Compression.Gzip)
        metrics = MetricsServiceStub(c.channel).Export(
            ExportMetricsServiceRequest(
                resource_metrics=[
                    metrics_pb2.ResourceMetrics(
                        scope_metrics=[metrics_pb2.ScopeMetrics(metrics=[metrics_pb2.Metric(name="m")])]
                    )
                ]
            ),
            timeout=10,
        )
        empty = TraceServiceStub(c.channel).Export(ExportTraceServiceRequest(), timeout=10)
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert all_rejected.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "span_id" in all_rejected.value.details()
    assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(gzip.compress(bomb.SerializeToString())) < limits.max_body < bomb.ByteSize()
    assert not metrics.HasField("partial_success") and not empty.HasField("partial_success")
    assert rows(db_path, "spans") == 0 and rows(db_path, "logs") == 0
    for error in (malformed.value, all_rejected.value):
        details = dict(error.trailing_metadata())
        assert "google.rpc.retryinfo-bin" not in details  # retrying cannot help


def test_a_full_quota_is_unavailable_with_retry_info_and_stores_nothing_more(db_path: Path):
    with Store(db_path) as store:
        size = store.page_bytes()
    limits = ReceiverLimits(max_body=1024 * 1024, max_db_bytes=size + 64 * 1024)
    codes = []
    with Collecting(db_path, limits=limits) as c:
        stub = TraceServiceStub(c.channel)
        for i in range(1, 60):
            span = span_pb(i.to_bytes(8, "big"))
            span.attributes.add(key="blob", value={"string_value": f"{i:04d}" * 2_000})
            try:
                stub.Export(request_pb(span), timeout=10)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as exc:
                codes.append(exc.code())
                refused = exc
                break
    assert codes[0] == grpc.StatusCode.OK and codes[-1] == grpc.StatusCode.UNAVAILABLE
    metadata = dict(refused.trailing_metadata())
    info = error_details_pb2.RetryInfo.FromString(metadata["google.rpc.retryinfo-bin"])
    assert info.retry_delay.seconds >= 1
    status = status_pb2.Status.FromString(metadata["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.UNAVAILABLE.value[0] and "storage quota" in status.message
    [detail] = status.details
    assert detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR)
    assert rows(db_path, "spans") == codes.count(grpc.StatusCode.OK)


def test_hand_encoded_status_and_retry_info_decode_with_the_googleapis_classes():
    info = error_details_pb2.RetryInfo.FromString(retry_info(60))
    assert info.retry_delay.seconds == 60
    status = status_pb2.Status.FromString(status_details(14, "busy ünïcode", 2))
    assert (status.code, status.message) == (14, "busy ünïcode")
    unpacked = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(unpacked) and unpacked.retry_delay.seconds == 2
    assert not status_pb2.Status.FromString(status_details(3, "bad", None)).details


class _LimitsOnly:
    def __init__(self, limits: ReceiverLimits) -> None:
        self.limits = limits


def test_concurrent_rpcs_are_bounded_by_the_memory_budgets():
    limits = ReceiverLimits()
    by_memory = (limits.max_reading + limits.max_inflight) // limits.max_body
    assert concurrent_rpcs(_LimitsOnly(limits)) == by_memory  # type: ignore[arg-type]
    assert concurrent_rpcs(_LimitsOnly(ReceiverLimits(max_body=256 * 1024 * 1024))) == 8  # type: ignore[arg-type]


def test_logs_and_traces_share_the_writer_with_otlp_http(collecting: Collecting, db_path: Path):
    import httpx

    LogsServiceStub(collecting.channel)  # the generated stub exists for logs too
    http = collecting.addresses["http"]
    doc = request_pb(span_pb(b"\x00" * 7 + b"\x09", name="via-http"))
    response = httpx.post(
        f"{http}/v1/traces", content=doc.SerializeToString(), headers={"content-type": "application/x-protobuf"}
    )
    TraceServiceStub(collecting.channel).Export(request_pb(span_pb(b"\x00" * 7 + b"\x08", name="via-grpc")))
    assert response.status_code == 200
    names = {r[0] for r in sqlite3.connect(db_path).execute("SELECT name FROM spans")}
    assert names == {"via-http", "via-grpc"}
    assert {r.transport for r in collecting.reports} == {"http/protobuf", "grpc"}


def test_collect_grpc_from_the_command_line_stores_every_span_and_logs_a_line_per_batch(tmp_path: Path, db_path: Path):
    http_port, grpc_port = free_port(), free_port()
    log = tmp_path / "collect.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "mcp_sessions", "collect", "--db", str(db_path), "--port", str(http_port),
             "--grpc", f"127.0.0.1:{grpc_port}"],
            stderr=err, stdout=subprocess.DEVNULL, cwd=ROOT,
        )  # fmt: skip
        try:
            wait_for_port(grpc_port, process, log)
            provider = TracerProvider(resource=Resource.create({"service.name": "cli"}))
            exporter = CountingExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, timeout=30)
            provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=200))
            sent = make_spans(provider, traces=100, children=9, prefix="cli")
            provider.shutdown()
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(30)
    text = log.read_text()
    assert code == 0, text
    assert f"OTLP/gRPC on 127.0.0.1:{grpc_port}" in text
    assert all(r is SpanExportResult.SUCCESS for r in exporter.results)
    assert rows(db_path, "spans") == sent == 1000
    lines = [line for line in text.splitlines() if " traces grpc: stored " in line]
    assert lines and sum(int(line.split("stored ")[1].split(" spans")[0]) for line in lines) == sent


def test_collect_grpc_without_grpcio_says_what_to_install(db_path: Path):
    code = (
        "import sys; sys.modules['grpc'] = None\n"
        "from mcp_sessions.cli import main\n"
        f"sys.exit(main(['collect', '--db', {str(db_path)!r}, '--port', '0', '--grpc']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "pip install 'mcp-sessions[grpc]'" in done.stderr, done.stderr
    assert not db_path.exists() or rows(db_path, "spans") == 0


def test_a_grpc_port_already_taken_is_a_clear_error(db_path: Path):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mcp_sessions", "collect", "--db", str(db_path), "--port", "0",
             "--grpc", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
    finally:
        taken.close()
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port} for OTLP/gRPC; pick another --grpc HOST:PORT" in done.stderr
