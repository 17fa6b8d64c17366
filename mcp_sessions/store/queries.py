"""Read queries: every SELECT the tools and the CLI make.

List queries page with keyset cursors: the cursor carries the last row's sort value and
id, so pages stay stable while new data arrives. Filters are built from fixed SQL
fragments with bound parameters only. Every sort order and filter of a list has an index
or a kept table (schema 4: trace_services, trace_search, session_search; see
store/summaries.py), so a page and its exact total cost index ranges, not a read of every
trace.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import orjson

from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.model import Event, SessionSummary, Span, SpanEvent, SpanLink, TraceSummary

SessionSort = Literal["recent", "oldest", "slowest", "errors", "largest"]
TraceSort = Literal["recent", "oldest", "slowest", "errors", "largest"]

# sort name → (SQL expression, descending?)
_SESSION_SORTS: dict[str, tuple[str, bool]] = {
    "recent": ("start_ns", True),
    "oldest": ("start_ns", False),
    "slowest": ("duration_ns", True),
    "errors": ("error_count", True),
    "largest": ("span_count", True),
}
_TRACE_SORTS = _SESSION_SORTS  # same columns on both tables


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: the rows, how many match in all, and the cursor for the next page."""

    rows: list[T]
    total: int
    next_cursor: str | None


@dataclass(frozen=True)
class SessionFilter:
    text: str | None = None
    service: str | None = None
    user_id: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    has_errors: bool | None = None
    min_duration_ns: int | None = None


@dataclass(frozen=True)
class TraceFilter:
    session_id: str | None = None
    unsessioned: bool = False
    text: str | None = None
    service: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    has_errors: bool | None = None
    min_duration_ns: int | None = None


def cursor_after(sort: str, row: SessionSummary | TraceSummary) -> str:
    """The cursor that continues a list right after `row` (for pages cut short by a text budget)."""
    column = _SESSION_SORTS[sort][0]
    key = row.session_id if isinstance(row, SessionSummary) else row.trace_id
    return encode_cursor(sort, getattr(row, column), key)


def encode_cursor(sort: str, value: Any, key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort, value, key])).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, key = orjson.loads(raw)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidArgumentError(
            "cursor is not one this server issued; repeat the call without a cursor to start over"
        ) from None
    if cursor_sort != sort:
        raise InvalidArgumentError(
            f"cursor belongs to sort={cursor_sort!r}, not {sort!r}; pass the same sort as the first call"
        )
    return value, str(key)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _keyset(
    sort_sql: str,
    descending: bool,
    key_column: str,
    cursor: tuple[Any, str] | None,
    where: list[str],
    params: list[Any],
) -> str:
    op = "<" if descending else ">"
    if cursor is not None:  # a row value, so the sort order's index seeks straight to the next page
        value, key = cursor
        where.append(f"({sort_sql}, {key_column}) {op} (?, ?)")
        params.extend([value, key])
    direction = "DESC" if descending else "ASC"
    return f"ORDER BY {sort_sql} {direction}, {key_column} {direction}"


# A membership filter (free text, a trace's services) matching at most this many rows is handed to
# SQL as a list of ids; one matching more is checked row by row while the sort order's index is
# walked, which reaches a page after a few rows when matches are that common.
LISTED_MATCHES = 20_000


@dataclass
class _Filter:
    """A list's WHERE clauses with their parameters, and a cheaper way to count when there is one."""

    where: list[str]
    params: list[Any]
    count_sql: str | None = None  # counts all matches straight from a kept table
    count_params: tuple[Any, ...] = ()

    def match(
        self, conn: sqlite3.Connection, table: str, key: str, source: str, column: str, test: str, value: Any
    ) -> None:
        """Rows of `table` whose `key` appears in a `source` row whose `column` passes `test` (one bound value)."""
        condition = f"{column} {test}"
        found = [
            row[0]
            for row in conn.execute(
                f"SELECT {key} FROM {source} WHERE {condition} LIMIT ?", (value, LISTED_MATCHES + 1)
            )
        ]
        alone = not self.where
        if len(found) <= LISTED_MATCHES:
            self.where.append(f"{key} IN (SELECT value FROM json_each(?))")
            self.params.append(orjson.dumps(found).decode())
            if alone:
                self.count_sql, self.count_params = "SELECT json_array_length(?)", (self.params[-1],)
        else:
            self.where.append(f"EXISTS (SELECT 1 FROM {source} m WHERE m.{key} = {table}.{key} AND m.{column} {test})")
            self.params.append(value)
            if alone:
                self.count_sql, self.count_params = f"SELECT count(*) FROM {source} WHERE {condition}", (value,)

    def count(self, table: str) -> tuple[str, list[Any]]:
        """SQL and parameters counting every match: from the kept table alone when it is the only filter."""
        if self.count_sql is not None and len(self.where) == 1:
            return self.count_sql, list(self.count_params)
        return f"SELECT count(*) FROM {table} {_where(self.where)}", list(self.params)


