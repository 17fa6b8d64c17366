"""Recordings the view tests draw: the demo shop's, a 5,000-span SDK trace, and a hostile copy of a session.

The hostile copy is the failing-coupon session (its rrweb recording and its OTLP export) with
markup and script put into every recorded string a view shows: span names, services, routes,
URLs, statements, exception and status messages, the page's text (button labels), console
messages, and request and page URLs. Ids and timestamps are left alone, so it links exactly as
the original does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp_sessions.ingest import ingest_paths
from mcp_sessions.store import Store

ROOT = Path(__file__).resolve().parents[2]
# The demo shop's sessions the views are checked on: the N+1 checkout and its baseline, the slow
# payment, the failing coupon (each its OTLP export, rrweb recording and HAR).
SCENARIOS = ("n-plus-one", "baseline", "slow-payment", "server-error")
SHOP = [
    path
    for name in SCENARIOS
    for path in (
        ROOT / "fixtures" / "recordings" / "shop" / "otlp" / f"{name}.jsonl",
        ROOT / "fixtures" / "recordings-browser" / "shop" / "rrweb" / f"{name}.json",
        ROOT / "fixtures" / "recordings-browser" / "shop" / "har" / f"{name}.har",
    )
]
EXPECTED = {p.stem: json.loads(p.read_text()) for p in (ROOT / "fixtures" / "expected").glob("*.json")}

# Markup and script, each of which runs or makes an element if a view ever parses recorded text as HTML.
PAYLOAD = (
    '<img src=x onerror="window.__pwned=1;parent.__pwned=1"><script>window.__pwned=1</script>'
    '<b id="pwn">bold</b><svg onload="window.__pwned=1"></svg>"\'></textarea></script><!-- {{7*7}}'
)
# In a URL the payload has to survive URL parsing: no spaces or quotes.
URL_PAYLOAD = "<img/src=x/onerror=window.__pwned=1><script>window.__pwned=1</script>"
SPAN_KEYS = {"http.route", "url.full", "http.url", "http.target", "db.statement", "db.query.text", "exception.message"}


def ingest(db: Path, paths: list[Path]) -> Path:
    with Store(db) as store:
        results = list(ingest_paths(store, [str(p) for p in paths]))
    assert all(r.status in ("stored", "unchanged") for r in results), [(r.source, r.error) for r in results]
    return db


def sample_traces(samples: Path) -> list[Path]:
    return [samples / kind for kind in ("otlp", "jaeger", "zipkin")]


def session_of(scenario: str) -> str:
    return EXPECTED[scenario]["sessions"][0]["session_id"]


def _walk(value: Any, visit: Callable[[str | None, Any], Any], key: str | None = None) -> Any:
    value = visit(key, value)
    if isinstance(value, dict):
        return {k: _walk(v, visit, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, visit, key) for v in value]
    return value


def _poison_otlp(key: str | None, value: Any) -> Any:
    if isinstance(value, dict) and isinstance(value.get("key"), str) and isinstance(value.get("value"), dict):
        text = value["value"].get("stringValue")
        if text is not None and (value["key"] in SPAN_KEYS or value["key"] == "service.name"):
            return {**value, "value": {"stringValue": f"{text} {PAYLOAD}"}}
    if key in ("spans",) and isinstance(value, list):
        return [
            {**s, "name": f"{s['name']} {PAYLOAD}", "status": {**s.get("status", {}), "message": PAYLOAD}}
            if s.get("status", {}).get("code") in (2, "STATUS_CODE_ERROR")
            else {**s, "name": f"{s['name']} {PAYLOAD}"}
            for s in value
        ]
    return value


def _poison_rrweb(key: str | None, value: Any) -> Any:
    if key == "textContent" and isinstance(value, str) and value.strip():
        return f"{value} {PAYLOAD}"
    if key in ("href", "name") and isinstance(value, str) and value.startswith("http"):
        return f"{value}?q={URL_PAYLOAD}"
    if key == "payload" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [json.dumps(PAYLOAD) for _ in value]
    return value


def hostile_session(directory: Path) -> list[Path]:
    """The failing-coupon session with markup in every recorded string; returns its two files."""
    directory.mkdir(parents=True, exist_ok=True)
    otlp_source = ROOT / "fixtures" / "recordings" / "shop" / "otlp" / "server-error.jsonl"
    lines = [json.loads(line) for line in otlp_source.read_text().splitlines() if line.strip()]
    otlp = directory / "hostile.jsonl"
    otlp.write_text("\n".join(json.dumps(_walk(line, _poison_otlp)) for line in lines) + "\n")
    rrweb_source = ROOT / "fixtures" / "recordings-browser" / "shop" / "rrweb" / "server-error.json"
    rrweb = directory / "hostile-rrweb.json"
    rrweb.write_text(json.dumps(_walk(json.loads(rrweb_source.read_text()), _poison_rrweb)))
    return [otlp, rrweb]


def big_trace(path: Path, handlers: int = 50, queries: int = 99) -> Path:
    """One trace of 1 + handlers × (1 + queries) spans made by the real OTel SDK at set times: under the
    root, `handlers` spans one after another, each running `queries` serial queries (an N+1 loop each);
    every tenth handler's eighth query fails."""
    from google.protobuf.json_format import MessageToJson
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "catalog"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.apps")
    ms = 1_000_000
    t = t0 = 1_700_000_000_000_000_000
    root = tracer.start_span("GET /catalog", kind=SpanKind.SERVER, start_time=t0, attributes={"http.route": "/catalog"})
    for h in range(handlers):
        handler = tracer.start_span(f"render section {h}", context=set_span_in_context(root), start_time=t)
        for q in range(queries):
            query = tracer.start_span(
                "SELECT",
                context=set_span_in_context(handler),
                kind=SpanKind.CLIENT,
                start_time=t,
                attributes={"db.system": "postgresql", "db.statement": f"SELECT * FROM items WHERE id = {q}"},
            )
            t += ms // 10
            if q == 7 and h % 10 == 0:
                query.set_status(Status(StatusCode.ERROR, "deadlock detected"))
            query.end(end_time=t)
        handler.end(end_time=t)
    root.end(end_time=t + ms)
    provider.shutdown()
    path.write_text(MessageToJson(encode_spans(list(exporter.get_finished_spans()))))
    return path


