"""Queries behind the analysis tools: slow operations, failures, and what the user did before.

Span rankings read the per-span columns schema 3 keeps (fingerprint, self_ns,
critical_ns), so a question over all data is one grouped, indexed query rather than a
tree walk per trace.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import orjson

from mcp_sessions.analysis.call_targets import call_target
from mcp_sessions.analysis.percentile import nearest_rank, nearest_rank_index
from mcp_sessions.model import (
    AfterRootRow,
    CodeLocation,
    Event,
    Failures,
    OperationRow,
    Span,
    SpanRow,
    SpanScope,
    StreamRow,
)
from mcp_sessions.store.sqlite import scope as scopes
from mcp_sessions.store.sqlite.rows import (
    BROWSER_PROBLEM,
    EVENT_COLUMNS,
    LOG_COLUMNS,
    LOG_FROM,
    SPAN_SELECT,
    event_from_row,
    log_from_row,
    spans_from_rows,
)

ACTION_KINDS = ("click", "dblclick", "input", "navigation", "focus")
# What find_errors reads at most per source: enough for every group, bounded on a huge database.
MAX_FAILURES = 5_000


def slow_operations(
    conn: sqlite3.Connection, scope: SpanScope, limit: int, after: Sequence[AfterRootRow] | None = None
) -> tuple[list[OperationRow], int, int]:
    """Operations ranked by time on the critical path, then self time; how many; the scope's critical total.

    A trace or a session is a few hundred spans: they are read once and ranked here. Over all
    data (or one service) the ranking reads the kept per-operation totals (store/summaries.py);
    only the operations shown get their worst span and percentiles, read from indexes. Filtered
    by route or time, it adds up what each trace in scope contributes, and reads spans only of
    the traces that cross the edge of the time window; every figure stays exact. `after` is the
    scope's whole `after_root` ranking when the caller has read it already.
    """
    if scope.trace_id or scope.session_id:
        rows, total, critical = _slow_operations_in(conn, scope, limit)
    else:
        streams = _stream_operations(conn, scope)
        if scope.route is None and scope.since_ns is None and scope.until_ns is None:
            rows, total, critical = _slow_operations_everywhere(conn, scope.service, limit, streams)
        else:
            rows, total, critical = _slow_operations_of_traces(conn, scope, limit, streams)
        ranked = after_root(conn, scope, None)[0] if after is None else after
        after_ns = {(r.service, r.fingerprint): r.after_ns for r in ranked}
        rows = [replace(r, after_ns=after_ns.get((r.service, r.fingerprint), 0)) for r in rows]
    return with_code_locations(conn, rows), total, critical


# Operations listed in the "after the root answered" ranking; streams listed apart.
AFTER_ROOT_SHOWN = 5
STREAMS_SHOWN = 5


# Stream spans through their own (partial) index, whatever else filters them.
_STREAM_SPANS = "spans s INDEXED BY spans_stream WHERE s.stream = 1"


def _stream_operations(conn: sqlite3.Connection, scope: SpanScope) -> dict[tuple[str | None, str], int]:
    """Stream spans in scope by operation (analysis/streams.py): an operation all of whose spans in scope
    are streams is a stream, ranked after all the work; never a walk over every span of a service or all data."""
    where, params = scopes.scope_where(scope)
    return {
        (service, fingerprint): count
        for service, fingerprint, count in conn.execute(
            f"SELECT service, fingerprint, count(*) FROM {_STREAM_SPANS} AND fingerprint IS NOT NULL "
            f"AND {where} GROUP BY service, fingerprint",
            params,
        )
    }


def streams(conn: sqlite3.Connection, scope: SpanScope, limit: int = STREAMS_SHOWN) -> tuple[list[StreamRow], int]:
    """The long-lived streams in scope, longest first, and how many there are."""
    where, params = scopes.scope_where(scope)
    total = conn.execute(f"SELECT count(*) FROM {_STREAM_SPANS} AND {where}", params).fetchone()[0]
    if not total:
        return [], 0
    rows = conn.execute(
        f"SELECT trace_id, span_id, service, name, duration_ns FROM {_STREAM_SPANS} AND {where} "
        "ORDER BY duration_ns DESC, s.id LIMIT :limit",
        {**params, "limit": limit},
    ).fetchall()
    return [StreamRow(*r) for r in rows], total


def after_root(
    conn: sqlite3.Connection, scope: SpanScope, limit: int | None = AFTER_ROOT_SHOWN
) -> tuple[list[AfterRootRow], int]:
    """Operations by the time their spans ran after their trace's root answered, most first (the
    spans_after index holds only the spans that did), and how many there are; streams are not work
    and are left out."""
    where, params = scopes.scope_where(scope)
    rows = conn.execute(
        "SELECT service, fingerprint, trace_id, span_id, after_ns FROM spans s INDEXED BY spans_after "
        f"WHERE s.after_ns > 0 AND s.stream = 0 AND fingerprint IS NOT NULL AND {where}",
        params,
    ).fetchall()
    groups: dict[tuple[str | None, str], list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault((row[0], row[1]), []).append(row)
    out = []
    for (service, fingerprint), members in groups.items():
        worst = max(members, key=lambda r: (r[4], r[3]))
        out.append(
            AfterRootRow(service, fingerprint, len(members), sum(r[4] for r in members), worst[2], worst[3], worst[4])
        )
    out.sort(key=lambda r: (-r.after_ns, r.fingerprint, r.service or ""))
    return (out if limit is None else out[:limit]), len(out)


_Row = TypeVar("_Row", OperationRow, SpanRow)


def with_code_locations(conn: sqlite3.Connection, rows: Sequence[_Row]) -> list[_Row]:
    """The rows, each with the code.* location of its span (an operation's worst span, else its shortest
    span that has one: a seek into the spans_code index, however many spans it has) and what that span
    called (analysis/call_targets.py)."""
    out = []
    for row in rows:
        if isinstance(row, OperationRow):
            trace_id, span_id = row.worst_trace_id, row.worst_span_id
        else:
            trace_id, span_id = row.trace_id, row.span_id
        records = spans_from_rows(
            conn.execute(
                f"{SPAN_SELECT} WHERE s.trace_id = ? AND s.span_id = ? ORDER BY s.shared, s.id", (trace_id, span_id)
            )
        )
        target = next((t for t in map(call_target, records) if t is not None), None)
        found = conn.execute(
            "SELECT code_function, code_filepath, code_lineno FROM spans WHERE trace_id = ? AND span_id = ? "
            "AND (code_function IS NOT NULL OR code_filepath IS NOT NULL) ORDER BY shared LIMIT 1",
            (trace_id, span_id),
        ).fetchone()
        if found is None and isinstance(row, OperationRow):  # the operation's shortest span with one
            found = conn.execute(
                "SELECT code_function, code_filepath, code_lineno FROM spans INDEXED BY spans_code "
                "WHERE fingerprint = ? AND service IS ? AND (code_function IS NOT NULL OR code_filepath IS NOT NULL) "
                "ORDER BY duration_ns LIMIT 1",
                (row.fingerprint, row.service),
            ).fetchone()
        out.append(replace(row, code=CodeLocation(*found) if found else row.code, target=target))
    return out


_OPERATION_ORDER = "ORDER BY critical_ns DESC, self_ns DESC, fingerprint, coalesce(service, '')"


def _slow_operations_everywhere(
    conn: sqlite3.Connection, service: str | None, limit: int, streams: dict[tuple[str | None, str], int]
) -> tuple[list[OperationRow], int, int]:
    rows = sorted(
        conn.execute(
            "SELECT id, service, fingerprint, span_count, trace_count, critical_ns, self_ns, total_ns FROM operations "
            "WHERE span_count > 0 AND fingerprint IS NOT NULL AND (:service IS NULL OR service = :service) "
            f"{_OPERATION_ORDER}",
            {"service": service or None},
        ).fetchall(),
        key=lambda row: streams.get((row[1], row[2])) == row[3],  # streams after the work, stable otherwise
    )
    out = []
    for op_id, svc, fingerprint, count, traces, critical, self_ns, total in rows[:limit]:
        key = {"fp": fingerprint, "svc": svc}
        max_ns = conn.execute(
            "SELECT max(duration_ns) FROM spans WHERE fingerprint = :fp AND service IS :svc", key
        ).fetchone()[0]
        trace_id, span_id = conn.execute(
            "SELECT trace_id, worst_span_id FROM operation_traces WHERE operation_id = ? "
            "ORDER BY worst_critical_ns DESC, worst_duration_ns DESC LIMIT 1",
            (op_id,),
        ).fetchone()
        p50, p95 = _percentiles(conn, op_id, svc, fingerprint, count)
        out.append(
            OperationRow(
                svc,
                fingerprint,
                count,
                traces,
                critical,
                self_ns,
                total,
                max_ns,
                trace_id,
                span_id,
                _span_name(conn, trace_id, span_id, svc, fingerprint),
                p50,
                p95,
                stream=streams.get((svc, fingerprint)) == count,
            )
        )
    return out, len(rows), sum(r[5] for r in rows)


def _percentiles(
    conn: sqlite3.Connection, operation_id: int, service: str | None, fingerprint: str, count: int
) -> tuple[int, int]:
    """Nearest-rank p50 and p95 of all the operation's durations: the kept bucket counts
    (operation_durations) name the bucket that holds each rank, and one offset into that bucket
    of the (fingerprint, service, duration) index, walked from whichever end is nearer, reads it."""
    buckets = conn.execute(
        "SELECT bucket, count FROM operation_durations WHERE operation_id = ? ORDER BY bucket", (operation_id,)
    ).fetchall()

    def at(rank: float) -> int:
        offset = nearest_rank_index(count, rank)
        before = 0
        for n, (low, inside) in enumerate(buckets):
            if offset < before + inside:
                skip, from_top = offset - before, before + inside - 1 - offset
                high = buckets[n + 1][0] if n + 1 < len(buckets) else None
                direction, skip = ("DESC", from_top) if from_top < skip else ("", skip)
                below = "" if high is None else "AND duration_ns < :high"  # a range the index seeks to
                row = conn.execute(
                    "SELECT duration_ns FROM spans WHERE fingerprint = :fp AND service IS :svc "
                    f"AND duration_ns >= :low {below} ORDER BY duration_ns {direction} LIMIT 1 OFFSET :skip",
                    {"fp": fingerprint, "svc": service, "low": low, "high": high, "skip": skip},
                ).fetchone()
                return row[0] if row else 0
            before += inside
        return 0

    return at(0.5), at(0.95)


def _span_name(conn: sqlite3.Connection, trace_id: str, span_id: str, service: str | None, fingerprint: str) -> str:
    row = conn.execute(
        "SELECT name FROM spans WHERE trace_id = ? AND span_id = ? AND fingerprint = ? AND service IS ? "
        "ORDER BY shared LIMIT 1",
        (trace_id, span_id, fingerprint, service),
    ).fetchone()
    return row[0] if row else ""


@dataclass(frozen=True)
class _TraceScope:
    """A global scope cut into traces wholly in it and traces that cross the edge of its time window."""

    inside: str  # SQL condition on traces `t`
    edge: list[str]  # trace ids whose spans must be checked one by one
    params: dict[str, Any]


def _trace_scope(conn: sqlite3.Connection, scope: SpanScope) -> _TraceScope:
    """Which traces a route / time scope holds whole, and which it holds in part.

    A span is in the time window when it overlaps it; a trace's spans lie within the trace's
    own start and end, so a trace inside the window counts whole, one outside not at all, and
    only a trace across an edge needs its spans read:

        window            |<---------------- since .. until ---------------->|
        inside                 [==trace==]        [====trace====]
        edge            [====|=trace]                               [trace=|====]
        outside  [trace]                                                          [trace]

    An edge trace starts at most the longest trace's duration before the edge it crosses.
    """
    params: dict[str, Any] = {"route": scope.route, **_window(scope)}
    route = "t.http_route = :route" if scope.route is not None else "1"
    if scope.since_ns is None and scope.until_ns is None:
        return _TraceScope(route, [], params)
    longest = conn.execute("SELECT max(duration_ns) FROM traces").fetchone()[0] or 0
    edge = [
        row[0]
        for row in conn.execute(
            f"""
            SELECT t.trace_id FROM traces t WHERE {route} AND t.start_ns >= :since - :longest AND t.start_ns < :since
                AND t.end_ns >= :since
            UNION
            SELECT t.trace_id FROM traces t WHERE {route} AND t.start_ns > :until - :longest AND t.start_ns <= :until
                AND t.end_ns > :until
            """,
            {**params, "longest": longest},
        )
    ]
    # Both ends bounded on both columns (a trace ends after it starts), so either index reads only the window.
    inside = f"{route} AND t.start_ns BETWEEN :since AND :until AND t.end_ns BETWEEN :since AND :until"
    return _TraceScope(inside, edge, params)


def _slow_operations_of_traces(
    conn: sqlite3.Connection, scope: SpanScope, limit: int, streams: dict[tuple[str | None, str], int]
) -> tuple[list[OperationRow], int, int]:
    """Two passes over what the traces in scope contribute, and over the in-window spans of edge traces:
    sums in SQL that rank every operation, then the durations and worst span of the operations shown."""
    cut = _trace_scope(conn, scope)
    names = {row[0]: (row[1], row[2]) for row in conn.execute("SELECT id, service, fingerprint FROM operations")}
    params = {**cut.params, "edge": orjson.dumps(cut.edge).decode()}
    edge_spans = """
        edge_spans AS (
            SELECT o.id AS operation_id, s.trace_id, s.span_id, s.duration_ns, coalesce(s.self_ns, 0) AS self_ns,
                   coalesce(s.critical_ns, 0) AS critical_ns
            FROM spans s JOIN operations o ON o.op_key = json_array(s.service, s.fingerprint)
            WHERE s.trace_id IN (SELECT value FROM json_each(:edge)) AND s.end_ns >= :since AND s.start_ns <= :until)
    """
    rows = "traces t CROSS JOIN operation_traces ot ON ot.trace_id = t.trace_id"  # the traces first, then their rows
    inside = f"{rows} WHERE {cut.inside}"
    ranked = []
    for op_id, count, traces, critical, self_ns, total, max_ns in conn.execute(
        f"""
        WITH {edge_spans}, contributions AS (
            SELECT ot.operation_id, ot.span_count, ot.critical_ns, ot.self_ns, ot.total_ns, ot.max_ns FROM {inside}
            UNION ALL
            SELECT operation_id, count(*), sum(critical_ns), sum(self_ns), sum(duration_ns), max(duration_ns)
            FROM edge_spans GROUP BY operation_id, trace_id)
        SELECT operation_id, sum(span_count), count(*), sum(critical_ns), sum(self_ns), sum(total_ns), max(max_ns)
        FROM contributions GROUP BY operation_id
        """,
        params,
    ):
        service, fingerprint = names[op_id]
        if fingerprint is not None and (not scope.service or service == scope.service):
            ranked.append((op_id, service, fingerprint, count, traces, critical, self_ns, total, max_ns))
    ranked.sort(key=lambda r: (streams.get((r[1], r[2])) == r[3], -r[5], -r[6], r[2], r[1] or ""))
    # Every duration and the worst span of the operations shown (the traces' kept rows: an int for a
    # trace with one span of the operation, else a JSON list), in one tight pass.
    durations: dict[int, list[int | str]] = {r[0]: [] for r in ranked[:limit]}
    worst: dict[int, tuple[int, int, str, str]] = {}
    for op_id, value, critical, duration, trace_id, span_id in conn.execute(
        f"""
        WITH {edge_spans}
        SELECT ot.operation_id, coalesce(ot.durations, ot.total_ns), ot.worst_critical_ns, ot.worst_duration_ns,
               ot.trace_id, ot.worst_span_id
        FROM {inside} AND +ot.operation_id IN (SELECT value FROM json_each(:shown))
        UNION ALL
        SELECT operation_id, duration_ns, critical_ns, duration_ns, trace_id, span_id FROM edge_spans
        WHERE operation_id IN (SELECT value FROM json_each(:shown))
        """,
        {**params, "shown": orjson.dumps(list(durations)).decode()},
    ):
        durations[op_id].append(value)
        best = worst.get(op_id)
        if best is None or critical > best[0] or (critical == best[0] and duration > best[1]):
            worst[op_id] = (critical, duration, trace_id, span_id)
    out = []
    for op_id, service, fingerprint, count, traces, critical, self_ns, total, max_ns in ranked[:limit]:
        ordered = sorted(
            d for value in durations[op_id] for d in (orjson.loads(value) if isinstance(value, str) else (value,))
        )
        _, _, trace_id, span_id = worst[op_id]
        out.append(
            OperationRow(
                service,
                fingerprint,
                count,
                traces,
                critical,
                self_ns,
                total,
                max_ns,
                trace_id,
                span_id,
                _span_name(conn, trace_id, span_id, service, fingerprint),
                nearest_rank(ordered, 0.5),
                nearest_rank(ordered, 0.95),
                stream=streams.get((service, fingerprint)) == count,
            )
        )
    return out, len(ranked), sum(r[5] for r in ranked)


def _slow_operations_in(conn: sqlite3.Connection, scope: SpanScope, limit: int) -> tuple[list[OperationRow], int, int]:
    where, params = scopes.scope_where(scope)
    rows = conn.execute(
        "SELECT service, fingerprint, trace_id, span_id, name, duration_ns, coalesce(self_ns, 0), "
        f"coalesce(critical_ns, 0), coalesce(after_ns, 0), stream FROM spans s WHERE {where} "
        "AND fingerprint IS NOT NULL",
        params,
    ).fetchall()
    groups: dict[tuple[str | None, str], list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault((row[0], row[1]), []).append(row)
    ranked = sorted(
        groups.items(),
        key=lambda item: (
            all(r[9] for r in item[1]),  # streams after the work
            -sum(r[7] for r in item[1]),
            -sum(r[8] for r in item[1]),
            -sum(r[6] for r in item[1]),
            item[0][1],
            item[0][0] or "",
        ),
    )
    out = []
    for (service, fingerprint), members in ranked[:limit]:
        durations = sorted(r[5] for r in members)
        worst = max(members, key=lambda r: (r[7], r[8], r[5], r[3]))
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
                p50_ns=nearest_rank(durations, 0.5),
                p95_ns=nearest_rank(durations, 0.95),
                after_ns=sum(r[8] for r in members),
                stream=all(r[9] for r in members),
            )
        )
    return out, len(groups), sum(r[7] for r in rows)


# A global scope this small is read whole and sorted; a larger one is walked in critical-time order
# (the spans_critical index), which finds its top spans after about limit x all / scope entries.
DIRECT_SPANS = 20_000


def slow_spans(conn: sqlite3.Connection, scope: SpanScope, limit: int) -> tuple[list[SpanRow], int]:
    """Single spans ranked by time on the critical path, then self time; how many spans the scope holds.
    Streams (analysis/streams.py) come after all the work."""
    where, params = scopes.scope_where(scope)
    select = (
        "SELECT s.trace_id, s.span_id, s.service, s.name, s.fingerprint, s.duration_ns, coalesce(s.self_ns, 0), "
        "coalesce(s.critical_ns, 0), t.duration_ns, coalesce(s.after_ns, 0), s.stream "
        "FROM spans s {index} JOIN traces t ON t.trace_id = s.trace_id"
    )
    order = "ORDER BY s.critical_ns DESC, s.self_ns DESC, s.id LIMIT :limit"
    if scope.trace_id or scope.session_id:
        total = conn.execute(f"SELECT count(*) FROM spans s WHERE {where}", params).fetchone()[0]
        rows = conn.execute(
            f"{select.format(index='')} WHERE {where} "
            "ORDER BY s.stream, +s.critical_ns DESC, s.after_ns DESC, s.self_ns DESC, s.id LIMIT :limit",
            {**params, "limit": limit},
        ).fetchall()
        return with_code_locations(conn, [SpanRow(*r) for r in rows]), total
    total = _span_total(conn, scope)
    if total <= DIRECT_SPANS:
        if scope.since_ns is not None or scope.until_ns is not None:  # reach the spans through their traces
            where += (
                " AND s.trace_id IN (SELECT trace_id FROM traces WHERE end_ns >= :w_since AND start_ns <= :w_until)"
            )
            params = {**params, **_window(scope, prefix="w_")}
        rows = conn.execute(
            f"{select.format(index='')} WHERE {where} "
            "ORDER BY s.stream, +s.critical_ns DESC, s.self_ns DESC, s.id LIMIT :limit",
            {**params, "limit": limit},
        ).fetchall()
    else:
        rows = conn.execute(
            f"{select.format(index='INDEXED BY spans_critical')} WHERE s.critical_ns > 0 AND {where} {order}",
            {**params, "limit": limit},
        ).fetchall()
        if len(rows) < limit:  # fewer spans on a critical path than asked for: the rest by self time
            rows += conn.execute(
                f"{select.format(index='')} WHERE (s.critical_ns IS NULL OR s.critical_ns <= 0) AND {where} {order}",
                {**params, "limit": limit - len(rows)},
            ).fetchall()
        rows.sort(key=lambda r: r[-1])  # streams after the work, in ranking order otherwise
    return with_code_locations(conn, [SpanRow(*r) for r in rows]), total


def _window(scope: SpanScope, prefix: str = "") -> dict[str, int]:
    return {
        f"{prefix}since": scope.since_ns if scope.since_ns is not None else -(2**63),
        f"{prefix}until": scope.until_ns if scope.until_ns is not None else 2**63 - 1,
    }


def _span_total(conn: sqlite3.Connection, scope: SpanScope) -> int:
    """How many spans a global scope holds, from the kept summaries (and the spans of edge traces)."""
    if scope.route is None and scope.since_ns is None and scope.until_ns is None:
        return conn.execute(
            "SELECT coalesce(sum(span_count), 0) FROM operations WHERE :service IS NULL OR service = :service",
            {"service": scope.service or None},
        ).fetchone()[0]
    cut = _trace_scope(conn, scope)
    inside = conn.execute(
        "SELECT coalesce(sum(ot.span_count), 0) FROM traces t CROSS JOIN operation_traces ot "
        f"ON ot.trace_id = t.trace_id JOIN operations o ON o.id = ot.operation_id WHERE {cut.inside} "
        f"{'AND o.service = :service' if scope.service else ''}",
        {**cut.params, "service": scope.service},
    ).fetchone()[0]
    edge = 0
    for chunk in range(0, len(cut.edge), 500):
        part = cut.edge[chunk : chunk + 500]
        edge += conn.execute(
            f"SELECT count(*) FROM spans WHERE trace_id IN ({','.join('?' * len(part))}) AND end_ns >= ? "
            "AND start_ns <= ? AND (? IS NULL OR service = ?)",
            [*part, *_window(scope).values(), scope.service or None, scope.service or None],
        ).fetchone()[0]
    return inside + edge


def failures(conn: sqlite3.Connection, scope: SpanScope) -> Failures:
    """Failed spans, browser errors and failed requests, and error logs in a scope (bounded)."""
    where, params = scopes.scope_where(scope)
    # Failed spans are few: over all data they are read through their own (partial) index, whatever
    # else filters them, never by walking every span of a service or route.
    index = "" if scope.trace_id or scope.session_id else "INDEXED BY spans_failed"
    span_rows = conn.execute(
        f"SELECT s.id, t.session_id FROM spans s {index} JOIN traces t ON t.trace_id = s.trace_id "
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
        event_where, event_params = scopes.scope_where(scope, scopes.EVENTS)
        cur = conn.execute(
            f"SELECT session_id, {EVENT_COLUMNS} FROM events e WHERE {BROWSER_PROBLEM} AND shadowed = 0 AND "
            f"{event_where} ORDER BY coalesce(time_ns, 0), seq LIMIT :cap",
            {**event_params, "cap": MAX_FAILURES},
        )
        events = [(row[0], event_from_row(row[1:])) for row in cur]

    log_where, log_params = scopes.scope_where(scope, scopes.LOGS)
    cur = conn.execute(
        f"SELECT l.session_id, t.session_id, {LOG_COLUMNS} FROM {LOG_FROM} "
        "LEFT JOIN traces t ON t.trace_id = l.trace_id "
        f"WHERE l.severity_number >= 17 AND {log_where} ORDER BY l.time_ns LIMIT :cap",
        {**log_params, "cap": MAX_FAILURES},
    )
    logs = [(row[0] or row[1], log_from_row(row[2:])) for row in cur]
    truncated = max(len(span_rows), len(events), len(logs)) >= MAX_FAILURES
    return Failures(spans, events, logs, truncated)


def session_actions(conn: sqlite3.Connection, session_ids: list[str]) -> dict[str, list[Event]]:
    """The user actions (clicks, typing, navigations, focus) of each session, in time order."""
    out: dict[str, list[Event]] = {}
    for sid in session_ids:
        cur = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE session_id = ? AND shadowed = 0 "
            f"AND kind IN ({','.join('?' * len(ACTION_KINDS))}) ORDER BY coalesce(time_ns, 0), seq",
            (sid, *ACTION_KINDS),
        )
        out[sid] = [event_from_row(row) for row in cur]
    return out


def span_parents(conn: sqlite3.Connection, trace_ids: list[str]) -> dict[tuple[str, str], str | None]:
    """(trace id, span id) → parent span id, for every span of these traces (the ancestry of their failures)."""
    out: dict[tuple[str, str], str | None] = {}
    for chunk in range(0, len(trace_ids), 500):
        part = trace_ids[chunk : chunk + 500]
        for trace_id, span_id, parent in conn.execute(
            f"SELECT trace_id, span_id, parent_span_id FROM spans WHERE trace_id IN ({','.join('?' * len(part))}) "
            "ORDER BY shared",  # a Zipkin shared span reuses its client's id: the client's parent wins
            part,
        ):
            out.setdefault((trace_id, span_id), parent)
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
