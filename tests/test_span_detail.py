"""get_span and the call targets, on recordings real tools made, through the MCP client.

The foreign corpus (tests/corpus: Flask + SQLAlchemy under opentelemetry-instrument, FastAPI +
httpx, Node Express under @opentelemetry/sdk-node, gRPC, messaging) and the public Zipkin
samples: every span a tool prints can be opened with get_span, which shows its attributes
(old and new spellings alike), events and links within a bound; outbound calls say where they
went in get_trace and find_slow_spans; what is shown is redacted again, never wider than ingest.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_sessions.analysis.call_targets import call_target
from mcp_sessions.config import CHARS_PER_TOKEN
from mcp_sessions.formats import zipkin
from mcp_sessions.ingest import ingest_paths
from mcp_sessions.model import Span, SpanEvent, SpanLink
from mcp_sessions.redact_rules import RedactionRules
from mcp_sessions.server import create_server
from mcp_sessions.store import SqliteStore, Store
from mcp_sessions.store.sqlite.writer import IngestWriter

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import generate

pytestmark = pytest.mark.anyio

RECORDINGS = ("flask-sqlalchemy", "fastapi-httpx", "node-express", "grpc-stream", "messaging", "zipkin-fanout")
T0 = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One database per corpus recording (the corpus built once for this module)."""
    out = tmp_path_factory.mktemp("corpus")
    status = generate.build(out)
    dbs = {}
    for name in RECORDINGS:
        if status[name] is not None:
            if status[name].startswith("not built: needs"):
                pytest.skip(f"{name}: {status[name]}")
            pytest.fail(f"{name}: {status[name]}")
        db = out / f"{name}.db"
        with Store(db) as store:
            assert all(r.status == "stored" for r in ingest_paths(store, [str(out / name)]))
        dbs[name] = db
    return dbs


class Reply:
    def __init__(self, text: str, data: dict[str, Any], error: bool) -> None:
        self.text, self.data, self.error = text, data, error


async def ask(db: Path, tool: str, **args: Any) -> Reply:
    async with Client(create_server(db)) as client:
        result = await client.call_tool(tool, args)
    text = "\n".join(c.text for c in result.content if hasattr(c, "text"))
    return Reply(text, result.structured_content or {}, bool(result.is_error))


async def asks(db: Path, calls: list[tuple[str, dict[str, Any]]], **server: Any) -> list[Reply]:
    out = []
    async with Client(create_server(db, **server)) as client:
        for tool, args in calls:
            result = await client.call_tool(tool, args)
            text = "\n".join(c.text for c in result.content if hasattr(c, "text"))
            out.append(Reply(text, result.structured_content or {}, bool(result.is_error)))
    return out


def parse_call(text: str) -> tuple[str, dict[str, Any]]:
    node = ast.parse(text.strip().strip("`"), mode="eval").body
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name), text
    return node.func.id, {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}


def spans_of(db: Path) -> list[Span]:
    store = SqliteStore(db, readonly=True)
    try:
        trace_ids = [r[0] for r in store.conn.execute("SELECT trace_id FROM traces ORDER BY start_ns")]
        return [s for t in trace_ids for s in store.trace_spans(t)]
    finally:
        store.close()


def attrs(record: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: a["value"] for a in record["attributes"]}


def checked(reply: Reply, budget_tokens: int = 2000) -> Reply:
    """The reply answered, within its text budget, and every list says truly how much it shows."""
    assert not reply.error, reply.text
    assert len(reply.text) <= budget_tokens * CHARS_PER_TOKEN, len(reply.text)
    for record in reply.data.get("records", []):
        for key, count in (("attributes", "attribute_count"), ("resource", "resource_count")):
            shown, total = len(record[key]), record[count]
            assert shown <= total
            if total:
                assert f"(shows {shown} of {total})" in reply.text
        assert len(record["events"]) <= record["event_count"]
        assert len(record["links"]) <= record["link_count"]
        for item in record["attributes"] + record["resource"]:
            assert not isinstance(item["value"], str) or len(item["value"]) <= 300
    return reply


# --- the call targets, both spellings ----------------------------------------------------------------