_LIKE = "LIKE ? ESCAPE '\\'"


def _session_where(conn: sqlite3.Connection, f: SessionFilter) -> _Filter:
    out = _Filter([], [])
    if f.text:  # id, user, services, first URL, and its traces' root operations, routes and URLs
        out.match(conn, "sessions", "session_id", "session_search", "text", _LIKE, _like(f.text))
    where, params = out.where, out.params
    if f.service:
        where.append("EXISTS (SELECT 1 FROM json_each(sessions.services) WHERE value = ?)")
        params.append(f.service)
    if f.user_id:
        where.append("user_id = ?")
        params.append(f.user_id)
    if f.since_ns is not None:
        where.append("end_ns >= ?")
        params.append(f.since_ns)
    if f.until_ns is not None:
        where.append("start_ns <= ?")
        params.append(f.until_ns)
    if f.has_errors is not None:
        # errors are rare: read the few through their index rather than walk the sort order to find them
        where.append("unlikely(error_count > 0)" if f.has_errors else "error_count = 0")
    if f.min_duration_ns is not None:
        where.append("duration_ns >= ?")
        params.append(f.min_duration_ns)
    return out


def _page(
    conn: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    key_column: str,
    f: _Filter,
    sort: tuple[str, bool],
    sort_name: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[tuple[Any, ...]], int]:
    """One page of rows (limit + 1, to tell whether more follow) and the exact count of all that match.

    The count rides along as an uncorrelated subquery, computed once in the same statement.
    """
    count_sql, count_params = f.count(table)
    where, params = list(f.where), list(f.params)
    after = decode_cursor(cursor, sort_name) if cursor else None
    order = _keyset(sort[0], sort[1], key_column, after, where, params)
    rows = conn.execute(
        f"SELECT {', '.join(columns)}, ({count_sql}) FROM {table} {_where(where)} {order} LIMIT ?",
        [*count_params, *params, limit + 1],
    ).fetchall()
    if rows:
        return [row[:-1] for row in rows], rows[0][-1]
    return [], conn.execute(count_sql, count_params).fetchone()[0]


def list_sessions(
    conn: sqlite3.Connection,
    f: SessionFilter,
    *,
    sort: SessionSort = "recent",
    limit: int = 20,
    cursor: str | None = None,
) -> Page[SessionSummary]:
    rows, total = _page(
        conn,
        "sessions",
        _SESSION_COLUMNS,
        "session_id",
        _session_where(conn, f),
        _SESSION_SORTS[sort],
        sort,
        cursor,
        limit,
    )
    sessions = [_session(row) for row in rows[:limit]]
    return Page(sessions, total, cursor_after(sort, sessions[-1]) if len(rows) > limit else None)


def _trace_where(conn: sqlite3.Connection, f: TraceFilter) -> _Filter:
    out = _Filter([], [])
    if f.text:  # trace id, root operation, route, URL
        out.match(conn, "traces", "trace_id", "trace_search", "text", _LIKE, _like(f.text))
    if f.service:
        out.match(conn, "traces", "trace_id", "trace_services", "service", "= ?", f.service)
    where, params = out.where, out.params
    if f.session_id:
        where.append("session_id = ?")
        params.append(f.session_id)
    if f.unsessioned:
        where.append("session_id IS NULL")
    if f.since_ns is not None:
        where.append("end_ns >= ?")
        params.append(f.since_ns)
    if f.until_ns is not None:
        where.append("start_ns <= ?")
        params.append(f.until_ns)
    if f.has_errors is not None:
        # errors are rare: read the few through their index rather than walk the sort order to find them
        where.append("unlikely(error_count > 0)" if f.has_errors else "error_count = 0")
    if f.min_duration_ns is not None:
        where.append("duration_ns >= ?")
        params.append(f.min_duration_ns)
    return out


