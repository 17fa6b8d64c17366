"""Read queries: every SELECT the answers and the CLI make over sessions, traces and events.

Lists page with keyset cursors (paging.py). Filters are built from fixed SQL fragments with
bound parameters only. Every sort order and filter of a list has an index or a kept table
(trace_services, trace_search, session_search; see summaries.py), so a page and its
exact total cost index ranges, not a read of every trace.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

import orjson

from mcp_sessions.model import (
    CopyKey,
    Event,
    Page,
    SessionFilter,
    SessionSummary,
    Sort,
    Span,
    SpanRecords,
    TimelineItem,
    TimelinePage,
    TraceFilter,
    TraceSummary,
)
from mcp_sessions.store.sqlite.paging import Filter, keyset_page, timeline_cursors, timeline_offset
from mcp_sessions.store.sqlite.rows import (
    EVENT_COLUMNS,
    SESSION_COLUMNS,
    SESSION_SELECT,
    SPAN_SELECT,
    TRACE_COLUMNS,
    TRACE_SELECT,
    event_from_row,
    session_from_row,
    spans_from_rows,
    trace_from_row,
)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# A membership filter (free text, a trace's services) matching at most this many rows is handed to
# SQL as a list of ids; one matching more is checked row by row while the sort order's index is
# walked, which reaches a page after a few rows when matches are that common.
LISTED_MATCHES = 20_000


def _match(
    conn: sqlite3.Connection, out: Filter, table: str, key: str, source: str, column: str, test: str, value: object
) -> None:
    """Rows of `table` whose `key` appears in a `source` row whose `column` passes `test` (one bound value)."""
    condition = f"{column} {test}"
    found = [
        row[0]
        for row in conn.execute(f"SELECT {key} FROM {source} WHERE {condition} LIMIT ?", (value, LISTED_MATCHES + 1))
    ]
    alone = not out.where
    if len(found) <= LISTED_MATCHES:
        out.where.append(f"{key} IN (SELECT value FROM json_each(?))")
        out.params.append(orjson.dumps(found).decode())
        if alone:
            out.count_sql, out.count_params = "SELECT json_array_length(?)", (out.params[-1],)
    else:
        out.where.append(f"EXISTS (SELECT 1 FROM {source} m WHERE m.{key} = {table}.{key} AND m.{column} {test})")
        out.params.append(value)
        if alone:
            out.count_sql, out.count_params = f"SELECT count(*) FROM {source} WHERE {condition}", (value,)


_LIKE = "LIKE ? ESCAPE '\\'"


def _extent(out: Filter, f: SessionFilter | TraceFilter) -> Filter:
    """The time, error and duration filters sessions and traces share (the same columns on both tables)."""
    if f.since_ns is not None:
        out.where.append("end_ns >= ?")
        out.params.append(f.since_ns)
    if f.until_ns is not None:
        out.where.append("start_ns <= ?")
        out.params.append(f.until_ns)
    if f.has_errors is not None:
        # errors are rare: read the few through their index rather than walk the sort order to find them
        out.where.append("unlikely(error_count > 0)" if f.has_errors else "error_count = 0")
    if f.min_duration_ns is not None:
        out.where.append("duration_ns >= ?")
        out.params.append(f.min_duration_ns)
    return out


def _session_where(conn: sqlite3.Connection, f: SessionFilter) -> Filter:
    out = Filter()
    if f.text:  # id, user, services, first URL, and its traces' root operations, routes and URLs
        _match(conn, out, "sessions", "session_id", "session_search", "text", _LIKE, _like(f.text))
    if f.service:
        out.where.append("EXISTS (SELECT 1 FROM json_each(sessions.services) WHERE value = ?)")
        out.params.append(f.service)
    if f.user_id:
        out.where.append("user_id = ?")
        out.params.append(f.user_id)
    return _extent(out, f)


def list_sessions(
    conn: sqlite3.Connection, f: SessionFilter, *, sort: Sort = "recent", limit: int = 20, cursor: str | None = None
) -> Page[SessionSummary]:
    where = _session_where(conn, f)
    return keyset_page(conn, "sessions", SESSION_COLUMNS, "session_id", where, sort, cursor, limit, session_from_row)


def _trace_where(conn: sqlite3.Connection, f: TraceFilter) -> Filter:
    out = Filter()
    if f.text:  # trace id, root operation, route, URL
        _match(conn, out, "traces", "trace_id", "trace_search", "text", _LIKE, _like(f.text))
    if f.service:
        _match(conn, out, "traces", "trace_id", "trace_services", "service", "= ?", f.service)
    if f.session_id:
        out.where.append("session_id = ?")
        out.params.append(f.session_id)
    if f.unsessioned:
        out.where.append("session_id IS NULL")
    return _extent(out, f)


def list_traces(
    conn: sqlite3.Connection, f: TraceFilter, *, sort: Sort = "recent", limit: int = 20, cursor: str | None = None
) -> Page[TraceSummary]:
    where = _trace_where(conn, f)
    return keyset_page(conn, "traces", TRACE_COLUMNS, "trace_id", where, sort, cursor, limit, trace_from_row)


def get_trace(conn: sqlite3.Connection, trace_id: str) -> TraceSummary | None:
    row = conn.execute(f"{TRACE_SELECT} WHERE trace_id = ?", (trace_id,)).fetchone()
    return trace_from_row(row) if row else None


def get_session(conn: sqlite3.Connection, session_id: str) -> SessionSummary | None:
    row = conn.execute(f"{SESSION_SELECT} WHERE session_id = ?", (session_id,)).fetchone()
    return session_from_row(row) if row else None


def trace_spans(conn: sqlite3.Connection, trace_id: str) -> list[Span]:
    """Every span of a trace, as model records, in start order."""
    return spans_from_rows(conn.execute(f"{SPAN_SELECT} WHERE s.trace_id = ? ORDER BY s.start_ns, s.id", (trace_id,)))


def span_records(conn: sqlite3.Connection, trace_id: str, span_id: str) -> SpanRecords | None:
    """One span's records in start order, its parent's record (the client half first), and its child count."""
    where = f"{SPAN_SELECT} WHERE s.trace_id = ? AND s.span_id = ?"
    records = tuple(spans_from_rows(conn.execute(f"{where} ORDER BY s.start_ns, s.id", (trace_id, span_id))))
    if not records:
        return None
    own = next((r for r in records if not r.shared), records[0])
    parent_id = own.parent_span_id if own.parent_span_id != span_id else None
    parents = spans_from_rows(conn.execute(f"{where} ORDER BY s.shared, s.id LIMIT 1", (trace_id, parent_id)))
    (children,) = conn.execute(
        "SELECT count(*) FROM spans WHERE trace_id = ? AND parent_span_id = ? AND span_id != ?",
        (trace_id, span_id, span_id),
    ).fetchone()
    return SpanRecords(trace_id, span_id, records, parents[0] if parents else None, children)


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
        f"SELECT {EVENT_COLUMNS} FROM events "
        "WHERE session_id = :session AND (shadowed = 0 OR :copies) "
        "AND (:kinds IS NULL OR kind IN (SELECT value FROM json_each(:kinds))) "
        "ORDER BY coalesce(time_ns, 0), seq, id",
        {"session": session_id, "kinds": orjson.dumps(list(kinds)).decode() if kinds else None, "copies": with_copies},
    )
    return [event_from_row(row) for row in cur]


_COPY_COLUMNS = ", ".join("c." + column.strip() for column in EVENT_COLUMNS.split(","))


def har_twins(conn: sqlite3.Connection, session_id: str, limit: int) -> dict[CopyKey, Event]:
    """The HAR copies of the session's rrweb requests, by the copy_key of the request each repeats.

    Where rrweb and a HAR recorded the same request, the timeline shows the rrweb copy and marks
    the HAR one `shadowed`, with `copy_of` naming the request it repeats (copies.py); the HAR copy
    holds the response's content type and body. Paired by that link, never by trace id: the
    requests of one page load often share a trace, and a request without a trace header has a copy too.
    """
    cur = conn.execute(
        f"SELECT {_COPY_COLUMNS}, o.source, o.seq, o.time_ns, o.url FROM events c "
        "JOIN events o ON o.id = c.copy_of AND o.kind = 'network' "
        "WHERE c.session_id = ? AND c.shadowed = 1 AND c.kind = 'network' "
        "ORDER BY coalesce(o.time_ns, 0), o.seq, c.id LIMIT ?",
        (session_id, limit),
    )
    twins: dict[CopyKey, Event] = {}
    for row in cur:
        twins.setdefault((row[-4], row[-3], row[-2], row[-1]), event_from_row(row[:-4]))
    return twins


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
    cursor: str | None,
    limit: int,
) -> TimelinePage:
    """A page of a session's merged timeline, in time order (recorded order where times are unknown)."""
    offset = timeline_offset(cursor, session_id)
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
    items = _with_request_facts(conn, session_id, rows)
    return TimelinePage(items, total, offset, timeline_cursors(session_id, offset, len(items)))


