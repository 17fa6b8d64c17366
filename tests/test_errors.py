"""find_errors on failures real tools recorded: targets kept apart, messages kept, propagation folded.

The spans come from the real OpenTelemetry Python SDK (nested `start_as_current_span`, which
records an escaping exception on every span it leaves) and from the real httpx
instrumentation calling local ports where nothing listens and a server that answers 500;
highlight-fs.json is a Node app's own export (112 ENOENT exceptions).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from google.protobuf.json_format import MessageToJson
from mcp import Client
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mcp_sessions.analysis.errors import event_occurrence, group_errors
from mcp_sessions.ingest import ingest_file
from mcp_sessions.model import Event
from mcp_sessions.server import create_server
from mcp_sessions.store import Store
from tests.netutil import free_port

pytestmark = pytest.mark.anyio


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _store(tmp_path: Path, spans: list[ReadableSpan]) -> Path:
    export = tmp_path / "export.json"
    export.write_text(MessageToJson(encode_spans(spans)))
    db = tmp_path / "errors.db"
    with Store(db) as store:
        result = ingest_file(store, export)
    assert result.status == "stored", result.error
    return db


async def _find_errors(db: Path, **args: object) -> tuple[str, dict]:
    async with Client(create_server(db)) as client:
        result = await client.call_tool("find_errors", {"limit": 100, "budget_tokens": 6000, **args})
    assert not result.is_error, result.content[0].text
    return result.content[0].text, result.structured_content


def parse_quantity(raw: str) -> int:
    if not raw.isdigit():
        raise ValueError(f"bad quantity {raw!r}")
    return int(raw)


def record_propagating_exception() -> list[ReadableSpan]:
    """One trace: an exception escaping four nested spans, and a sibling's own exception caught below the root."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("tests.errors")
    root = tracer.start_as_current_span("POST /cart", kind=SpanKind.SERVER)
    with pytest.raises(ValueError), root, tracer.start_as_current_span("load cart"):
        line_1 = tracer.start_as_current_span("read line 1")
        with line_1, contextlib.suppress(ValueError), tracer.start_as_current_span("parse quantity"):
            parse_quantity("x")  # recorded by its span, caught by its caller: a failure of its own
        with tracer.start_as_current_span("read line 2"), tracer.start_as_current_span("parse quantity"):
            parse_quantity("two")  # escapes parse quantity, read line 2, load cart, POST /cart
    provider.shutdown()
    return list(exporter.get_finished_spans())


async def test_one_exception_recorded_by_the_spans_it_propagated_through_is_one_failure(tmp_path: Path):
    spans = record_propagating_exception()
    recorded = [s for s in spans if any(e.name == "exception" for e in s.events)]
    assert len(recorded) == 5  # what the SDK did: "read line 1" once, then four spans for the escaping one
    text, data = await _find_errors(_store(tmp_path, spans))
    [group] = data["errors"]
    assert group["count"] == 2, text  # two throws, not five recordings
    assert data["occurrences"] == 2
    assert group["also_seen_as"] == {"enclosing span": 3}
    first = next(s for s in spans if s.name == "parse quantity")  # the first to finish: the caught one
    assert group["span_id"] == format(first.context.span_id, "016x")
    assert {m["message"] for m in group["messages"]} == {"bad quantity 'x'", "bad quantity 'two'"}
    assert group["message_count"] == 2
    assert group["code_location"].endswith(
        f"{Path(__file__)}:{parse_quantity.__code__.co_firstlineno + 2} in parse_quantity"
    )
    assert any("raise ValueError" in line for line in group["stack"])
    assert "3 enclosing spans" in text and "2 distinct" in text