def _span(kind: str, attributes: dict[str, Any], name: str = "op", fingerprint: str | None = None) -> Span:
    return Span(
        "a" * 32, "b" * 16, None, name, kind, T0, T0 + 1_000_000, attributes=attributes, fingerprint=fingerprint
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "attributes", "text"),
    [
        (
            "client",
            {"http.request.method": "GET", "url.full": "https://pay.internal:8443/v1/charges/123?x=1"},
            "GET pay.internal:8443/v1/charges/{id}",
        ),
        ("client", {"http.method": "get", "http.url": "http://shop/api/orders/42"}, "GET shop/api/orders/{id}"),
        (
            "client",
            {"http.request.method": "POST", "server.address": "mailer", "server.port": 8025, "url.path": "/send"},
            "POST mailer:8025/send",
        ),
        (
            "client",
            {"http.method": "PUT", "net.peer.name": "cache", "net.peer.port": 80, "http.target": "/k/9?ttl=1"},
            "PUT cache/k/{id}",
        ),
        ("server", {"http.request.method": "GET", "url.full": "http://me/x"}, None),
        (
            "client",
            {"db.system.name": "postgresql", "db.query.text": "SELECT *\n  FROM t WHERE id = $1"},
            "postgresql: SELECT * FROM t WHERE id = $1",
        ),
        ("client", {"db.system": "mysql", "db.statement": "UPDATE t SET a = 1"}, "mysql: UPDATE t SET a = 1"),
        (
            "client",
            {"db.system.name": "postgresql", "db.query.summary": "SELECT orders", "db.query.text": "SELECT …"},
            "postgresql: SELECT orders",
        ),
        ("client", {"db.system": "redis", "db.operation": "GET"}, "redis: GET"),
        (
            "producer",
            {"messaging.system": "kafka", "messaging.operation.type": "send", "messaging.destination.name": "orders"},
            "kafka send orders",
        ),
        (
            "producer",
            {"messaging.system": "rabbitmq", "messaging.operation": "publish", "messaging.destination": "q1"},
            "rabbitmq publish q1",
        ),
        ("client", {"rpc.system": "grpc", "rpc.service": "shop.Cart", "rpc.method": "Get"}, "grpc shop.Cart/Get"),
        ("client", {"rpc.system": "grpc", "rpc.method": "shop.Cart/Get"}, "grpc shop.Cart/Get"),
        ("internal", {"app.step": 3}, None),
    ],
)
def test_call_targets_read_old_and_new_spellings(kind: str, attributes: dict[str, Any], text: str | None):
    found = call_target(_span(kind, attributes))
    assert (found.text if found else None) == text


def test_a_call_target_takes_the_stores_path_template_and_cuts_a_long_statement():
    span = _span(
        "client",
        {"http.request.method": "GET", "url.full": "http://cat/api/products/1YMWWN1N4O"},
        fingerprint="GET cat/api/products/{id}",
    )
    assert call_target(span).text == "GET cat/api/products/{id}"  # type: ignore[union-attr]
    statement = "SELECT " + "a, " * 400 + "b FROM t"
    long = call_target(_span("client", {"db.statement": statement}))
    assert long is not None and len(long.text) < 260 and long.text.endswith(f"… (cut: {len(statement)} chars)")


# --- get_span on the corpus --------------------------------------------------------------------------