def timing_trace(path: Path) -> Path:
    """One trace made by the real OTel SDK whose spans each carry one timing mark, then exported as
    OTLP JSON: under a 10 ms root, a gRPC stream `WatchQuotes` open for 5 s, a client call that ran
    30 ms past the root's answer, and a client call whose end was never recorded (its end is zeroed in
    the export, as an exporter flushing a span still open writes it) with a 40 ms child."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, set_span_in_context

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "quotes"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.apps")
    ms = 1_000_000
    t0 = 1_700_000_000_000_000_000
    root = tracer.start_span("GET /quotes", kind=SpanKind.SERVER, start_time=t0, attributes={"http.route": "/quotes"})
    under = set_span_in_context(root)
    stream = tracer.start_span(
        "quotes.Feed/WatchQuotes",
        context=under,
        kind=SpanKind.CLIENT,
        start_time=t0 + ms,
        attributes={"rpc.system": "grpc", "rpc.service": "quotes.Feed", "rpc.method": "WatchQuotes"},
    )
    late = tracer.start_span("POST /audit", context=under, kind=SpanKind.CLIENT, start_time=t0 + 5 * ms)
    open_call = tracer.start_span("GET /prices", context=under, kind=SpanKind.CLIENT, start_time=t0 + 2 * ms)
    child = tracer.start_span("SELECT prices", context=set_span_in_context(open_call), start_time=t0 + 3 * ms)
    child.end(end_time=t0 + 43 * ms)
    open_call.end(end_time=t0 + 44 * ms)
    late.end(end_time=t0 + 40 * ms)
    root.end(end_time=t0 + 10 * ms)
    stream.end(end_time=t0 + 5_000 * ms)
    provider.shutdown()
    exported = MessageToDict(encode_spans(list(exporter.get_finished_spans())))
    for resource in exported["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                if span["name"] == "GET /prices":
                    span["endTimeUnixNano"] = "0"
    path.write_text(json.dumps(exported))
    return path
