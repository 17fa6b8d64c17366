"""Which variant of the OpenTelemetry Collector clickhouseexporter's tables a cluster holds.

Targets the exporter's templates as stored in November 2026 (opentelemetry-collector-contrib
`exporter/clickhouseexporter/internal/sqltemplates/`, traces_table.sql at commit f92a5763be13,
rendered in tests/data/clickhouse/) and the older layouts still on clusters, read from
`system.columns` rather than assumed:

    attributes     Map(LowCardinality(String), String)   the default
                   JSON (+ *AttributesKeys arrays)       `json: true`
    enum spelling  'Server' / 'Error'                     pdata String() (current)
                   'SPAN_KIND_SERVER' / 'STATUS_CODE_ERROR'  older exporters
    otel_logs      EventName, ScopeAttributes present     current layout; older ones lack them
    lookup table   otel_traces_trace_id_ts                present unless the exporter never made it
    accelerators   McpSessionId / McpFingerprint columns  made by `clickhouse init-accelerators`

The enum spelling is read from the data (one row), since both spellings fit the same column type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

TRACES = "otel_traces"
TRACES_JSON = "otel_traces_json"  # the name the `json: true` templates give the table
LOGS = "otel_logs"
TRACE_ID_TS = "otel_traces_trace_id_ts"
SESSION_COLUMN = "McpSessionId"
FINGERPRINT_COLUMN = "McpFingerprint"

KINDS_SHORT = {
    "unspecified": "Unspecified",
    "internal": "Internal",
    "server": "Server",
    "client": "Client",
    "producer": "Producer",
    "consumer": "Consumer",
}
STATUS_SHORT = {"unset": "Unset", "ok": "Ok", "error": "Error"}


class Client(Protocol):
    """The part of clickhouse-connect's client this package uses (a chdb-backed client has it too)."""

    def query(self, query: str, parameters: dict[str, Any] | None = None) -> Any: ...

    def command(self, cmd: str, parameters: dict[str, Any] | None = None) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Variant:
    """What this cluster's exporter tables look like."""

    database: str
    traces_table: str
    attributes: Literal["map", "json"]
    spelling: Literal["short", "long"]  # 'Server' / 'SPAN_KIND_SERVER'
    has_logs: bool
    logs_event_name: bool
    has_trace_id_ts: bool
    session_column: bool
    fingerprint_column: bool

    def kind(self, kind: str) -> str:
        """The exporter's spelling of one of our span kinds."""
        short = KINDS_SHORT.get(kind, "Unspecified")
        return f"SPAN_KIND_{short.upper()}" if self.spelling == "long" else short

    def status(self, status: str) -> str:
        short = STATUS_SHORT.get(status, "Unset")
        return f"STATUS_CODE_{short.upper()}" if self.spelling == "long" else short

    @property
    def error_status(self) -> str:
        return self.status("error")

    def table(self, name: str) -> str:
        return f"`{self.database}`.`{name}`"


def parse_kind(text: str) -> str:
    """Our span kind from either spelling ('Server', 'SPAN_KIND_SERVER', 'server')."""
    word = text.strip().lower().removeprefix("span_kind_")
    return word if word in KINDS_SHORT else "unspecified"


def parse_status(text: str) -> str:
    word = text.strip().lower().removeprefix("status_code_")
    return word if word in STATUS_SHORT else "unset"


def detect(client: Client, database: str) -> Variant:
    """Read the variant from `system.columns` (and one span for the enum spelling)."""
    rows = client.query(
        "SELECT table, name, type FROM system.columns WHERE database = {db:String} AND table IN {tables:Array(String)}",
        parameters={"db": database, "tables": [TRACES, TRACES_JSON, LOGS, TRACE_ID_TS]},
    ).result_rows
    columns: dict[str, dict[str, str]] = {}
    for table, name, type_ in rows:
        columns.setdefault(table, {})[name] = type_
    traces_table = TRACES if TRACES in columns else TRACES_JSON
    traces = columns.get(traces_table)
    if not traces or not {"TraceId", "SpanId", "ParentSpanId", "Timestamp", "Duration"} <= traces.keys():
        from mcp_sessions.errors import StoreError

        raise StoreError(
            f"no {database}.{TRACES} table of the OpenTelemetry Collector's clickhouseexporter here; "
            "point --store at the database the exporter writes (…/DATABASE in the DSN)"
        )
    attributes: Literal["map", "json"] = "json" if traces.get("SpanAttributes", "").startswith("JSON") else "map"
    sample = client.query(
        f"SELECT SpanKind FROM `{database}`.`{traces_table}` WHERE SpanKind != '' LIMIT 1"
    ).result_rows
    spelling: Literal["short", "long"] = "long" if sample and str(sample[0][0]).startswith("SPAN_KIND_") else "short"
    logs = columns.get(LOGS, {})
    return Variant(
        database=database,
        traces_table=traces_table,
        attributes=attributes,
        spelling=spelling,
        has_logs="Body" in logs and "TraceId" in logs,
        logs_event_name="EventName" in logs,
        has_trace_id_ts=TRACE_ID_TS in columns and traces_table == TRACES,
        session_column=SESSION_COLUMN in traces,
        fingerprint_column=FINGERPRINT_COLUMN in traces,
    )
