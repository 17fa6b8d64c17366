"""Queries behind the analysis tools: slow operations, failures, and what the user did before.

Span rankings read the per-span columns schema 3 keeps (fingerprint, self_ns,
critical_ns), so a question over all data is one grouped, indexed query rather than a
tree walk per trace.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from mcp_sessions.model import Event, LogRecord, Span
from mcp_sessions.store.queries import SPAN_SELECT, spans_from_rows

ACTION_KINDS = ("click", "dblclick", "input", "navigation", "focus")
# What find_errors reads at most per source: enough for every group, bounded on a huge database.
MAX_FAILURES = 5_000


@dataclass(frozen=True)
class SpanScope:
    """Which spans a question is about: one trace, one session's traces, or filtered data."""

    trace_id: str | None = None
    session_id: str | None = None
    service: str | None = None
    route: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None

    def where(self, alias: str = "s") -> tuple[str, dict[str, Any]]:
        clauses, params = [], {}
        if self.trace_id:
            clauses.append(f"{alias}.trace_id = :trace_id")
            params["trace_id"] = self.trace_id
        if self.session_id:
            clauses.append(f"{alias}.trace_id IN (SELECT trace_id FROM traces WHERE session_id = :session_id)")
            params["session_id"] = self.session_id
        if self.service:
            clauses.append(f"{alias}.service = :service")
            params["service"] = self.service
        if self.route:
            clauses.append(f"{alias}.trace_id IN (SELECT trace_id FROM traces WHERE http_route = :route)")
            params["route"] = self.route
        if self.since_ns is not None:
            clauses.append(f"{alias}.end_ns >= :since_ns")
            params["since_ns"] = self.since_ns
        if self.until_ns is not None:
            clauses.append(f"{alias}.start_ns <= :until_ns")
            params["until_ns"] = self.until_ns
        return (" AND ".join(clauses) or "1"), params


@dataclass(frozen=True)
class OperationRow:
    """One operation (service + fingerprint) in a scope, with its worst span."""

    service: str | None
    fingerprint: str
    count: int
    trace_count: int
    critical_ns: int
    self_ns: int
    total_ns: int
    max_ns: int
    worst_trace_id: str
    worst_span_id: str
    worst_name: str
    p50_ns: int | None = None
    p95_ns: int | None = None


def slow_operations(conn: sqlite3.Connection, scope: SpanScope, limit: int) -> tuple[list[OperationRow], int, int]:
    """Operations ranked by time on the critical path, then self time; how many; the scope's critical total.

    A trace or a session is a few hundred spans: they are read once and ranked here. Over all
    data the ranking is one grouped query, and only the operations shown get their worst span
    and percentiles read from the (fingerprint, service, duration) index.
    """
    if scope.trace_id or scope.session_id:
        return _slow_operations_in(conn, scope, limit)
    where, params = scope.where()
    rows = conn.execute(
        f"""
        SELECT service, fingerprint, count(*), count(DISTINCT trace_id), sum(critical_ns), sum(self_ns),
               sum(duration_ns), max(duration_ns)
        FROM spans s WHERE {where} AND fingerprint IS NOT NULL
        GROUP BY service, fingerprint
        ORDER BY sum(critical_ns) DESC, sum(self_ns) DESC, fingerprint
        """,
        params,
    ).fetchall()
    out = []
    for service, fingerprint, count, traces, critical, self_ns, total, max_ns in rows[:limit]:
        worst = conn.execute(
            f"SELECT trace_id, span_id, name FROM spans s WHERE {where} AND fingerprint = :fp "
            "AND service IS :svc ORDER BY critical_ns DESC, duration_ns DESC LIMIT 1",
            {**params, "fp": fingerprint, "svc": service},
        ).fetchone()
        p50, p95 = _percentiles(conn, where, params, service, fingerprint, count)
        out.append(
            OperationRow(
                service, fingerprint, count, traces, critical or 0, self_ns or 0, total, max_ns, *worst, p50, p95
            )
        )
    return out, len(rows), sum(r[4] or 0 for r in rows)