async def test_flask_sqlalchemy_statement_spans_show_their_statement_everywhere(corpus: dict[str, Path]):
    db = corpus["flask-sqlalchemy"]
    loop = next(s for s in spans_of(db) if "order_lines.order_id = ?" in str(s.attributes.get("db.statement")))
    trace = await ask(db, "get_trace", trace_id=loop.trace_id, max_spans=300, budget_tokens=6000)
    line = next(ln for ln in trace.text.splitlines() if f"`{loop.span_id}`" in ln)
    assert "→ SELECT order_lines.id" in line
    node = next(n for n in trace.data["spans"] if n["span_id"] == loop.span_id)
    assert node["target"].startswith("sqlite: SELECT order_lines.id")
    assert trace.data["detail_call"] and "get_span(" in trace.text
    detail = checked(await ask(db, "get_span", trace_id=loop.trace_id, span_id=loop.span_id))
    [record] = detail.data["records"]
    assert attrs(record)["db.statement"] == loop.attributes["db.statement"]
    assert attrs(record)["db.system"] == "sqlite"
    assert record["target"].startswith("sqlite: SELECT order_lines.id") and "**Calls**: `sqlite: SELECT" in detail.text
    assert record["scope"].startswith("opentelemetry.instrumentation.sqlalchemy")
    assert {"service.name": "flask-shop"}.items() <= {a["key"]: a["value"] for a in record["resource"]}.items()
    assert detail.data["parent_span_id"] == loop.parent_span_id and detail.data["parent_name"] == "GET /orders"
    # the attributes a reader looks for first lead the list
    assert [a["key"] for a in record["attributes"]][:2] == ["db.system", "db.statement"]


async def test_an_exception_event_shows_type_message_and_the_throw_site(corpus: dict[str, Path]):
    db = corpus["flask-sqlalchemy"]
    failed = next(s for s in spans_of(db) if any(e.name == "exception" for e in s.events))
    detail = checked(await ask(db, "get_span", trace_id=failed.trace_id, span_id=failed.span_id))
    [event] = detail.data["records"][0]["events"]
    recorded = next(e for e in failed.events if e.name == "exception").attributes
    assert event["exception_type"] == recorded["exception.type"]
    assert event["exception_message"] == recorded["exception.message"]
    assert any("flask_shop.py" in line for line in event["stack"]), event["stack"]
    assert "```text (recorded stack, not instructions)" in detail.text
    assert f"`{recorded['exception.type']}: " in detail.text


async def test_httpx_client_spans_say_where_they_called_not_only_get(corpus: dict[str, Path]):
    db = corpus["fastapi-httpx"]
    clients = [s for s in spans_of(db) if s.kind == "client" and s.name == "GET"]
    assert clients
    for span in clients:
        url = span.attributes["http.url"]
        trace = await ask(db, "get_trace", trace_id=span.trace_id)
        line = next(ln for ln in trace.text.splitlines() if f"`{span.span_id}`" in ln)
        host = url.split("/")[2]
        assert f"`GET {host}/" in line, line
        detail = checked(await ask(db, "get_span", trace_id=span.trace_id, span_id=span.span_id))
        record = detail.data["records"][0]
        assert attrs(record)["http.url"] == url and record["target"].startswith(f"GET {host}/")
    slow = await ask(db, "find_slow_spans", group_by="span", limit=100, budget_tokens=6000)
    rows = {r["span_id"]: r for r in slow.data["spans"]}
    assert all(rows[s.span_id]["target"].startswith("GET ") for s in clients if s.span_id in rows)
    # the session key is an identifier we join on: shown, not masked
    server = next(s for s in spans_of(db) if "session.id" in s.attributes)
    detail = checked(await ask(db, "get_span", trace_id=server.trace_id, span_id=server.span_id))
    assert attrs(detail.data["records"][0])["session.id"] == server.attributes["session.id"]


async def test_node_express_new_spellings(corpus: dict[str, Path]):
    db = corpus["node-express"]
    client = next(s for s in spans_of(db) if s.kind == "client" and "url.full" in s.attributes)
    detail = checked(await ask(db, "get_span", trace_id=client.trace_id, span_id=client.span_id))
    record = detail.data["records"][0]
    assert attrs(record)["url.full"] == client.attributes["url.full"]
    assert record["target"].split(" ")[0] == client.attributes["http.request.method"]
    assert detail.data["children"] >= 1 and any("span_id=" in c for c in detail.data["next_calls"])


async def test_rpc_and_messaging_targets(corpus: dict[str, Path]):
    grpc = corpus["grpc-stream"]
    call = next(s for s in spans_of(grpc) if s.kind == "client" and "rpc.service" in s.attributes)
    detail = checked(await ask(grpc, "get_span", trace_id=call.trace_id, span_id=call.span_id))
    expected = f"grpc {call.attributes['rpc.service']}/{call.attributes['rpc.method']}"
    assert detail.data["records"][0]["target"] == expected
    messaging = corpus["messaging"]
    producer = next(s for s in spans_of(messaging) if s.kind == "producer")
    detail = checked(await ask(messaging, "get_span", trace_id=producer.trace_id, span_id=producer.span_id))
    assert producer.attributes["messaging.destination.name"] in detail.data["records"][0]["target"]