def list_traces(
    conn: sqlite3.Connection, f: TraceFilter, *, sort: TraceSort = "recent", limit: int = 20, cursor: str | None = None
) -> Page[TraceSummary]:
    rows, total = _page(
        conn, "traces", _TRACE_COLUMNS, "trace_id", _trace_where(conn, f), _TRACE_SORTS[sort], sort, cursor, limit
    )
    traces = [_trace(row) for row in rows[:limit]]
    return Page(traces, total, cursor_after(sort, traces[-1]) if len(rows) > limit else None)


def get_trace(conn: sqlite3.Connection, trace_id: str) -> TraceSummary | None:
    row = conn.execute(f"{_TRACE_SELECT} WHERE trace_id = ?", (trace_id,)).fetchone()
    return _trace(row) if row else None


def get_session(conn: sqlite3.Connection, session_id: str) -> SessionSummary | None:
    row = conn.execute(f"{_SESSION_SELECT} WHERE session_id = ?", (session_id,)).fetchone()
    return _session(row) if row else None


SPAN_SELECT = (
    "SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_ns, s.end_ns, s.status_code, "
    "s.status_message, s.attributes, r.attributes, s.scope, s.events, s.links, s.shared, s.fingerprint "
    "FROM spans s JOIN resources r ON r.id = s.resource_id"
)


def trace_spans(conn: sqlite3.Connection, trace_id: str) -> list[Span]:
    """Every span of a trace, as model records, in start order."""
    return spans_from_rows(conn.execute(f"{SPAN_SELECT} WHERE s.trace_id = ? ORDER BY s.start_ns, s.id", (trace_id,)))


def session_traces(conn: sqlite3.Connection, session_id: str) -> dict[str, list[Span]]:
    """The spans of every trace the session owns, by trace id, traces in start order."""
    cur = conn.execute(
        f"{SPAN_SELECT} JOIN traces t ON t.trace_id = s.trace_id WHERE t.session_id = ? "
        "ORDER BY t.start_ns, s.trace_id, s.start_ns, s.id",
        (session_id,),
    )
    out: dict[str, list[Span]] = {}
    for span in spans_from_rows(cur):
        out.setdefault(span.trace_id, []).append(span)
    return out


def session_events(
    conn: sqlite3.Connection, session_id: str, kinds: Sequence[str] | None = None, *, with_copies: bool = False
) -> list[Event]:
    """A session's browser events as model records, in order.

    HAR copies of requests rrweb also recorded are left out unless `with_copies` (they carry
    response sizes and bodies rrweb does not). `trace_id` is the backend trace the event was
    linked to, however the link was made.
    """
    cur = conn.execute(
        "SELECT source, seq, time_ns, kind, summary, url, target, level, method, status, duration_ns, trace_id, "
        "span_id, session_key, client_key, user_id, detail, url_template FROM events "
        "WHERE session_id = :session AND (shadowed = 0 OR :copies) "
        "AND (:kinds IS NULL OR kind IN (SELECT value FROM json_each(:kinds))) "
        "ORDER BY coalesce(time_ns, 0), seq, id",
        {"session": session_id, "kinds": orjson.dumps(list(kinds)).decode() if kinds else None, "copies": with_copies},
    )
    return [Event(*row[:16], detail=orjson.loads(row[16]), url_template=row[17]) for row in cur]


