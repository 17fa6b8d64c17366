"""The store contract's fixtures: one corpus of model records, loaded into each store implementation.

A store factory takes the records of several ingests (each a list of model records, as the
parsers yield them) and returns a store holding them that answers the protocol in
store/protocol.py. Another implementation (ClickHouse, a remote Jaeger) adds its factory to
FACTORIES; the tests in this folder run on it unchanged.
"""

from __future__ import annotations

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


def clickhouse_store(folder: Path, ingests: Sequence[Sequence[Record]], **variant: bool) -> SessionStore:
    """Spans and logs in chdb as the clickhouseexporter writes them (twice: Collector retries), browser events local."""
    from mcp_sessions.store.clickhouse import open_clickhouse
    from tests import clickhouse_support

    database = "contract_" + "_".join(sorted(k for k, on in variant.items() if on) or ["map"])
    dsn = clickhouse_support.load_cluster(ingests, database, **variant)
    cache = folder / "cache.db"
    clickhouse_support.load_local_browser(cache, ingests)
    return open_clickhouse(dsn, cache)  # type: ignore[no-any-return]


FACTORIES: dict[str, Factory] = {"sqlite": sqlite_store}
if __import__("tests.clickhouse_support").clickhouse_support.available():
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