async def test_links_say_whether_get_span_can_show_the_linked_span(corpus: dict[str, Path]):
    db = corpus["messaging"]
    linked = next(s for s in spans_of(db) if s.links)
    detail = checked(await ask(db, "get_span", trace_id=linked.trace_id, span_id=linked.span_id, budget_tokens=6000))
    record = detail.data["records"][0]
    assert record["link_count"] == len(linked.links) and record["links"]
    stored = {(s.trace_id, s.span_id) for s in spans_of(db)}
    for link in record["links"]:
        assert link["stored"] == ((link["trace_id"], link["span_id"]) in stored)
    offers = [c for c in detail.text.split("`") if c.startswith("get_span(")]
    replies = await asks(db, [parse_call(c) for c in offers])
    assert replies and all(not r.error for r in replies)


async def test_every_span_id_a_tool_prints_opens_with_get_span(corpus: dict[str, Path]):
    for name, db in corpus.items():
        spans = spans_of(db)
        trace_ids = list(dict.fromkeys(s.trace_id for s in spans))[:8]
        calls: list[tuple[str, dict[str, Any]]] = [("get_trace", {"trace_id": t}) for t in trace_ids]
        calls += [("find_slow_spans", {}), ("find_slow_spans", {"group_by": "span"}), ("find_errors", {})]
        replies = await asks(db, calls)
        offered: list[str] = []
        for (tool, _), reply in zip(calls, replies, strict=True):
            assert not reply.error, reply.text
            failed_span = tool != "find_errors" or any(e["source"] == "backend" for e in reply.data["errors"])
            if (tool == "get_trace" or reply.data["shown"]) and failed_span:
                assert reply.data["detail_call"], (name, tool, reply.text)
            if reply.data.get("detail_call"):
                assert reply.data["detail_call"] in reply.text
                offered.append(reply.data["detail_call"])
        # and every span id get_trace printed, not only the one offered
        printed = [
            {"trace_id": node_trace, "span_id": n["span_id"]}
            for (tool, args), reply in zip(calls, replies, strict=True)
            if tool == "get_trace"
            for node_trace in [args["trace_id"]]
            for n in reply.data["spans"]
        ]
        details = await asks(db, [parse_call(c) for c in offered] + [("get_span", p) for p in printed])
        for reply in details:
            checked(reply)


async def test_zipkin_exception_annotations_read_back_as_exception_events(corpus: dict[str, Path]):
    """The OpenTelemetry Zipkin exporter writes an event as `{"exception": {...}}` annotation text."""
    db = corpus["zipkin-fanout"]
    failed = next(s for s in spans_of(db) if any(e.name == "exception" for e in s.events))
    event = next(e for e in failed.events if e.name == "exception")
    assert event.attributes["exception.type"] == "RuntimeError"
    detail = checked(await ask(db, "get_span", trace_id=failed.trace_id, span_id=failed.span_id))
    [shown] = detail.data["records"][0]["events"]
    assert (shown["exception_type"], shown["exception_message"]) == ("RuntimeError", "mailer unavailable (503)")
    errors = await ask(db, "find_errors")
    assert any(e["kind"] == "exception" and e["title"].startswith("RuntimeError") for e in errors.data["errors"])


@pytest.mark.parametrize(
    ("value", "name", "attributes"),
    [
        ('{"exception": {"exception.type": "E"}}', "exception", {"exception.type": "E"}),
        ("{not json}", "{not json}", {}),
        ('{"a": 1}', '{"a": 1}', {}),
        ('{"a": {}, "b": {}}', '{"a": {}, "b": {}}', {}),
        ("ws", "ws", {}),
        ("[" * 5000 + "]" * 5000, "[" * 5000 + "]" * 5000, {}),
    ],
)
def test_only_the_exporters_event_shape_is_decoded(value: str, name: str, attributes: dict[str, Any]):
    raw = [
        {
            "traceId": "a" * 32,
            "id": "b" * 16,
            "name": "x",
            "timestamp": 1,
            "annotations": [{"timestamp": 2, "value": value}],
        }
    ]
    [span] = [r for r in zipkin.parse(raw) if isinstance(r, Span)]
    assert (span.events[0].name, dict(span.events[0].attributes)) == (name, attributes)


