"""A small catalog service recorded by the real OpenTelemetry SDK and official instrumentation.

An ASGI app (no framework) under `opentelemetry-instrumentation-asgi`'s middleware, querying
SQLite through `opentelemetry-instrumentation-dbapi`, so every span, name and attribute is
what those packages record (`db.statement` exactly as the app passed it, `?` placeholders
and all). Requests are driven in-process, with no network or event loop; the spans are exported as the
SDK's own OTLP encoder builds them, in the protobuf JSON mapping exporters write.

    GET /api/cart?ids=1,2,3          loop:    SELECT id, name, price FROM products WHERE id = ? LIMIT 1   × n
    GET /api/cart?ids=1,2,3&batch=1  batched: SELECT id, name, price FROM products WHERE id IN (?, ?, ?)
                                              ORDER BY id                                               × 1
    GET /api/cart?ids=1,2,3&lazy=1   the loop, inside the `render cart.html` span every request has

The two statements can be given (the shapes ORMs emit differ); the database also holds
`reviews (id, product_id, rating)`. A request may carry a session id (`x-session-id`, copied
onto the server span as `session.id`) or none, and a seeded id generator makes two runs reuse
the same trace and span ids.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from google.protobuf.json_format import MessageToJson
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.dbapi import instrument_connection
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

ITEM_QUERY = "SELECT id, name, price FROM products WHERE id = ? LIMIT 1"
BATCH_QUERY = "SELECT id, name, price FROM products WHERE id IN ({marks}) ORDER BY id"


class SeededIds(IdGenerator):
    """Ids from a seeded generator: two runs with one seed hand out the same ids, as a forked
    worker that inherited its parent's random state does."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128) or 1


class Catalog:
    """The app and its instrumentation; `run` drives requests, `export` writes what was recorded."""

    def __init__(
        self,
        service: str = "catalog",
        ids: IdGenerator | None = None,
        *,
        item_query: str = ITEM_QUERY,
        batch_query: str = BATCH_QUERY,
    ) -> None:
        self.item_query, self.batch_query = item_query, batch_query
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": service}), id_generator=ids or RandomIdGenerator()
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        raw = sqlite3.connect(":memory:", check_same_thread=False)
        raw.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        raw.executemany("INSERT INTO products VALUES (?, ?, ?)", [(i, f"product {i}", i * 1.25) for i in range(1, 200)])
        raw.execute("CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INTEGER, rating INTEGER)")
        raw.executemany("INSERT INTO reviews VALUES (?, ?, ?)", [(i, i % 50, i % 5) for i in range(1, 300)])
        self.db = instrument_connection("sdk_catalog", raw, "sqlite", tracer_provider=self.provider)
        self.app = OpenTelemetryMiddleware(self._app, tracer_provider=self.provider)

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        query = parse_qs(scope["query_string"].decode())
        ids = [int(i) for i in query.get("ids", [""])[0].split(",") if i]
        headers = dict(scope["headers"])
        session = headers.get(b"x-session-id")
        if session:
            trace.get_current_span().set_attribute("session.id", session.decode())
        cursor = self.db.cursor()
        tracer = self.provider.get_tracer("sdk_catalog.views")
        rows: list[Any] = []
        if query.get("batch"):
            marks = ", ".join("?" * len(ids))
            listed = "{marks}" in self.batch_query  # else the batch reads every product, filtered here
            rows = cursor.execute(self.batch_query.format(marks=marks), ids if listed else ()).fetchall()
        elif not query.get("lazy"):
            rows = [self._item(cursor, i) for i in ids]
        with tracer.start_as_current_span("render cart.html"):
            if query.get("lazy"):  # each item loaded as the template reaches it
                rows = [self._item(cursor, i) for i in ids]
            body = repr(rows).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    def _item(self, cursor: Any, item: int) -> Any:
        """One item: its id, then 1 for any further placeholder (a LIMIT ?)."""
        return cursor.execute(self.item_query, (item, *[1] * (self.item_query.count("?") - 1))).fetchone()

    def run(self, path: str, query: str = "", session: str | None = None) -> None:
        """One GET request through the instrumented app."""
        headers = [(b"host", b"catalog.test")] + ([(b"x-session-id", session.encode())] if session else [])
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "server": ("catalog.test", 80),
            "client": ("127.0.0.1", 50000),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        _drive(self.app(scope, receive, send))

    def spans(self) -> Sequence[ReadableSpan]:
        return self.exporter.get_finished_spans()

    def export(self, path: Path, spans: Sequence[ReadableSpan] | None = None) -> Path:
        """The recorded spans (or `spans`) as one OTLP/JSON export request, as the SDK encodes it."""
        path.write_text(MessageToJson(encode_spans(list(self.spans() if spans is None else spans))))
        self.exporter.clear()
        return path


def _drive(coroutine: Any) -> None:
    """Run a coroutine that never waits on anything outside it (this app and its middleware), without an
    event loop, so requests can be recorded from sync and async tests alike."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("the app waited on something outside the process")


def cart(ids: Sequence[int], *, batch: bool = False, lazy: bool = False) -> str:
    """The query string of a cart request: one query per item in the view, or `batch`ed, or `lazy` (per item,
    while the template renders)."""
    return "ids=" + ",".join(map(str, ids)) + ("&batch=1" if batch else "") + ("&lazy=1" if lazy else "")