def _slow_operations_in(conn: sqlite3.Connection, scope: SpanScope, limit: int) -> tuple[list[OperationRow], int, int]:
    where, params = scope.where()
    rows = conn.execute(
        "SELECT service, fingerprint, trace_id, span_id, name, duration_ns, coalesce(self_ns, 0), "
        f"coalesce(critical_ns, 0) FROM spans s WHERE {where} AND fingerprint IS NOT NULL",
        params,
    ).fetchall()
    groups: dict[tuple[str | None, str], list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault((row[0], row[1]), []).append(row)
    ranked = sorted(
        groups.items(),
        key=lambda item: (-sum(r[7] for r in item[1]), -sum(r[6] for r in item[1]), item[0][1], item[0][0] or ""),
    )
    out = []
    for (service, fingerprint), members in ranked[:limit]:
        durations = sorted(r[5] for r in members)
        worst = max(members, key=lambda r: (r[7], r[5], r[3]))
        out.append(
            OperationRow(
                service=service,
                fingerprint=fingerprint,
                count=len(members),
                trace_count=len({r[2] for r in members}),
                critical_ns=sum(r[7] for r in members),
                self_ns=sum(r[6] for r in members),
                total_ns=sum(durations),
                max_ns=durations[-1],
                worst_trace_id=worst[2],
                worst_span_id=worst[3],
                worst_name=worst[4],
                p50_ns=_nearest_rank(durations, 0.5),
                p95_ns=_nearest_rank(durations, 0.95),
            )
        )
    return out, len(groups), sum(r[7] for r in rows)


def _percentiles(
    conn: sqlite3.Connection, where: str, params: dict[str, Any], service: str | None, fingerprint: str, count: int
) -> tuple[int, int]:
    """Nearest-rank p50 and p95 of the operation's durations, read at two offsets of the index order."""

    def at(rank: float) -> int:
        offset = max(0, min(count - 1, int(rank * count + 0.999999) - 1))
        row = conn.execute(
            f"SELECT duration_ns FROM spans s WHERE fingerprint = :fp AND service IS :svc AND {where} "
            "ORDER BY duration_ns LIMIT 1 OFFSET :offset",
            {**params, "fp": fingerprint, "svc": service, "offset": offset},
        ).fetchone()
        return row[0] if row else 0

    return at(0.5), at(0.95)


def _nearest_rank(ordered: list[int], rank: float) -> int:
    return ordered[max(0, min(len(ordered) - 1, int(rank * len(ordered) + 0.999999) - 1))]


@dataclass(frozen=True)
class SpanRow:
    """One span ranked on its own."""

    trace_id: str
    span_id: str
    service: str | None
    name: str
    fingerprint: str | None
    duration_ns: int
    self_ns: int
    critical_ns: int
    trace_duration_ns: int


def slow_spans(conn: sqlite3.Connection, scope: SpanScope, limit: int) -> tuple[list[SpanRow], int]:
    """Single spans ranked by time on the critical path, then self time."""
    where, params = scope.where()
    total = conn.execute(f"SELECT count(*) FROM spans s WHERE {where}", params).fetchone()[0]
    rows = conn.execute(
        f"""
        SELECT s.trace_id, s.span_id, s.service, s.name, s.fingerprint, s.duration_ns, coalesce(s.self_ns, 0),
               coalesce(s.critical_ns, 0), t.duration_ns
        FROM spans s JOIN traces t ON t.trace_id = s.trace_id
        WHERE {where}
        ORDER BY {"+" if scope.trace_id or scope.session_id else ""}s.critical_ns DESC, s.self_ns DESC, s.id
        LIMIT :limit
        """,
        {**params, "limit": limit},
    ).fetchall()
    return [SpanRow(*r) for r in rows], total


@dataclass(frozen=True)
class Failures:
    """Everything that went wrong in a scope, as model records with the session each belongs to."""

    spans: list[tuple[str | None, Span]]
    events: list[tuple[str | None, Event]]
    logs: list[tuple[str | None, LogRecord]]
    truncated: bool


def failures(conn: sqlite3.Connection, scope: SpanScope) -> Failures:
    """Failed spans, browser errors and failed requests, and error logs in a scope (bounded)."""
    where, params = scope.where()
    span_rows = conn.execute(
        f"SELECT s.id, t.session_id FROM spans s JOIN traces t ON t.trace_id = s.trace_id "
        f"WHERE (s.status_code = 'error' OR s.exception_type IS NOT NULL) AND {where} "
        "ORDER BY s.start_ns LIMIT :cap",
        {**params, "cap": MAX_FAILURES},
    ).fetchall()
    sessions = {row[0]: row[1] for row in span_rows}
    spans: list[tuple[str | None, Span]] = []
    ids = [row[0] for row in span_rows]
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        cur = conn.execute(
            f"{SPAN_SELECT.replace('SELECT ', 'SELECT s.id, ', 1)} WHERE s.id IN ({','.join('?' * len(part))})",
            part,
        )
        rows = cur.fetchall()
        for row, span in zip(rows, spans_from_rows(r[1:] for r in rows), strict=True):
            spans.append((sessions[row[0]], span))
    spans.sort(key=lambda pair: (pair[1].start_ns, pair[1].span_id))

    events: list[tuple[str | None, Event]] = []
    if not scope.service and not scope.route:
        event_where, event_params = _event_scope(scope)
        cur = conn.execute(
            "SELECT session_id, source, seq, time_ns, kind, summary, url, target, level, method, status, "
            "duration_ns, trace_id, span_id, session_key, client_key, user_id, detail FROM events e "
            "WHERE ((kind = 'console' AND level = 'error') OR kind = 'error' "
            "OR (kind = 'network' AND (status >= 400 OR status = 0))) AND shadowed = 0 AND "
            f"{event_where} ORDER BY coalesce(time_ns, 0), seq LIMIT :cap",
            {**event_params, "cap": MAX_FAILURES},
        )
        events = [(row[0], Event(*row[1:17], detail=orjson.loads(row[17]))) for row in cur]

    log_where, log_params = _log_scope(scope)
    cur = conn.execute(
        "SELECT l.session_id, l.time_ns, l.observed_time_ns, l.severity_number, l.severity_text, l.body, "
        "l.attributes, r.attributes, l.scope, l.trace_id, l.span_id, l.event_name, t.session_id "
        "FROM logs l JOIN resources r ON r.id = l.resource_id LEFT JOIN traces t ON t.trace_id = l.trace_id "
        f"WHERE l.severity_number >= 17 AND {log_where} ORDER BY l.time_ns LIMIT :cap",
        {**log_params, "cap": MAX_FAILURES},
    )
    logs = [
        (
            row[0] or row[12],
            LogRecord(
                time_ns=row[1],
                observed_time_ns=row[2],
                severity_number=row[3],
                severity_text=row[4],
                body=row[5],
                attributes=orjson.loads(row[6]),
                resource=orjson.loads(row[7]),
                scope=row[8],
                trace_id=row[9],
                span_id=row[10],
                event_name=row[11],
            ),
        )
        for row in cur
    ]
    truncated = max(len(span_rows), len(events), len(logs)) >= MAX_FAILURES
    return Failures(spans, events, logs, truncated)


def _event_scope(scope: SpanScope) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}
    if scope.trace_id:
        clauses.append("e.trace_id = :trace_id")
        params["trace_id"] = scope.trace_id
    if scope.session_id:
        clauses.append("e.session_id = :session_id")
        params["session_id"] = scope.session_id
    if scope.since_ns is not None:
        clauses.append("e.time_ns >= :since_ns")
        params["since_ns"] = scope.since_ns
    if scope.until_ns is not None:
        clauses.append("e.time_ns <= :until_ns")
        params["until_ns"] = scope.until_ns
    return (" AND ".join(clauses) or "1"), params