async def test_zipkin_shared_span_ids_show_both_records(samples: Path, tmp_path: Path):
    db = tmp_path / "yelp.db"
    with Store(db) as store:
        assert all(r.status == "stored" for r in ingest_paths(store, [str(samples / "zipkin" / "yelp.json")]))
    spans = spans_of(db)
    shared = next(s for s in spans if s.shared and any(o.span_id == s.span_id and not o.shared for o in spans))
    detail = checked(await ask(db, "get_span", trace_id=shared.trace_id, span_id=shared.span_id, budget_tokens=6000))
    kinds = sorted((r["kind"], r["shared"]) for r in detail.data["records"])
    assert detail.data["record_count"] == 2 and kinds == [("client", False), ("server", True)]
    assert "**Records**: 2 share this span id" in detail.text and "## Record 2 of 2" in detail.text


# --- bounds, redaction, errors -----------------------------------------------------------------------


def _store_unredacted(db: Path, spans: list[Span]) -> None:
    """Records written as they are (no ingest redaction): as a file written under other rules would hold."""
    store = SqliteStore(db)
    with IngestWriter(store.conn, source="test", fmt="records", content_hash=db.name) as writer:
        writer.add(spans)
        writer.finish({})
    store.close()


TRACE = "c" * 32
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.fixture
def crafted(tmp_path: Path) -> Path:
    resource = {"service.name": "shop", "deployment.api_key": "sk_live_resource_secret_123", "host.name": "h1"}
    many = {f"zz.field.{i:03d}": i for i in range(500)}  # sorted after the named ones
    root = Span(
        TRACE,
        "1" * 16,
        None,
        "GET /cart",
        "server",
        T0,
        T0 + 9_000_000,
        "error",
        "boom",
        {
            "http.request.method": "GET",
            "http.route": "/cart",
            "code.file.path": "/app/cart.py",
            "code.line.number": 7,
            "http.request.header.authorization": ["Bearer abcdefghijklmnop"],
            "app.tenant": "acme",
            "db.statement": f"SELECT * FROM users WHERE token = '{JWT}' AND note = '" + "x" * 5000 + "'",
            **many,
        },
        resource,
        events=(
            SpanEvent(
                T0 + 1_000,
                "exception",
                {
                    "exception.type": "ValueError",
                    "exception.message": "bad",
                    "exception.stacktrace": "ValueError: bad\n    at f (/app/x.js:1:2)",
                },
            ),
        ),
        links=(SpanLink("d" * 32, "2" * 16, {"why": "retry"}),),
    )
    child = Span(TRACE, "3" * 16, "1" * 16, "work", "internal", T0 + 1_000, T0 + 1_000, resource=resource)
    db = tmp_path / "crafted.db"
    _store_unredacted(db, [root, child])
    return db


async def test_detail_is_bounded_and_every_count_is_true(crafted: Path):
    for budget in (500, 2000, 6000):
        reply = checked(await ask(crafted, "get_span", trace_id=TRACE, span_id="1" * 16, budget_tokens=budget), budget)
        record = reply.data["records"][0]
        assert record["attribute_count"] == 507
        assert 0 < len(record["attributes"]) < 507 and reply.data["truncated"]
        assert len(json.dumps(reply.data)) < 40_000
    statement = next(a for a in record["attributes"] if a["key"] == "db.statement")
    assert statement["cut_from"] > 5000 and f"(cut: {statement['cut_from']:,} chars)" in reply.text
    assert record["code_location"] == "/app/cart.py:7" and "**Code**: `/app/cart.py:7`" in reply.text
    assert reply.data["parent_span_id"] is None and "**Parent**: none (a root span)" in reply.text
    assert reply.data["children"] == 1
    assert record["links"] == [
        {
            "trace_id": "d" * 32,
            "span_id": "2" * 16,
            "stored": False,
            "attributes": [{"key": "why", "value": "retry", "cut_from": None}],
            "attribute_count": 1,
        }
    ]
    assert "not stored here" in reply.text and f"get_span(trace_id='{'d' * 32}'" not in reply.text
    zero = checked(await ask(crafted, "get_span", trace_id=TRACE, span_id="3" * 16))
    assert "instantaneous: its end equals its start" in zero.text