def spans_from_rows(cur: Iterable[Sequence[Any]]) -> list[Span]:
    resources: dict[str, dict[str, Any]] = {}
    spans = []
    for row in cur:
        resource = resources.get(row[10])
        if resource is None:
            resource = resources[row[10]] = orjson.loads(row[10])
        spans.append(
            Span(
                trace_id=row[0],
                span_id=row[1],
                parent_span_id=row[2],
                name=row[3],
                kind=row[4],
                start_ns=row[5],
                end_ns=row[6],
                status_code=row[7],
                status_message=row[8],
                attributes=orjson.loads(row[9]),
                resource=resource,
                scope=row[11],
                events=tuple(SpanEvent(e["time_ns"], e["name"], e["attributes"]) for e in orjson.loads(row[12])),
                links=tuple(SpanLink(li["trace_id"], li["span_id"], li["attributes"]) for li in orjson.loads(row[13])),
                shared=bool(row[14]),
                fingerprint=row[15],
            )
        )
    return spans


def similar_ids(
    conn: sqlite3.Connection, table: Literal["sessions", "traces"], wanted: str, limit: int = 3
) -> list[str]:
    """Ids that share the longest prefix with `wanted` (for 'did you mean' hints)."""
    column = "session_id" if table == "sessions" else "trace_id"
    for size in range(min(len(wanted), 12), 0, -1):
        rows = conn.execute(
            f"SELECT {column} FROM {table} WHERE {column} LIKE ? ESCAPE '\\' ORDER BY {column} LIMIT ?",
            (_like(wanted[:size])[1:], limit),
        ).fetchall()
        if rows:
            return [r[0] for r in rows]
    return []


def totals(conn: sqlite3.Connection) -> dict[str, int]:
    """Row counts for a status line.

    Spans are counted from the kept per-operation totals (every span of every trace belongs
    to one operation), not by reading two million index entries.
    """
    return {
        "sessions": conn.execute("SELECT count(*) FROM sessions").fetchone()[0],
        "traces": conn.execute("SELECT count(*) FROM traces").fetchone()[0],
        "unsessioned_traces": unsessioned_traces(conn),
        "spans": conn.execute("SELECT coalesce(sum(span_count), 0) FROM operations").fetchone()[0],
        "logs": conn.execute("SELECT count(*) FROM logs").fetchone()[0],
    }


def unsessioned_traces(conn: sqlite3.Connection) -> int:
    """How many traces carry no session key (one index range)."""
    return conn.execute("SELECT count(*) FROM traces WHERE session_id IS NULL").fetchone()[0]


@dataclass(frozen=True)
class TimelineItem:
    """One line of a session's story: a browser event, or a backend trace no request accounts for."""

    origin: Literal["event", "trace"]
    time_ns: int | None
    seq: int
    kind: str
    summary: str
    url: str | None
    target: str | None
    level: str | None
    method: str | None
    status: int | None
    duration_ns: int | None
    trace_id: str | None
    link_method: str | None
    backend_ns: int | None
    backend_spans: int | None
    backend_errors: int | None


_TIMELINE = """
SELECT * FROM (
    SELECT 'event' AS origin, e.time_ns, e.seq, e.kind, e.summary, e.url, e.target, e.level, e.method, e.status,
           e.duration_ns, e.trace_id, e.link_method, t.duration_ns AS backend_ns, t.span_count, t.error_count,
           e.id AS ordinal
    FROM events e LEFT JOIN traces t ON t.trace_id = e.trace_id
    WHERE e.session_id = :session AND e.shadowed = 0
    UNION ALL
    SELECT 'trace', t.start_ns, 0, 'backend', coalesce(t.root_name, '(no root span)'), t.http_url, t.root_service,
           NULL, t.http_method, t.http_status, t.duration_ns, t.trace_id, t.session_source, t.duration_ns,
           t.span_count, t.error_count, 0
    FROM traces t
    WHERE t.session_id = :session
      AND NOT EXISTS (SELECT 1 FROM events e WHERE e.trace_id = t.trace_id AND e.session_id = :session)
)
WHERE (:kinds IS NULL OR kind IN (SELECT value FROM json_each(:kinds)))
  AND (:from_ns IS NULL OR time_ns >= :from_ns) AND (:to_ns IS NULL OR time_ns <= :to_ns)
"""


