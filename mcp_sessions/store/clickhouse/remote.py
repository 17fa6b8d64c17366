"""The questions put to the cluster, each one SQL statement with server-side parameters.

Values never enter the SQL text: they travel as `{name:Type}` parameters, which
clickhouse-connect sends beside the query (HTTP `param_name=`) and chdb binds the same way.
Only identifiers (the database and table names detected in schema.py) are written into it.

    which traces      trace_ids(scope)      GROUP BY TraceId over the window, newest first, bounded
                      session_trace_ids     spans or resources carrying the session key (or the
                                            McpSessions accelerator table when it exists)
    what they hold    spans(trace_ids)      every row of those traces, time-bounded by the
                                            otel_traces_trace_id_ts lookup table when present
                      logs(trace_ids)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mcp_sessions.config import SESSION_BAGGAGE_KEYS, SESSION_HEADERS, SESSION_KEYS
from mcp_sessions.errors import StoreError
from mcp_sessions.model import LogRecord, Span
from mcp_sessions.store.clickhouse import rows
from mcp_sessions.store.clickhouse.schema import LOGS, SESSION_COLUMN, TRACE_ID_TS, Client, Variant

log = logging.getLogger(__name__)

SESSIONS_TABLE = "otel_mcp_sessions"
BATCH = 500  # trace ids per statement
NS = 1_000_000_000

HEADER_KEYS = tuple(
    dict.fromkeys(
        f"http.request.header.{spelling}"
        for name in SESSION_HEADERS
        if name != "baggage"
        for spelling in (name, name.replace("-", "_"))
    )
)
BAGGAGE_KEY = "http.request.header.baggage"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Window:
    """Which traces an all-data question is about: a time window, a service, a route."""

    since_ns: int | None = None
    until_ns: int | None = None
    service: str | None = None
    route: str | None = None


class Remote:
    """The exporter's tables on one cluster, asked through one client."""

    def __init__(self, client: Client, variant: Variant, *, has_sessions_table: bool = False) -> None:
        self.client = client
        self.variant = variant
        self.has_sessions_table = has_sessions_table
        self.statements = 0  # how many statements this store has sent (the benchmark reads it)

    def _rows(self, sql: str, parameters: dict[str, Any]) -> list[Sequence[Any]]:
        self.statements += 1
        try:
            return list(self.client.query(sql, parameters=parameters).result_rows)
        except Exception as exc:  # the driver's errors (network, server, auth) never reach the agent
            log.warning("ClickHouse query failed: %s", exc)
            raise StoreError(
                "the ClickHouse cluster could not answer (unreachable, overloaded or refusing this user); retry later"
            ) from exc

    # ---- which traces ----

    def trace_ids(self, window: Window, limit: int) -> tuple[list[str], int]:
        """The newest `limit` traces with a span in `window`, and how many there are in all."""
        where, params = self._window(window)
        sql = (
            "SELECT TraceId, min(Timestamp) AS first, count() OVER () AS total "
            f"FROM {self.variant.table(self.variant.traces_table)} WHERE {where} "
            "GROUP BY TraceId ORDER BY first DESC, TraceId LIMIT {limit:UInt32}"
        )
        found = self._rows(sql, {**params, "limit": limit})
        return [str(r[0]).lower() for r in found], int(found[0][2]) if found else 0

    def failing_trace_ids(self, window: Window, limit: int) -> list[str]:
        """Traces with a failed span (error status or an exception event) in `window`, newest first."""
        where, params = self._window(window)
        sql = (
            f"SELECT TraceId, min(Timestamp) AS first FROM {self.variant.table(self.variant.traces_table)} "
            f"WHERE {where} AND (StatusCode = {{error:String}} OR has(`Events.Name`, 'exception')) "
            "GROUP BY TraceId ORDER BY first DESC, TraceId LIMIT {limit:UInt32}"
        )
        return [
            str(r[0]).lower() for r in self._rows(sql, {**params, "error": self.variant.error_status, "limit": limit})
        ]

    def loop_trace_ids(self, window: Window, repeats: int, limit: int) -> list[str]:
        """Traces where one parent has `repeats` or more children of one service in `window`: every trace an
        N+1 can be found in (the detector needs that many calls of one operation under one parent)."""
        where, params = self._window(window)
        sql = (
            "SELECT TraceId, min(first) AS start FROM (SELECT TraceId, min(Timestamp) AS first "
            f"FROM {self.variant.table(self.variant.traces_table)} WHERE {where} AND ParentSpanId != '' "
            "GROUP BY TraceId, ParentSpanId, ServiceName HAVING count() >= {repeats:UInt32}) "
            "GROUP BY TraceId ORDER BY start DESC, TraceId LIMIT {limit:UInt32}"
        )
        found = self._rows(sql, {**params, "repeats": repeats, "limit": limit})
        return [str(r[0]).lower() for r in found]

    def error_logs(self, window: Window, limit: int) -> list[LogRecord]:
        """Log records of ERROR severity or worse in `window` (with or without a trace), newest first."""
        if not self.variant.has_logs:
            return []
        clauses = ["SeverityNumber >= 17"]
        params: dict[str, Any] = {"limit": limit}
        if window.since_ns is not None:
            clauses.append("Timestamp >= fromUnixTimestamp64Nano({since:Int64})")
            params["since"] = window.since_ns
        _until_and_service(window, clauses, params)
        columns = rows.select_list(rows.LOG_COLUMNS, self.variant)
        sql = (
            f"SELECT {columns} FROM {self.variant.table(LOGS)} WHERE {' AND '.join(clauses)} "
            "ORDER BY Timestamp DESC LIMIT {limit:UInt32}"
        )
        return rows.unique_logs(rows.log_of(r) for r in self._rows(sql, params))

    def _window(self, window: Window) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = ["TraceId != ''"]
        params: dict[str, Any] = {}
        if window.since_ns is not None:
            # A span overlaps the window when it ends after its start (the SQLite scope's rule); the
            # bound on Timestamp, an hour earlier, lets the primary key skip older parts.
            clauses.append("Timestamp >= fromUnixTimestamp64Nano({slack:Int64})")
            clauses.append("toUnixTimestamp64Nano(Timestamp) + Duration >= {since:Int64}")
            params["slack"] = window.since_ns - 3600 * NS
            params["since"] = window.since_ns
        _until_and_service(window, clauses, params)
        if window.route is not None:
            clauses.append(f"{self.attr('SpanAttributes', 'http.route')} = {{route:String}}")
            params["route"] = window.route
        return " AND ".join(clauses), params

    def attr(self, column: str, key: str) -> str:
        """One attribute's value as a String expression (the key is one of ours, quoted as a literal)."""
        literal = "'" + key.replace("\\", "\\\\").replace("'", "\\'") + "'"
        if self.variant.attributes == "json":
            path = "`" + key.replace("`", "") + "`"
            return f"toString({column}.{path})"
        return f"{column}[{literal}]"

    def session_trace_ids(self, session_id: str) -> list[str]:
        """Traces a span or resource of which carries this session key (a superset: our derivation decides)."""
        table = self.variant.table
        if self.has_sessions_table:
            sql = f"SELECT DISTINCT TraceId FROM {table(SESSIONS_TABLE)} WHERE SessionId = {{sid:String}}"
        elif self.variant.session_column:
            sql = f"SELECT DISTINCT TraceId FROM {table(self.variant.traces_table)} WHERE McpSessionId = {{sid:String}}"
        elif self.variant.attributes == "json":
            sql = (
                f"SELECT DISTINCT TraceId FROM {table(self.variant.traces_table)} "
                "WHERE position(toJSONString(SpanAttributes), {sid:String}) > 0 "
                "OR position(toJSONString(ResourceAttributes), {sid:String}) > 0"
            )
        else:
            sql = (
                f"SELECT DISTINCT TraceId FROM {table(self.variant.traces_table)} WHERE "
                "arrayExists(k -> SpanAttributes[k] = {sid:String}, {keys:Array(String)}) "
                "OR arrayExists(k -> ResourceAttributes[k] = {sid:String}, {keys:Array(String)}) "
                "OR arrayExists(k -> position(SpanAttributes[k], {sid:String}) > 0, {headers:Array(String)})"
            )
        params = {"sid": session_id, "keys": list(SESSION_KEYS), "headers": [*HEADER_KEYS, BAGGAGE_KEY]}
        return [str(r[0]).lower() for r in self._rows(sql, params) if r[0]]

    def session_expression(self) -> str:
        """The span's session key: the accelerator's column when it exists, else `session_key_sql()`."""
        return SESSION_COLUMN if self.variant.session_column else self.session_key_sql()

    def session_key_sql(self) -> str:
        """The span's session key as one SQL expression over its row, in semconv.session_key's order of trust
        (the span's own key, its recorded baggage, its recorded session header, then its resource's)."""
        span = [self.attr("SpanAttributes", k) for k in SESSION_KEYS]
        baggage = self.attr("SpanAttributes", BAGGAGE_KEY)
        from_baggage = []
        for key in SESSION_BAGGAGE_KEYS:
            pattern = r"(?:^|[,\s\[\"])" + key.replace(".", r"\.") + r"=([^,;\"\]\s]+)"
            from_baggage.append(f"extract({baggage}, {_literal(pattern)})")
        # a recorded header is a list (`["abc"]` once the exporter has written it as a string)
        unwrap = _literal(r'^\["|"\]$')
        headers = [f"replaceRegexpAll({self.attr('SpanAttributes', k)}, {unwrap}, '')" for k in HEADER_KEYS]
        resource = [self.attr("ResourceAttributes", k) for k in SESSION_KEYS]
        values = ", ".join([*span, *from_baggage, *headers, *resource, "''"])
        return f"arrayFirst(v -> v != '', [{values}])"

    def recent_sessions(self, until_ns: int, lookback_ns: int, limit: int) -> list[str]:
        """The `limit` sessions whose first span is latest but no later than `until_ns`, within the lookback."""
        params = {"since": until_ns - lookback_ns, "until": until_ns, "limit": limit}
        if self.has_sessions_table:
            sql = (
                f"SELECT SessionId, min(Start) AS first FROM {self.variant.table(SESSIONS_TABLE)} GROUP BY SessionId "
                "HAVING first <= toDateTime(intDiv({until:Int64}, 1000000000)) "
                "AND first >= toDateTime(intDiv({since:Int64}, 1000000000)) "
                "ORDER BY first DESC, SessionId LIMIT {limit:UInt32}"
            )
        else:
            sql = (
                f"SELECT sid, min(Timestamp) AS first FROM (SELECT {self.session_expression()} AS sid, Timestamp "
                f"FROM {self.variant.table(self.variant.traces_table)} "
                "WHERE Timestamp >= fromUnixTimestamp64Nano({since:Int64}) "
                "AND Timestamp <= fromUnixTimestamp64Nano({until:Int64})) "
                "WHERE sid != '' GROUP BY sid ORDER BY first DESC, sid LIMIT {limit:UInt32}"
            )
        return [str(r[0]) for r in self._rows(sql, params)]

    def sessions_trace_ids(self, session_ids: Sequence[str], since_ns: int) -> list[str]:
        """The traces of these sessions (their spans from `since_ns` on), in one statement."""
        if not session_ids:
            return []
        params: dict[str, Any] = {"sids": list(session_ids), "since": since_ns}
        if self.has_sessions_table:
            table = self.variant.table(SESSIONS_TABLE)
            sql = f"SELECT DISTINCT TraceId FROM {table} WHERE SessionId IN {{sids:Array(String)}}"
        else:
            sql = (
                f"SELECT DISTINCT TraceId FROM {self.variant.table(self.variant.traces_table)} "
                f"WHERE Timestamp >= fromUnixTimestamp64Nano({{since:Int64}}) "
                f"AND {self.session_expression()} IN {{sids:Array(String)}}"
            )
        return [str(r[0]).lower() for r in self._rows(sql, params) if r[0]]

    def server_traces_started_in(self, intervals: Sequence[tuple[int, int]], limit: int) -> list[str]:
        """Traces with a server span starting in one of these [from, to] nanosecond intervals: the traces a
        recorded request without a trace header may have caused (the SQLite store links them by time window)."""
        out: list[str] = []
        table = self.variant.table(self.variant.traces_table)
        for start in range(0, len(intervals), BATCH):
            part = sorted(intervals[start : start + BATCH])
            sql = (
                f"SELECT DISTINCT TraceId FROM {table} WHERE SpanKind = {{server:String}} "
                "AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) "
                "AND Timestamp <= fromUnixTimestamp64Nano({hi:Int64}) "
                "AND arrayExists((l, h) -> toUnixTimestamp64Nano(Timestamp) BETWEEN l AND h, "
                "{los:Array(Int64)}, {his:Array(Int64)}) LIMIT {limit:UInt32}"
            )
            params = {
                "server": self.variant.kind("server"),
                "lo": min(lo for lo, _ in part),
                "hi": max(hi for _, hi in part),
                "los": [lo for lo, _ in part],
                "his": [hi for _, hi in part],
                "limit": limit,
            }
            out += [str(r[0]).lower() for r in self._rows(sql, params)]
        return out

    # ---- what they hold ----

    def _bounds(self, ids: Sequence[str]) -> tuple[int, int] | None:
        """The time span of these traces from the lookup table (whole seconds), or None without it."""
        if not self.variant.has_trace_id_ts:
            return None
        sql = (
            "SELECT toUnixTimestamp(min(Start)), toUnixTimestamp(max(End)), count() "
            f"FROM {self.variant.table(TRACE_ID_TS)} WHERE TraceId IN {{ids:Array(String)}}"
        )
        found = self._rows(sql, {"ids": list(ids)})
        if not found or not found[0][2]:
            return None
        return int(found[0][0]) * NS, (int(found[0][1]) + 1) * NS

    def spans(self, trace_ids: Sequence[str]) -> list[Span]:
        """Every span of these traces, each once."""
        out: list[Span] = []
        columns = rows.select_list(rows.SPAN_COLUMNS, self.variant)
        for start in range(0, len(trace_ids), BATCH):
            ids = list(trace_ids[start : start + BATCH])
            table = self.variant.table(self.variant.traces_table)
            sql = f"SELECT {columns} FROM {table} WHERE TraceId IN {{ids:Array(String)}}"
            params: dict[str, Any] = {"ids": ids}
            bounds = self._bounds(ids)
            if bounds is not None:
                sql += (
                    " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64})"
                    " AND Timestamp < fromUnixTimestamp64Nano({hi:Int64})"
                )
                params |= {"lo": bounds[0], "hi": bounds[1]}
            out += (rows.span_of(r) for r in self._rows(sql, params))
        return rows.unique_spans(out)

    def logs(self, trace_ids: Sequence[str]) -> list[LogRecord]:
        if not self.variant.has_logs:
            return []
        out: list[LogRecord] = []
        columns = rows.select_list(rows.LOG_COLUMNS, self.variant)
        for start in range(0, len(trace_ids), BATCH):
            sql = f"SELECT {columns} FROM {self.variant.table(LOGS)} WHERE TraceId IN {{ids:Array(String)}}"
            out += (rows.log_of(r) for r in self._rows(sql, {"ids": list(trace_ids[start : start + BATCH])}))
        return rows.unique_logs(out)


def _until_and_service(window: Window, clauses: list[str], params: dict[str, Any]) -> None:
    """The window's end and service as clauses on a spans or logs table (both have Timestamp and ServiceName)."""
    if window.until_ns is not None:
        clauses.append("Timestamp <= fromUnixTimestamp64Nano({until:Int64})")
        params["until"] = window.until_ns
    if window.service is not None:
        clauses.append("ServiceName = {service:String}")
        params["service"] = window.service
