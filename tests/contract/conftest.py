"""The store contract's fixtures: one corpus of model records, loaded into each store implementation.

A store factory takes the records of several ingests (each a list of model records, as the
parsers yield them) and returns a store holding them that answers the protocol in
store/protocol.py. Another implementation (ClickHouse, a remote Jaeger) adds its factory to
FACTORIES; the tests in this folder run on it unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from mcp_sessions.formats import read_path
from mcp_sessions.model import Event, LogRecord, Record, Span, SpanEvent
from mcp_sessions.store.protocol import SessionStore

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = [
    *sorted((ROOT / "fixtures" / "recordings" / "shop" / "otlp").glob("*.jsonl")),
    *sorted((ROOT / "fixtures" / "recordings-browser" / "shop").rglob("*.*")),
]

Factory = Callable[[Path, Sequence[Sequence[Record]]], SessionStore]

HOSTILE_SESSION = "contract-hostile-1"
HOSTILE_TRACE = "0" * 16 + "00000000000000ab"
T0 = 1_700_000_000_000_000_000


def sqlite_store(folder: Path, ingests: Sequence[Sequence[Record]]) -> SessionStore:
    from mcp_sessions.store import SqliteStore
    from mcp_sessions.store.sqlite.writer import IngestWriter

    store = SqliteStore(folder / "contract.db")
    for n, records in enumerate(ingests):
        with IngestWriter(store.conn, source=f"ingest-{n}", fmt="records", content_hash=f"contract-{n}") as writer:
            writer.add(records)
            writer.finish({})
    return store


def _any_value(value: object) -> dict[str, object]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": _attributes(value)}}
    return {} if value is None else {"stringValue": str(value)}


def _attributes(values: dict) -> list[dict[str, object]]:
    return [{"key": k, "value": _any_value(v)} for k, v in values.items()]


def _otlp_span(span: Span) -> dict[str, object]:
    kinds = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
    statuses = {"unset": 0, "ok": 1, "error": 2}
    out: dict[str, object] = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "kind": kinds[span.kind],
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns),
        "attributes": _attributes(span.attributes),
        "status": {
            "code": statuses[span.status_code],
            **({"message": span.status_message} if span.status_message else {}),
        },
        "events": [
            {"timeUnixNano": str(e.time_ns), "name": e.name, "attributes": _attributes(e.attributes)}
            for e in span.events
        ],
        "links": [
            {"traceId": ln.trace_id, "spanId": ln.span_id, "attributes": _attributes(ln.attributes)}
            for ln in span.links
        ],
    }
    if span.parent_span_id:
        out["parentSpanId"] = span.parent_span_id
    return {
        "resource": {"attributes": _attributes(span.resource)},
        "scopeSpans": [{"scope": {"name": span.scope or ""}, "spans": [out]}],
    }


def jaeger_store(folder: Path, ingests: Sequence[Sequence[Record]]) -> SessionStore:
    """A RemoteStore over a fake Jaeger api_v3 serving the corpus' spans as OTLP/JSON; what a trace source
    does not hold (browser events, log records) is in its cache already, as a local ingest would leave it."""
    import json

    import httpx

    from mcp_sessions.store.remote import RemoteStore, parse_dsn
    from mcp_sessions.store.sqlite.writer import IngestWriter

    spans = [r for records in ingests for r in records if isinstance(r, Span)]
    by_trace: dict[str, list[Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)

    def answer(request: httpx.Request) -> httpx.Response:
        path, q = request.url.path, request.url.params
        if path == "/api/v3/services":
            return httpx.Response(200, json={"services": sorted({s.service or "" for s in spans} - {""})})
        if path.startswith("/api/v3/traces/"):
            found = by_trace.get(path.rsplit("/", 1)[1])
            if not found:
                return httpx.Response(404, json={"error": {"httpCode": 404, "message": "trace not found"}})
            return httpx.Response(200, json={"result": {"resourceSpans": [_otlp_span(s) for s in found]}})
        chosen = [
            s for group in by_trace.values() if any(x.service == q["query.service_name"] for x in group) for s in group
        ]
        return httpx.Response(200, text=json.dumps({"result": {"resourceSpans": [_otlp_span(s) for s in chosen]}}))

    config = parse_dsn(
        f"jaeger+http://contract.test:1?limit=1000&window=3650d&lookback=3650d&ttl=1d&cache={folder / 'cache.db'}"
    )
    store = RemoteStore(config, transport=httpx.MockTransport(answer))
    for n, records in enumerate(ingests):
        rest = [r for r in records if not isinstance(r, Span)]
        with IngestWriter(
            store.cache.conn, source=f"ingest-{n}", fmt="records", content_hash=f"contract-{n}"
        ) as writer:
            writer.add(rest)
            writer.finish({})
    return store


def clickhouse_store(folder: Path, ingests: Sequence[Sequence[Record]], **variant: bool) -> SessionStore:
    """Spans and logs in chdb as the clickhouseexporter writes them (twice: Collector retries), browser events local."""
    from mcp_sessions.store.clickhouse import open_clickhouse
    from tests import clickhouse_support

    database = "contract_" + "_".join(sorted(k for k, on in variant.items() if on) or ["map"])
    dsn = clickhouse_support.load_cluster(ingests, database, **variant)
    cache = folder / "cache.db"
    clickhouse_support.load_local_browser(cache, ingests)
    return open_clickhouse(dsn, cache)  # type: ignore[no-any-return]


FACTORIES: dict[str, Factory] = {"sqlite": sqlite_store, "jaeger": jaeger_store}
# chdb is in the [clickhouse] extra; where a skip is a failure (CI), the ClickHouse rows always run
if __import__("tests.clickhouse_support").clickhouse_support.available() or os.environ.get("MCP_SESSIONS_NO_SKIP"):
    FACTORIES["clickhouse"] = clickhouse_store
    FACTORIES["clickhouse-json-long"] = lambda folder, ingests: clickhouse_store(
        folder, ingests, json=True, long_names=True
    )


def hostile() -> list[Record]:
    """A session that is not our demo shop's: failures of every browser kind, odd text, a padded id."""
    resource = {"service.name": "elsewhere"}
    root = Span(
        HOSTILE_TRACE,
        "00000000000000a1",
        None,
        "GET /wéird/{id}",
        "server",
        T0,
        T0 + 5_000_000,
        "error",
        "boom",
        {"session.id": HOSTILE_SESSION, "http.request.method": "GET", "http.route": "/wéird/{id}"},
        resource,
        events=(SpanEvent(T0 + 1_000_000, "exception", {"exception.type": "KeyError", "exception.message": "x"}),),
    )
    child = Span(
        HOSTILE_TRACE,
        "00000000000000a2",
        "00000000000000a1",
        "SELECT",
        "client",
        T0 + 1_000_000,
        T0 + 4_000_000,
        attributes={"db.system": "postgresql", "db.statement": "SELECT * FROM t WHERE id = 42"},
        resource=resource,
    )
    base = {"source": "har", "session_key": HOSTILE_SESSION}
    events = [
        Event(
            seq=1, time_ns=T0 - 1_000_000, kind="navigation", summary="navigate /start", url="https://x/start", **base
        ),
        Event(seq=2, time_ns=T0 - 500_000, kind="click", summary='click "Go"', target="button", **base),
        Event(
            seq=3,
            time_ns=T0,
            kind="network",
            summary="GET /wéird/1 → 500",
            url="https://x/w%C3%A9ird/1",
            method="GET",
            status=500,
            duration_ns=6_000_000,
            trace_id=HOSTILE_TRACE,
            **base,
        ),
        Event(
            seq=4,
            time_ns=T0 + 7_000_000,
            kind="network",
            summary="GET /missing → 404",
            url="https://x/missing",
            method="GET",
            status=404,
            duration_ns=1_000_000,
            **base,
        ),
        Event(
            seq=5,
            time_ns=T0 + 8_000_000,
            kind="network",
            summary="failed: net::ERR_CONNECTION_REFUSED",
            url="https://x/down",
            method="POST",
            detail={"error": "net::ERR_CONNECTION_REFUSED"},
            **base,
        ),
        Event(seq=6, time_ns=T0 + 9_000_000, kind="console", summary="TypeError: undefined", level="error", **base),
        Event(seq=7, time_ns=None, kind="custom", summary="no clock", **base),
    ]
    log = LogRecord(
        T0 + 2_000_000,
        None,
        17,
        "ERROR",
        "it broke",
        resource=resource,
        trace_id=HOSTILE_TRACE,
        span_id="00000000000000a1",
    )
    return [root, child, *events, log]


def corpus() -> list[list[Record]]:
    ingests = []
    for path in RECORDINGS:
        with read_path(path) as parsed:
            ingests.append(list(parsed.records))
    return [*ingests, hostile()]


@pytest.fixture(scope="session", params=sorted(FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionStore]:
    made = FACTORIES[request.param](tmp_path_factory.mktemp(f"contract-{request.param}"), corpus())
    yield made
    close = getattr(made, "close", None)
    if close is not None:
        close()