class _Failing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503 if self.server.server_port % 2 else 500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_servers() -> Iterator[list[int]]:
    servers = [HTTPServer(("127.0.0.1", 0), _Failing) for _ in range(2)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield [s.server_port for s in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


def record_calls_to_local_ports(refused: list[int], failing: list[int]) -> list[ReadableSpan]:
    provider, exporter = _provider()
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        tracer = provider.get_tracer("tests.errors")
        for port in [*refused, *failing]:
            server = tracer.start_as_current_span("GET /checkout", kind=SpanKind.SERVER)
            with server, httpx.Client() as client, contextlib.suppress(httpx.ConnectError):
                client.get(f"http://127.0.0.1:{port}/api/charge")
    finally:
        instrumentor.uninstrument()
    provider.shutdown()
    return list(exporter.get_finished_spans())


async def test_failures_to_different_ports_are_never_one_group(tmp_path: Path, failing_servers: list[int]):
    down_a, down_b = free_port(), free_port()
    spans = record_calls_to_local_ports([down_a, down_a, down_b], failing_servers)
    clients = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert len(clients) == 5 and all(s.status.status_code.name == "ERROR" for s in clients)
    text, data = await _find_errors(_store(tmp_path, spans))
    by_target = {(e["kind"], e["target"]): e for e in data["errors"]}
    refused_a = by_target[("exception", f"127.0.0.1:{down_a}")]
    refused_b = by_target[("exception", f"127.0.0.1:{down_b}")]
    assert (refused_a["count"], refused_b["count"]) == (2, 1)
    assert refused_a["title"] == refused_b["title"] == "httpx.ConnectError: [Errno 111] Connection refused"
    for port in failing_servers:
        assert by_target[("failed span", f"127.0.0.1:{port}")]["count"] == 1
    assert len(data["errors"]) == 4
    targets = [line for line in text.splitlines() if line.strip().startswith("**Target**")]
    assert any(f"127.0.0.1:{down_a}" in line for line in targets) and any(
        f"127.0.0.1:{down_b}" in line for line in targets
    )
    # every frame of the recorded stack is httpx, httpcore, the instrumentation or the stdlib: no code location
    assert refused_a["code_location"] is None
    assert any("httpx.ConnectError" in line for line in refused_a["stack"])


async def test_highlight_node_exceptions_keep_their_messages(samples: Path, tmp_path: Path):
    db = tmp_path / "highlight.db"
    with Store(db) as store:
        assert ingest_file(store, samples / "otlp" / "highlight-fs.json").status == "stored"
    text, data = await _find_errors(db, sources=["backend"])
    access = next(e for e in data["errors"] if e["title"].startswith("ENOENT") and "access" in e["title"])
    assert access["count"] == 110
    assert access["message_count"] == 42
    assert sum(m["count"] for m in access["messages"]) == 30  # the five most frequent, 6 each
    assert all(m["count"] == 6 for m in access["messages"])
    assert all("no such file or directory, access" in m["message"] for m in access["messages"])
    stat = next(e for e in data["errors"] if "stat" in e["title"])
    assert stat["count"] == 2 and stat["message_count"] == 2
    assert "42 distinct" in text


def test_failed_requests_to_two_hosts_are_two_groups() -> None:
    def failed(seq: int, url: str) -> Event:
        return Event("har", seq, seq * 1000, "network", f"GET {url} → 502", url=url, method="GET", status=502)

    events = [failed(1, "https://api.shop.example/v1/cart"), failed(2, "https://api.shop.example/v1/cart")]
    events.append(failed(3, "https://fallback.shop.example:8443/v1/cart"))
    groups = group_errors([event_occurrence(e, "s1") for e in events])
    assert [(g.count, g.target) for g in groups] == [(2, "api.shop.example"), (1, "fallback.shop.example:8443")]
    assert groups[0].title == groups[1].title == "GET /v1/cart → 502"


async def test_a_js_exception_recorded_on_three_nested_spans_is_one_group_counted_once(tmp_path: Path):
    """The OTel JS SDK's own export (tests/data/recordings/make_node_nested_exception.mjs made it)."""
    db = tmp_path / "node.db"
    with Store(db) as store:
        result = ingest_file(store, Path(__file__).parent / "data" / "recordings" / "node-nested-exception.json")
    assert result.status == "stored", result.error
    _, data = await _find_errors(db)
    [group] = data["errors"]
    assert group["count"] == 1 and data["occurrences"] == 1
    assert group["title"] == "TypeError: Cannot read properties of undefined (reading 'value')"
    assert group["also_seen_as"] == {"enclosing span": 2}
    assert "make_node_nested_exception.mjs:41" in group["code_location"]
    assert group["stack"][1].strip().startswith("at file:///") and ":41:74" in group["stack"][1]


def test_an_enclosing_span_folds_into_one_of_two_sibling_throws_and_input_is_unchanged() -> None:
    from mcp_sessions.analysis.errors import Occurrence

    def raised(span: str, parent: str, t: int) -> Occurrence:
        return Occurrence(
            "backend", "exception", "svc|ValueError|f|", "ValueError: x", t, "s1", trace_id="t", span_id=span,
            message="x", exception_type="ValueError", parent_span_id=parent,
        )  # fmt: skip

    # P (child of the root R) records the ValueError its second child B let escape; A threw its own earlier.
    occurrences = [raised("a", "p", 10), raised("b", "p", 20), raised("p", "r", 21)]
    parents = {("t", "a"): "p", ("t", "b"): "p", ("t", "p"): "r", ("t", "r"): None}
    snapshot = repr(occurrences)
    [group] = group_errors(occurrences, parents=parents)
    assert repr(occurrences) == snapshot
    assert group.count == 2 and group.related == {"enclosing span": 1}