def _log_scope(scope: SpanScope) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}
    if scope.trace_id:
        clauses.append("l.trace_id = :trace_id")
        params["trace_id"] = scope.trace_id
    if scope.session_id:
        clauses.append(
            "(l.session_id = :session_id OR l.trace_id IN (SELECT trace_id FROM traces WHERE session_id = :session_id))"
        )
        params["session_id"] = scope.session_id
    if scope.service:
        clauses.append("l.service = :service")
        params["service"] = scope.service
    if scope.route:
        clauses.append("l.trace_id IN (SELECT trace_id FROM traces WHERE http_route = :route)")
        params["route"] = scope.route
    if scope.since_ns is not None:
        clauses.append("l.time_ns >= :since_ns")
        params["since_ns"] = scope.since_ns
    if scope.until_ns is not None:
        clauses.append("l.time_ns <= :until_ns")
        params["until_ns"] = scope.until_ns
    return (" AND ".join(clauses) or "1"), params


def session_actions(conn: sqlite3.Connection, session_ids: list[str]) -> dict[str, list[Event]]:
    """The user actions (clicks, typing, navigations, focus) of each session, in time order."""
    out: dict[str, list[Event]] = {}
    for sid in session_ids:
        cur = conn.execute(
            "SELECT source, seq, time_ns, kind, summary, url, target, level, method, status, duration_ns, trace_id, "
            "span_id, session_key, client_key, user_id, detail FROM events WHERE session_id = ? AND shadowed = 0 "
            f"AND kind IN ({','.join('?' * len(ACTION_KINDS))}) ORDER BY coalesce(time_ns, 0), seq",
            (sid, *ACTION_KINDS),
        )
        out[sid] = [Event(*row[:16], detail=orjson.loads(row[16])) for row in cur]
    return out


def request_times(conn: sqlite3.Connection, trace_ids: list[str]) -> dict[str, int]:
    """When the browser sent the request that started each trace (for traces a request is linked to)."""
    out: dict[str, int] = {}
    for chunk in range(0, len(trace_ids), 500):
        part = trace_ids[chunk : chunk + 500]
        for trace_id, time_ns in conn.execute(
            f"SELECT trace_id, min(time_ns) FROM events WHERE trace_id IN ({','.join('?' * len(part))}) "
            "AND time_ns IS NOT NULL GROUP BY trace_id",
            part,
        ):
            out[trace_id] = time_ns
    return out
