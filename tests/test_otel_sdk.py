"""Spans made by the real OpenTelemetry SDK, exported as a real OTLP request, read back through the tools.

The SDK's encoder builds the protobuf ExportTraceServiceRequest; its JSON mapping is what
protobuf-based exporters write: base64 ids, int64 as strings, enum names.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToJson
from mcp import Client
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from mcp_sessions.ingest import ingest_file
from mcp_sessions.server import create_server
from mcp_sessions.store import Store


def record_checkout() -> list:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.checkout")
    with tracer.start_as_current_span(
        "POST /checkout",
        kind=SpanKind.SERVER,
        attributes={
            "session.id": "sdk-session-1",
            "user.id": "ann",
            "http.request.method": "POST",
            "http.route": "/checkout",
            "http.response.status_code": 500,
        },
    ):
        for item in range(3):
            with tracer.start_as_current_span(
                "SELECT price",
                attributes={
                    "db.system.name": "sqlite",
                    "db.query.text": f"SELECT price FROM items WHERE id = {item}",
                },
            ):
                pass
        with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT) as charge:
            try:
                raise ValueError("card declined")
            except ValueError as exc:
                charge.record_exception(exc)
                charge.set_status(Status(StatusCode.ERROR, "card declined"))
    provider.shutdown()
    return list(exporter.get_finished_spans())


@pytest.fixture
def sdk_db(tmp_path: Path) -> tuple[Path, list]:
    spans = record_checkout()
    export = tmp_path / "sdk-export.json"
    export.write_text(MessageToJson(encode_spans(spans)))
    db = tmp_path / "sdk.db"
    with Store(db) as store:
        result = ingest_file(store, export)
    assert result.status == "stored", result.error
    assert result.counts.spans_stored == 5
    return db, spans


@pytest.mark.anyio
async def test_sdk_spans_are_visible_through_the_tools(sdk_db):
    db, spans = sdk_db
    trace_id = format(spans[0].context.trace_id, "032x")
    async with Client(create_server(db)) as client:
        sessions = await client.call_tool("list_sessions", {"user_id": "ann"})
        trace = await client.call_tool("get_trace", {"trace_id": trace_id})
    session = sessions.structured_content["sessions"][0]
    assert (session["session_id"], session["service"], session["error_count"]) == ("sdk-session-1", "shop", 1)
    view = trace.structured_content
    assert view["trace"]["root_name"] == "POST /checkout"
    assert view["trace"]["http_route"] == "/checkout" and view["trace"]["http_status"] == 500
    by_name = {n["name"]: n for n in view["spans"]}
    assert by_name["charge card"]["error"] == "ValueError: card declined"
    assert by_name["charge card"]["kind"] == "client"
    expected_ids = {format(s.context.span_id, "016x") for s in spans}
    assert {n["span_id"] for n in view["spans"]} == expected_ids
    root = by_name["POST /checkout"]
    children = [n for n in view["spans"] if n["parent_span_id"] == root["span_id"]]
    assert len(children) == 4


def test_sdk_export_promotes_semantic_convention_columns(sdk_db):
    db, _ = sdk_db
    with Store(db) as store:
        rows = store.conn.execute(
            "SELECT name, http_method, http_route, http_status, db_system, db_statement, exception_type "
            "FROM spans ORDER BY start_ns"
        ).fetchall()
    assert rows[0] == ("POST /checkout", "POST", "/checkout", 500, None, None, None)
    assert rows[1][4:6] == ("sqlite", "SELECT price FROM items WHERE id = 0")
    assert rows[-1][6] == "ValueError"