def _with_request_facts(conn: sqlite3.Connection, session_id: str, rows: list[Any]) -> list[TimelineItem]:
    """The page's items; each request with its size, type and timing phases from whichever copy has them,
    and the page it was made from. Read for this page's requests only (a session may hold thousands)."""
    items = [TimelineItem(*row[:16]) for row in rows]
    ids = [row[16] for row, item in zip(rows, items, strict=True) if item.origin == "event" and item.kind == "network"]
    if not ids:
        return items
    facts = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT e.id, e.detail, c.detail, c.copy_method FROM events e LEFT JOIN events c ON c.id = ("
            "SELECT min(x.id) FROM events x WHERE x.copy_of = e.id AND x.kind = 'network') "
            "WHERE e.id IN (SELECT value FROM json_each(?))",
            (orjson.dumps(ids).decode(),),
        )
    }
    pages = conn.execute(
        "SELECT coalesce(time_ns, 0), url FROM events WHERE session_id = ? AND kind = 'navigation' AND shadowed = 0 "
        "AND url IS NOT NULL ORDER BY coalesce(time_ns, 0), seq",
        (session_id,),
    ).fetchall()
    starts = [p[0] for p in pages]
    out = []
    for row, item in zip(rows, items, strict=True):
        if row[16] not in facts or item.origin != "event":
            out.append(item)
            continue
        # the page it was made from: the last navigation at or before it, else the first (a document load)
        before = bisect_right(starts, item.time_ns or 0)
        page_url = pages[before - 1][1] if before else (pages[0][1] if pages else None)
        detail, copy_detail, copy_method = facts[row[16]]
        out.append(_request_facts(item, detail, copy_detail, copy_method, page_url))
    return out


def _request_facts(
    item: TimelineItem, detail_json: str, copy_json: str | None, copy_method: str | None, page_url: str | None
) -> TimelineItem:
    detail, copy = orjson.loads(detail_json or "{}"), orjson.loads(copy_json or "{}")

    def fact(key: str) -> Any:
        return next((d[key] for d in (copy, detail) if d.get(key) not in (None, "", {})), None)

    headers = detail.get("response_headers") or {}
    size, mime, timings = fact("response_body_size"), fact("mime_type"), fact("timings")
    if mime is None and isinstance(headers, dict) and isinstance(headers.get("content-type"), str):
        mime = headers["content-type"]
    return replace(
        item,
        page_url=page_url,
        size_bytes=size if isinstance(size, int) and not isinstance(size, bool) else None,
        mime_type=str(mime).split(";")[0].strip() or None if mime else None,
        timings={k: float(v) for k, v in timings.items() if isinstance(v, int | float)}
        if isinstance(timings, dict)
        else {},
        copy_method=copy_method,
    )


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
