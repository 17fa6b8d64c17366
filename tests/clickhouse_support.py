"""chdb (the ClickHouse engine in-process) loaded with our records as the clickhouseexporter writes them.

chdb runs one engine directory per process, so every test shares CHDB_DIR and keeps to its
own database in it. The DDL files are the exporter's (tests/data/clickhouse/SOURCES.md).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from mcp_sessions.model import Event, LogRecord, Record, SkippedRecords, Span
from mcp_sessions.store.clickhouse import load
from mcp_sessions.store.clickhouse.schema import Variant

DDL = Path(__file__).resolve().parent / "data" / "clickhouse"
CHDB_DIR = Path(tempfile.mkdtemp(prefix="mcp-sessions-chdb-"))
DSN_ROOT = f"clickhouse+chdb://{CHDB_DIR}"


def available() -> bool:
    try:
        import chdb  # noqa: F401
        import clickhouse_connect  # noqa: F401
    except ImportError:
        return False
    return True


def client():  # type: ignore[no-untyped-def]
    import clickhouse_connect

    return clickhouse_connect.get_client(dsn=f"chdb://{CHDB_DIR}")


def variant(database: str, *, json: bool = False, long_names: bool = False) -> Variant:
    table = "otel_traces_json" if json else "otel_traces"
    return Variant(
        database,
        table,
        "json" if json else "map",
        "long" if long_names else "short",
        True,
        True,
        not json,
        False,
        False,
    )


def load_cluster(
    ingests: Sequence[Sequence[Record]], database: str, *, json: bool = False, long_names: bool = False, copies: int = 2
) -> str:
    """Spans and logs of `ingests` into `database` (each row `copies` times, as Collector retries write it); its DSN."""
    ddl = (DDL / "otel-exporter-ddl.sql").read_text()
    if json:  # the JSON templates make the traces table only; otel_logs stays as it is
        logs = [s for s in load.statements(ddl) if "otel_logs" in s]
        ddl = (DDL / "otel-exporter-ddl-json.sql").read_text() + ";\n" + ";\n".join(logs)
    c = client()
    try:
        c.command(f"DROP DATABASE IF EXISTS `{database}`")
        load.create_tables(c, ddl, database)
        load.insert(
            c, variant(database, json=json, long_names=long_names), [r for i in ingests for r in i], copies=copies
        )
    finally:
        c.close()
    return f"{DSN_ROOT}?database={database}"


def load_local_browser(cache: Path, ingests: Sequence[Sequence[Record]]) -> None:
    """The browser side (events) into the local file, as `ingest` of those recordings would."""
    from mcp_sessions.store import SqliteStore
    from mcp_sessions.store.sqlite.writer import IngestWriter

    store = SqliteStore(cache)
    try:
        for n, records in enumerate(ingests):
            browser = [r for r in records if not isinstance(r, Span | LogRecord | SkippedRecords)]
            if not any(isinstance(r, Event) for r in browser):
                continue
            with IngestWriter(store.conn, source=f"browser-{n}", fmt="records", content_hash=f"browser-{n}") as writer:
                writer.add(browser)
                writer.finish({})
    finally:
        store.close()
