"""A code location on every slow-operation row and error group where code.* attributes exist.

Both spellings of the semantic conventions: `code.function.name` / `code.file.path` /
`code.line.number` (current, stable) and `code.function` + `code.namespace` / `code.filepath` /
`code.lineno` (older, still sent: highlight-go's spans in the public samples carry them).
"""

from __future__ import annotations

import time
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
from mcp_sessions.semconv import CodeLocation, code_location
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

pytestmark = pytest.mark.anyio

NEW = {"code.function.name": "shop.cart.load", "code.file.path": "/app/shop/cart.py", "code.line.number": 42}
OLD = {
    "code.function": "fetch_prices",
    "code.namespace": "shop.db",
    "code.filepath": "/app/shop/db.py",
    "code.lineno": 7,
}

FILE_ONLY = {"code.filepath": "/app/shop/views.py", "code.lineno": 88}  # no function named


def test_both_spellings_read_the_same() -> None:
    assert code_location(NEW) == CodeLocation("shop.cart.load", "/app/shop/cart.py", 42)
    assert code_location(OLD) == CodeLocation("shop.db.fetch_prices", "/app/shop/db.py", 7)
    # the stable spelling wins where both are sent
    assert code_location({**OLD, **NEW}) == CodeLocation("shop.cart.load", "/app/shop/cart.py", 42)
    assert code_location({"code.lineno": 3}) is None


@pytest.fixture
def sdk_db(tmp_path: Path) -> Path:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.code")
    with tracer.start_as_current_span("GET /cart", kind=SpanKind.SERVER, attributes={"http.route": "/cart"}):
        with tracer.start_as_current_span("load cart", attributes=NEW):
            time.sleep(0.02)
        with tracer.start_as_current_span("SELECT prices", kind=SpanKind.CLIENT, attributes=OLD) as span:
            time.sleep(0.01)
            span.set_status(Status(StatusCode.ERROR, "deadlock detected"))
        with tracer.start_as_current_span("render", attributes=FILE_ONLY) as span:
            time.sleep(0.005)
            span.record_exception(ValueError("template warning"))  # handled: no error status
    provider.shutdown()
    export = tmp_path / "export.json"
    export.write_text(MessageToJson(encode_spans(list(exporter.get_finished_spans()))))
    db = tmp_path / "code.db"
    with Store(db) as store:
        assert ingest_file(store, export).status == "stored"
    return db


async def _call(db: Path, tool: str, **args: object) -> tuple[str, dict]:
    async with Client(create_server(db)) as client:
        result = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    return result.content[0].text, result.structured_content


async def test_slow_rows_and_error_groups_show_the_code_location(sdk_db: Path):
    for args in ({}, {"group_by": "span"}, {"service": "shop", "since": "30d"}):
        text, data = await _call(sdk_db, "find_slow_spans", **args)
        rows = data["operations"] or data["spans"]
        where = {r.get("fingerprint") or r["name"]: r["code_location"] for r in rows}
        assert where["load cart"] == "/app/shop/cart.py:42 in shop.cart.load", args
        assert where["SELECT prices"] == "/app/shop/db.py:7 in shop.db.fetch_prices", args
        assert where["render"] == "/app/shop/views.py:88", args  # a file and line without a function still count
        assert where["GET /cart"] is None
        assert "**Code**: `/app/shop/cart.py:42 in shop.cart.load`" in text
    _, errors = await _call(sdk_db, "find_errors")
    [group] = [g for g in errors["errors"] if g["kind"] == "failed span"]
    assert group["code_location"] == "/app/shop/db.py:7 in shop.db.fetch_prices"
    [handled] = [g for g in errors["errors"] if g["kind"] == "exception"]
    assert handled["code_location"] == "/app/shop/views.py:88"  # the span's own, no stack frame to prefer


async def test_highlight_go_errors_carry_the_code_location_of_their_log_events(samples: Path, tmp_path: Path):
    """highlight-go records errors as span events named "log" with code.* and a goroutine dump."""
    db = tmp_path / "highlight.db"
    with Store(db) as store:
        assert ingest_file(store, samples / "otlp" / "highlight-traces.json").status == "stored"
    text, data = await _call(db, "find_errors", limit=100)
    locations = {e["code_location"]: e for e in data["errors"]}
    kafka = locations[
        "/Users/vkorolik/work/highlight/backend/kafka-queue/kafkaqueue.go:258 in "
        "github.com/highlight-run/highlight/backend/kafka-queue.(*Queue).Submit"
    ]
    assert kafka["count"] == 4 and kafka["message_count"] == 4  # sizes and keys differ; one place in the code
    assert all(e["code_location"] for e in data["errors"]), text
    # the stack excerpt starts past the logging machinery (debug.Stack, the hook, logrus) at that frame
    assert any("kafkaqueue.go:258" in line for line in kafka["stack"])


async def test_get_span_shows_the_code_location_under_either_spelling(sdk_db: Path):
    _, slow = await _call(sdk_db, "find_slow_spans", group_by="span")
    expected = {
        "load cart": "/app/shop/cart.py:42 in shop.cart.load",
        "SELECT prices": "/app/shop/db.py:7 in shop.db.fetch_prices",
        "render": "/app/shop/views.py:88",
        "GET /cart": None,
    }
    for row in slow["spans"]:
        text, detail = await _call(sdk_db, "get_span", trace_id=row["trace_id"], span_id=row["span_id"])
        assert detail["records"][0]["code_location"] == expected[row["name"]], row["name"]
        if expected[row["name"]]:
            assert f"**Code**: `{expected[row['name']]}`" in text