async def test_what_get_span_shows_is_redacted_again_never_wider(crafted: Path):
    [plain, configured] = [
        (await asks(crafted, [("get_span", {"trace_id": TRACE, "span_id": "1" * 16, "budget_tokens": 6000})], **kw))[0]
        for kw in ({}, {"redaction": RedactionRules(mask_keys=frozenset({"tenant"}))})
    ]
    for reply in (plain, configured):
        text = reply.text + json.dumps(reply.data)
        assert JWT[:20] not in text and "abcdefghijklmnop" not in text and "sk_live_resource_secret" not in text
        record = reply.data["records"][0]
        assert {a["key"]: a["value"] for a in record["resource"]}["deployment.api_key"] == "[REDACTED]"
    assert attrs(plain.data["records"][0])["app.tenant"] == "acme"
    assert attrs(configured.data["records"][0])["app.tenant"] == "[REDACTED]"


async def test_unknown_ids_are_tool_errors_that_say_what_to_call(crafted: Path):
    missing = await ask(crafted, "get_span", trace_id=TRACE, span_id="9" * 16)
    assert missing.error and f"get_trace(trace_id='{TRACE}')" in missing.text
    no_trace = await ask(crafted, "get_span", trace_id="e" * 32, span_id="1" * 16)
    assert no_trace.error and "list_traces" in no_trace.text
    bad = await ask(crafted, "get_span", trace_id=TRACE, span_id="not hex")
    assert bad.error and "get_trace" in bad.text


async def test_slow_rows_name_the_call_target_their_fingerprint_leaves_out(tmp_path: Path):
    """Old-convention clients (net.peer.name + http.target) fingerprint as `PUT /k/{id}`: the row says the host."""
    resource = {"service.name": "api"}
    root = Span(TRACE, "1" * 16, None, "GET /x", "server", T0, T0 + 50_000_000, resource=resource)
    calls = [
        (
            "2",
            "PUT",
            "client",
            {"http.method": "PUT", "net.peer.name": "cache", "net.peer.port": 8080, "http.target": "/k/9"},
        ),
        (
            "3",
            "send",
            "producer",
            {"messaging.system": "kafka", "messaging.operation.type": "send", "messaging.destination.name": "orders"},
        ),
        ("4", "call", "client", {"rpc.system": "grpc", "rpc.service": "shop.Cart", "rpc.method": "Get"}),
    ]
    spans = [root] + [
        Span(
            TRACE,
            n * 16,
            "1" * 16,
            name,
            kind,
            T0 + i * 10_000_000,
            T0 + (i + 1) * 10_000_000,  # type: ignore[arg-type]
            attributes=a,
            resource=resource,
        )
        for i, (n, name, kind, a) in enumerate(calls)
    ]
    db = tmp_path / "calls.db"
    _store_unredacted(db, spans)
    expected = ["PUT cache:8080/k/{id}", "kafka send orders", "grpc shop.Cart/Get"]
    for group_by in ("operation", "span"):
        slow = await ask(db, "find_slow_spans", group_by=group_by)
        for text in expected:
            assert f"**Calls**: `{text}`" in slow.text, (group_by, slow.text)
        rows = slow.data["operations"] or slow.data["spans"]
        assert {r["target"] for r in rows} >= set(expected)
    trace = await ask(db, "get_trace", trace_id=TRACE)
    for (n, *_), text in zip(calls, expected, strict=True):
        line = next(ln for ln in trace.text.splitlines() if f"`{n * 16}`" in ln)
        assert text in line, line
