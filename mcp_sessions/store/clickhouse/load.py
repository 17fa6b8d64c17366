"""Loading model records into the exporter's tables as the exporter writes them (tests, benchmarks, demos).

`create_tables` runs the exporter's DDL (a file rendered from its templates); `insert` writes
spans and logs row for row as `exporter/clickhouseexporter` does: one otel_traces row per
span (attributes as strings, enums in the variant's spelling), one otel_logs row per record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from mcp_sessions.model import LogRecord, Record, Span
from mcp_sessions.store.clickhouse import rows
from mcp_sessions.store.clickhouse.schema import LOGS, Client, Variant

CHUNK = 20_000


def statements(ddl: str) -> list[str]:
    """The statements of a DDL file, comments dropped."""
    text = re.sub(r"--[^\n]*", "", ddl)
    return [s.strip() for s in text.split(";") if s.strip()]


def create_tables(client: Client, ddl: str, database: str = "otel") -> None:
    """Run the exporter's DDL (written for database `otel`) for `database`."""
    for statement in statements(ddl):
        statement = statement.replace("`otel`.", f"`{database}`.")
        statement = re.sub(
            r"^CREATE DATABASE IF NOT EXISTS otel$", f"CREATE DATABASE IF NOT EXISTS `{database}`", statement
        )
        client.command(statement)


def insert(client: Any, variant: Variant, records: Iterable[Record], *, copies: int = 1) -> tuple[int, int]:
    """Write the spans and logs of `records` (each `copies` times, as a retrying Collector may); counts written."""
    span_rows: list[list[Any]] = []
    log_rows: list[list[Any]] = []
    written = [0, 0]

    def flush() -> None:
        if span_rows:
            client.insert(
                variant.table(variant.traces_table).replace("`", ""),
                span_rows,
                column_names=list(rows.SPAN_INSERT_COLUMNS),
            )
            written[0] += len(span_rows)
            span_rows.clear()
        if log_rows:
            client.insert(variant.table(LOGS).replace("`", ""), log_rows, column_names=list(rows.LOG_INSERT_COLUMNS))
            written[1] += len(log_rows)
            log_rows.clear()

    for record in records:
        if isinstance(record, Span):
            span_rows.extend([rows.span_row(record, variant)] * copies)
        elif isinstance(record, LogRecord):
            log_rows.extend([rows.log_row(record, variant)] * copies)
        if len(span_rows) + len(log_rows) >= CHUNK:
            flush()
    flush()
    return written[0], written[1]