def timeline(
    conn: sqlite3.Connection,
    session_id: str,
    *,
    kinds: Sequence[str] | None,
    from_ns: int | None,
    to_ns: int | None,
    offset: int,
    limit: int,
) -> tuple[list[TimelineItem], int]:
    """A page of a session's merged timeline, in time order (recorded order where times are unknown)."""
    params = {
        "session": session_id,
        "kinds": orjson.dumps(list(kinds)).decode() if kinds else None,
        "from_ns": from_ns,
        "to_ns": to_ns,
    }
    total = conn.execute(f"SELECT count(*) FROM ({_TIMELINE})", params).fetchone()[0]
    rows = conn.execute(
        f"{_TIMELINE} ORDER BY coalesce(time_ns, 0), seq, origin, ordinal, trace_id LIMIT :limit OFFSET :offset",
        {**params, "limit": limit, "offset": offset},
    ).fetchall()
    return [TimelineItem(*row[:16]) for row in rows], total


def session_event_counts(conn: sqlite3.Connection, session_id: str) -> dict[str, int]:
    """How many events of each kind a session has, and how many requests were linked to a trace."""
    counts = dict(
        conn.execute(
            "SELECT kind, count(*) FROM events WHERE session_id = ? AND shadowed = 0 GROUP BY kind", (session_id,)
        )
    )
    counts["linked_requests"] = conn.execute(
        "SELECT count(*) FROM events WHERE session_id = ? AND kind = 'network' AND trace_id IS NOT NULL "
        "AND shadowed = 0",
        (session_id,),
    ).fetchone()[0]
    counts["times_unknown"] = conn.execute(
        "SELECT count(*) FROM events WHERE session_id = ? AND time_ns IS NULL", (session_id,)
    ).fetchone()[0]
    return counts


def trace_logs_count(conn: sqlite3.Connection, trace_id: str) -> int:
    return conn.execute("SELECT count(*) FROM logs WHERE trace_id = ?", (trace_id,)).fetchone()[0]


def _where(clauses: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


_SESSION_COLUMNS = (
    "session_id",
    "user_id",
    "service",
    "services",
    "sources",
    "start_ns",
    "end_ns",
    "duration_ns",
    "first_url",
    "trace_count",
    "span_count",
    "error_count",
    "log_count",
)
_SESSION_SELECT = f"SELECT {', '.join(_SESSION_COLUMNS)} FROM sessions"
_TRACE_COLUMNS = (
    "trace_id",
    "session_id",
    "user_id",
    "root_span_id",
    "root_service",
    "root_name",
    "root_kind",
    "http_method",
    "http_route",
    "http_status",
    "http_url",
    "start_ns",
    "end_ns",
    "duration_ns",
    "span_count",
    "error_count",
    "services",
)
_TRACE_SELECT = f"SELECT {', '.join(_TRACE_COLUMNS)} FROM traces"


def _session(row: tuple[Any, ...]) -> SessionSummary:
    c = dict(zip(_SESSION_COLUMNS, row, strict=True))
    return SessionSummary(
        session_id=c["session_id"],
        user_id=c["user_id"],
        service=c["service"],
        services=tuple(orjson.loads(c["services"])),
        sources=tuple(orjson.loads(c["sources"])),
        start_ns=c["start_ns"],
        end_ns=c["end_ns"],
        duration_ns=c["duration_ns"],
        first_url=c["first_url"],
        trace_count=c["trace_count"],
        span_count=c["span_count"],
        error_count=c["error_count"],
        log_count=c["log_count"],
    )


def _trace(row: tuple[Any, ...]) -> TraceSummary:
    c = dict(zip(_TRACE_COLUMNS, row, strict=True))
    return TraceSummary(
        trace_id=c["trace_id"],
        session_id=c["session_id"],
        user_id=c["user_id"],
        root_span_id=c["root_span_id"],
        root_service=c["root_service"],
        root_name=c["root_name"],
        root_kind=c["root_kind"],
        http_method=c["http_method"],
        http_route=c["http_route"],
        http_status=c["http_status"],
        http_url=c["http_url"],
        start_ns=c["start_ns"],
        end_ns=c["end_ns"],
        duration_ns=c["duration_ns"],
        span_count=c["span_count"],
        error_count=c["error_count"],
        services=tuple(orjson.loads(c["services"])),
    )
