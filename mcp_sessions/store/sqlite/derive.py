"""Derived rows: traces and sessions rebuilt from the spans, logs and events an ingest touched.

Called by the writer inside its transaction (`IngestWriter.finish`), and by the schema upgrade
(`backfill_span_analysis`). Every function works on ids loaded into a temporary table, so one
statement covers all touched traces or sessions.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

import orjson

from mcp_sessions import urls
from mcp_sessions.analysis.critical_path import critical_path
from mcp_sessions.analysis.fingerprint import attributes_fingerprint
from mcp_sessions.analysis.patterns import Pattern, trace_patterns
from mcp_sessions.analysis.selftime import self_times
from mcp_sessions.analysis.streams import stream_kind
from mcp_sessions.analysis.tree import TraceTree, build_tree
from mcp_sessions.config import DEFAULT_SESSION_GAP_NS
from mcp_sessions.model import SpanEvent
from mcp_sessions.store.sqlite.rows import BROWSER_PROBLEM, PATTERN_COLUMNS
from mcp_sessions.store.sqlite.summaries import OperationSpan, trace_operations, update_operations

# Keyless events of one client more than this far apart belong to different sessions (the default; a setting).
SESSION_GAP_NS = DEFAULT_SESSION_GAP_NS
# A request and the server span it caused start within this window of each other (clocks differ).
LINK_WINDOW_NS = 2 * 1_000_000_000
# Traces derived per read of their spans: bounds memory however many traces an ingest touched.
CHUNK_TRACES = 4000


def sessionize(conn: sqlite3.Connection, ingest_id: int | None, gap_ns: int = SESSION_GAP_NS) -> None:
    """Give keyless events of this ingest a session: per client, a new one after `gap_ns` of inactivity.

        client A:  e e e e ............ 31 min ............ e e e
                   └── auto-3f2a… ──┘                       └── auto-9c1d… ──┘

    A client's earlier automatic session (from another file) continues when the gap to it is
    short enough. Events without timestamps stay in one session per client and recording.
    """
    rows = conn.execute(
        "SELECT id, coalesce(client_key, 'ingest-' || ingest_id), time_ns FROM events "
        "WHERE ingest_id = ? AND session_id IS NULL ORDER BY 2, time_ns, seq",
        (ingest_id,),
    ).fetchall()
    current_client, current_session, last_time = None, None, None
    updates = []
    for event_id, client, time_ns in rows:
        if client != current_client:
            current_client, last_time = client, None
            current_session = _continued_session(conn, client, time_ns, gap_ns) if time_ns is not None else None
        if current_session is None or (time_ns is not None and last_time is not None and time_ns - last_time > gap_ns):
            seed = f"{client}|{time_ns if time_ns is not None else ingest_id}"
            current_session = "auto-" + hashlib.blake2b(seed.encode(), digest_size=6).hexdigest()
        if time_ns is not None:
            last_time = time_ns
        updates.append((current_session, event_id))
    conn.executemany("UPDATE events SET session_id = ? WHERE id = ?", updates)


def _continued_session(conn: sqlite3.Connection, client: str, time_ns: int, gap_ns: int) -> str | None:
    row = conn.execute(
        "SELECT session_id FROM events WHERE client_key = ? AND session_id LIKE 'auto-%' AND time_ns <= ? "
        "AND time_ns >= ? ORDER BY time_ns DESC LIMIT 1",
        (client, time_ns, time_ns - gap_ns),
    ).fetchone()
    return row[0] if row else None


def link_by_time_window(
    conn: sqlite3.Connection, ingest_id: int | None, trace_ids: set[str], window_ns: int = LINK_WINDOW_NS
) -> int:
    """Link requests that carried no trace header to the server span they caused.

    A network event matches the root server span with the same method, whose URL ends with
    the request's path (or whose route matches it), starting within `window_ns` of the
    request; the closest start wins, and each trace is claimed once. Runs for this ingest's
    events and for events that could match the traces this ingest brought, so linking
    happens whichever side is ingested first.
    """
    load_ids(conn, "touched_traces", trace_ids)
    candidates = conn.execute(
        "SELECT e.id, e.method, e.url, e.time_ns, coalesce(e.duration_ns, 0) FROM events e "
        "WHERE e.kind = 'network' AND e.trace_id IS NULL AND e.time_ns IS NOT NULL AND e.method IS NOT NULL "
        "AND (e.ingest_id = ? OR EXISTS (SELECT 1 FROM traces t WHERE t.trace_id IN (SELECT id FROM touched_traces) "
        "AND t.start_ns BETWEEN e.time_ns - ? AND e.time_ns + coalesce(e.duration_ns, 0) + ?))",
        (ingest_id, window_ns, window_ns),
    ).fetchall()
    linked = 0
    for event_id, method, url, time_ns, duration in candidates:
        path = _path_of(url)
        if not path:
            continue
        row = conn.execute(
            "SELECT t.trace_id, t.root_span_id FROM traces t WHERE t.http_method = ? AND t.root_kind = 'server' "
            "AND t.start_ns BETWEEN ? AND ? AND (t.http_url LIKE ? OR t.http_url = ? OR t.http_route = ?) "
            "AND NOT EXISTS (SELECT 1 FROM events x WHERE x.trace_id = t.trace_id) "
            "ORDER BY abs(t.start_ns - ?) LIMIT 1",
            (method.upper(), time_ns - window_ns, time_ns + duration + window_ns, f"%{path}", path, path, time_ns),
        ).fetchone()
        if row:
            conn.execute(
                "UPDATE events SET trace_id = ?, span_id = ?, link_method = 'time-window' WHERE id = ?",
                (row[0], row[1], event_id),
            )
            linked += 1
    return linked


def _path_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urls.split(url)
    return parts.path + (f"?{parts.query}" if parts.query else "") if parts.path else None


def load_ids(conn: sqlite3.Connection, table: str, ids: Iterable[str]) -> None:
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY) WITHOUT ROWID")
    conn.execute(f"DELETE FROM {table}")
    conn.executemany(f"INSERT OR IGNORE INTO {table} (id) VALUES (?)", ((i,) for i in ids))


class _StoredSpan(NamedTuple):
    """A span row as derivation reads it: what the timing analyses and the trace row need.

    A tuple, not a model `Span`: building a frozen `Span` for every stored span of every
    touched trace took nearly as long as the tree, critical path and self time themselves.
    """

    id: int
    trace_id: str
    span_id: str
    parent_span_id: str | None
    shared: int
    kind: str
    start_ns: int
    end_ns: int
    end_known: int
    stream: int
    self_ns: int | None
    critical_ns: int | None
    after_ns: int | None
    status_code: str
    duration_ns: int
    service: str | None
    fingerprint: str | None
    session_id: str | None
    user_id: str | None
    name: str
    http_method: str | None
    http_route: str | None
    http_status: int | None
    http_url: str | None
    db_system: str | None
    db_statement: str | None
    code_function: str | None
    code_filepath: str | None
    code_lineno: int | None


_TRACE_COLUMNS = (
    "trace_id",
    "start_ns",
    "end_ns",
    "duration_ns",
    "span_count",
    "error_count",
    "service_count",
    "services",
    "root_span_id",
    "root_service",
    "root_name",
    "root_kind",
    "http_method",
    "http_route",
    "http_status",
    "http_url",
    "user_id",
    "session_id",
    "session_source",
)
_SESSION = _TRACE_COLUMNS.index("session_id")
_SESSION_SOURCE = _TRACE_COLUMNS.index("session_source")
# What the trace row takes from its root span (root_span_id, root_service, ... http_url).
_ROOT_FIELDS = ("span_id", "service", "name", "kind", "http_method", "http_route", "http_status", "http_url")
_ROOT_COLUMNS = attrgetter(*_ROOT_FIELDS)
_NO_ROOT = (None,) * len(_ROOT_FIELDS)


def derive_traces(conn: sqlite3.Connection, trace_ids: Iterable[str]) -> set[str]:
    """Rebuild the `traces` rows of `trace_ids`, their operation summaries and patterns; returns every session touched.

    One read of the touched spans serves the spans' self and critical-path times, the trace
    rows, what each trace contributes to the operation summaries (store/summaries.py) and the
    patterns found in it (`trace_patterns`).
    Traces are derived `CHUNK_TRACES` at a time, in trace id order, each chunk written before
    the next is read.
    """
    load_ids(conn, "touched_traces", trace_ids)
    sessions = {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT session_id FROM traces WHERE session_id IS NOT NULL "
            "AND trace_id IN (SELECT id FROM touched_traces)"
        )
    }
    for first, last in _touched_chunks(conn):
        timing: list[tuple[int, ...]] = []
        rows: list[list[Any]] = []
        operations = {}
        patterns: list[tuple[Any, ...]] = []
        for spans in _touched_spans_by_trace(conn, first, last):
            tree = build_tree(spans)
            times = _span_times(tree)
            timing += _timing_changes(spans, times)
            patterns += _pattern_rows(tree)
            rows.append(_trace_row(spans, times))
            operations[spans[0].trace_id] = trace_operations(
                OperationSpan(s.span_id, s.service, s.fingerprint, t.duration_ns, t.critical_ns, t.self_ns)
                for s, t in zip(spans, times, strict=True)
            )
        _write_timing(conn, timing)
        _sessions_from_requests(conn, rows, first, last)
        _write_traces(conn, rows)
        update_operations(conn, operations)
        _write_patterns(conn, patterns, first, last)
        sessions.update(row[_SESSION] for row in rows if row[_SESSION] is not None)
    return sessions


def _touched_chunks(conn: sqlite3.Connection) -> Iterator[tuple[str, str]]:
    """The first and last id of each run of `CHUNK_TRACES` ids in `touched_traces`."""
    ids = [row[0] for row in conn.execute("SELECT id FROM touched_traces ORDER BY id")]
    for start in range(0, len(ids), CHUNK_TRACES):
        chunk = ids[start : start + CHUNK_TRACES]
        yield chunk[0], chunk[-1]


def _touched_spans_by_trace(
    conn: sqlite3.Connection, first: str, last: str, *, last_key: str = "record_hash"
) -> Iterator[list[_StoredSpan]]:
    """The spans of each trace in `touched_traces` from `first` to `last`, by trace id, each trace's in index order.

    The order is the one the analyses see, so their ties fall the same way on every run.
    Records that share ids come in `spans_identity` order, by record hash; a backfill for a
    schema older than 7 passes another `last_key` (ids were unique there, any will do).
    """
    columns = _StoredSpan._fields if _recorded_ends(conn) else _BEFORE_12
    cursor = conn.execute(
        f"SELECT {', '.join(columns)} FROM spans "
        "WHERE trace_id IN (SELECT id FROM touched_traces WHERE id BETWEEN ? AND ?) "
        f"ORDER BY trace_id, span_id, shared, {last_key}",
        (first, last),
    )
    for _, spans in groupby(map(_StoredSpan._make, cursor), attrgetter("trace_id")):
        yield list(spans)


class _SpanTimes(NamedTuple):
    """What derivation keeps per span: its end (the inferred one where none was recorded) and its timings."""

    end_ns: int
    duration_ns: int
    self_ns: int
    critical_ns: int
    after_ns: int


# The span columns as a schema older than 12 holds them (a backfill at schema 3 reads these).
_BEFORE_12 = tuple(
    {"end_known": "1 AS end_known", "after_ns": "NULL AS after_ns", "stream": "0 AS stream"}.get(f, f)
    for f in _StoredSpan._fields
)


def _recorded_ends(conn: sqlite3.Connection) -> bool:
    """Whether the spans table has schema 10's columns (end_known, after_ns)."""
    return any(row[1] == "end_known" for row in conn.execute("PRAGMA table_info(spans)"))


def _span_times(tree: TraceTree[_StoredSpan]) -> list[_SpanTimes]:
    """The end, duration, self, critical-path and after-the-root times of each span of one trace, in order.

    Kept in columns so that ranking spans across all data is one indexed query, not a tree
    walk per trace at question time. A trace is rebuilt whole whenever any of its spans arrives,
    so an end implied by children follows the children stored so far.
    """
    path = critical_path(tree)
    return [
        _SpanTimes(
            *((span.end_ns, span.duration_ns) if span.end_known else (end, end - span.start_ns)),
            self_ns,
            critical_ns,
            after_ns,
        )
        for span, end, self_ns, critical_ns, after_ns in zip(
            tree.spans, tree.ends, self_times(tree), path.by_span, path.after_ns, strict=True
        )
    ]


def _pattern_rows(tree: TraceTree[_StoredSpan]) -> list[tuple[Any, ...]]:
    """The `trace_patterns` rows of one trace, in `PATTERN_COLUMNS` order."""
    return [_pattern_row(p) for p in trace_patterns(tree)]


def _pattern_row(p: Pattern) -> tuple[Any, ...]:
    return (
        p.trace_id,
        p.kind,
        p.service,
        p.fingerprint,
        p.parent_span_id,
        p.parent_name,
        p.count,
        p.total_ns,
        p.impact_ns,
        p.span_ids[0],
    )


def _write_patterns(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], first: str, last: str) -> None:
    """Replace the patterns of the touched traces from `first` to `last`."""
    conn.execute(
        "DELETE FROM trace_patterns WHERE trace_id IN (SELECT id FROM touched_traces WHERE id BETWEEN ? AND ?)",
        (first, last),
    )
    conn.executemany(
        f"INSERT INTO trace_patterns ({', '.join(PATTERN_COLUMNS)}) VALUES ({', '.join('?' * len(PATTERN_COLUMNS))})",
        rows,
    )


def _timing_changes(spans: list[_StoredSpan], times: list[_SpanTimes]) -> list[tuple[int, ...]]:
    """(end_ns, duration_ns, self_ns, critical_ns, after_ns, id) of the spans whose stored times are out of date."""
    return [
        (*t, span.id)
        for span, t in zip(spans, times, strict=True)
        if (span.end_ns, span.duration_ns, span.self_ns, span.critical_ns, span.after_ns) != t
    ]


def _write_timing(conn: sqlite3.Connection, changes: list[tuple[int, ...]]) -> None:
    changes.sort(key=itemgetter(5))  # in row order: the pages they sit on in turn
    if not _recorded_ends(conn):  # a backfill at a schema older than 12: no inferred ends, no after_ns
        conn.executemany(
            "UPDATE spans SET self_ns = ?, critical_ns = ? WHERE id = ?", [c[2:4] + c[5:] for c in changes]
        )
        return
    conn.executemany(
        "UPDATE spans SET end_ns = ?, duration_ns = ?, self_ns = ?, critical_ns = ?, after_ns = ? WHERE id = ?",
        changes,
    )


def _trace_row(spans: list[_StoredSpan], times: list[_SpanTimes]) -> list[Any]:
    """One trace's row, in `_TRACE_COLUMNS` order (ends as `times` keeps them: inferred where none was recorded)."""
    start_ns = min(s.start_ns for s in spans)
    end_ns = max(t.end_ns for t in times)
    services = sorted({s.service for s in spans if s.service is not None})
    # The root: a span without a parent, or whose parent was never reported; the earliest wins.
    reported = {s.span_id for s in spans}
    root = min(
        (
            (s, t.end_ns)
            for s, t in zip(spans, times, strict=True)
            if s.parent_span_id is None or s.parent_span_id not in reported
        ),
        key=lambda pair: (pair[0].start_ns, -pair[1], pair[0].shared, pair[0].span_id),
        default=(None, 0),
    )[0]
    session_id = _most_common(s.session_id for s in spans)
    return [
        spans[0].trace_id,
        start_ns,
        end_ns,
        end_ns - start_ns,
        len(spans),
        sum(s.status_code == "error" for s in spans),
        len(services),
        orjson.dumps(services).decode(),  # compact, as SQLite's json_group_array writes it
        *(_NO_ROOT if root is None else _ROOT_COLUMNS(root)),
        _most_common(s.user_id for s in spans),
        session_id,
        None if session_id is None else "span-attribute",
    ]


def _write_traces(conn: sqlite3.Connection, rows: list[list[Any]]) -> None:
    """Replace the trace rows with one statement, staged in a temporary table.

    One INSERT … SELECT rather than an INSERT per row (executemany): the triggers on `traces`
    (trace_services, trace_search) cost less that way.
    """
    columns = ", ".join(_TRACE_COLUMNS)
    # Untyped columns: values reach `traces` exactly as computed, converted only by its own types.
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS derived_traces ({columns}, PRIMARY KEY (trace_id)) WITHOUT ROWID")
    conn.execute("DELETE FROM derived_traces")
    conn.executemany(f"INSERT INTO derived_traces VALUES ({', '.join('?' * len(_TRACE_COLUMNS))})", rows)
    conn.execute(f"INSERT OR REPLACE INTO traces ({columns}) SELECT {columns} FROM derived_traces ORDER BY trace_id")


def _sessions_from_requests(conn: sqlite3.Connection, rows: list[list[Any]], first: str, last: str) -> None:
    """No span says which session: the browser request that started the trace does."""
    sessionless = {row[0]: row for row in rows if row[_SESSION] is None}
    if not sessionless:
        return
    by_trace: dict[str, list[str]] = {}
    for trace_id, session_id in conn.execute(
        "SELECT trace_id, session_id FROM events WHERE trace_id IN (SELECT id FROM touched_traces "
        "WHERE id BETWEEN ? AND ?) AND session_id IS NOT NULL",
        (first, last),
    ):
        if trace_id in sessionless:
            by_trace.setdefault(trace_id, []).append(session_id)
    for trace_id, sessions in by_trace.items():
        row = sessionless[trace_id]
        row[_SESSION], row[_SESSION_SOURCE] = _most_common(sessions), "request"


def _most_common(values: Iterable[str | None]) -> str | None:
    """The value given most often, ignoring None; ties go to the smallest."""
    counts = Counter(v for v in values if v is not None)
    return min(counts, key=lambda v: (-counts[v], v)) if counts else None


def backfill_span_analysis(conn: sqlite3.Connection, *, last_key: str = "id") -> bool:
    """Fingerprints, ends, self, critical-path and after-the-root times of stored spans (run at schemas 3 and 12);
    whether any span's self or critical-path time changed. `last_key` orders records that share ids
    (see `_touched_spans_by_trace`)."""
    rows = conn.execute("SELECT id, name, kind, attributes FROM spans WHERE fingerprint IS NULL").fetchall()
    conn.executemany(
        "UPDATE spans SET fingerprint = ? WHERE id = ?",
        ((attributes_fingerprint(name, kind, orjson.loads(attrs)), id_) for id_, name, kind, attrs in rows),
    )
    load_ids(conn, "touched_traces", (r[0] for r in conn.execute("SELECT trace_id FROM traces")))
    changed = False
    for first, last in _touched_chunks(conn):
        changes = []
        for spans in _touched_spans_by_trace(conn, first, last, last_key=last_key):
            times = _span_times(build_tree(spans))
            changed = changed or any(
                (t.self_ns, t.critical_ns) != (s.self_ns, s.critical_ns) for s, t in zip(spans, times, strict=True)
            )
            changes += _timing_changes(spans, times)
        _write_timing(conn, changes)
    return changed


def backfill_streams(conn: sqlite3.Connection) -> None:
    """Mark the stored spans that are long-lived streams (analysis/streams.py; run at schema 10).

    Only spans whose attributes or name could say so are read: every rule needs one of these words.
    """
    rows = conn.execute(
        "SELECT id, name, start_ns, end_ns, attributes, events FROM spans WHERE attributes LIKE '%rpc.system%' "
        "OR attributes LIKE '%event-stream%' OR lower(attributes) LIKE '%websocket%' OR attributes LIKE '%ws%' "
        "OR attributes LIKE '%101%' OR lower(name) LIKE '%websocket%' OR attributes LIKE '%messaging.operation%'"
    ).fetchall()
    marked = [
        (id_,)
        for id_, name, start, end, attributes, events in rows
        if stream_kind(
            name,
            orjson.loads(attributes),
            [SpanEvent(e["time_ns"], e["name"], e["attributes"]) for e in orjson.loads(events)],
            max(0, end - start),
        )
    ]
    conn.executemany("UPDATE spans SET stream = 1 WHERE id = ?", marked)


def backfill_patterns(conn: sqlite3.Connection) -> None:
    """The patterns of every stored trace (for traces derived before schema 7)."""
    load_ids(conn, "touched_traces", (r[0] for r in conn.execute("SELECT trace_id FROM traces")))
    for first, last in _touched_chunks(conn):
        rows = [row for spans in _touched_spans_by_trace(conn, first, last) for row in _pattern_rows(build_tree(spans))]
        _write_patterns(conn, rows, first, last)


def derive_sessions(conn: sqlite3.Connection, session_ids: Iterable[str]) -> None:
    """Rebuild the `sessions` rows of `session_ids` from their traces, logs and frontend events.

    A session lasts from the first to the last thing any of its sources recorded: trace
    extents, log times, event times plus durations, and an rrweb recording's own first and last
    timestamps (`recording_start_ns` / `recording_end_ns`, formats/rrweb.py). A session with no
    timestamps at all starts at 0 and lasts 0, which every tool shows as an unknown time.
    """
    load_ids(conn, "touched_sessions", session_ids)
    conn.execute("DELETE FROM sessions WHERE session_id IN (SELECT id FROM touched_sessions)")
    conn.execute(
        f"""
        INSERT INTO sessions (session_id, user_id, service, services, sources, start_ns, end_ns, duration_ns,
                              first_url, trace_count, span_count, error_count, log_count, event_count,
                              request_count, frontend_error_count)
        SELECT id, user_id, service, services, sources, start_ns, end_ns, end_ns - start_ns, first_url,
               trace_count, span_count, error_count, log_count, event_count, request_count, frontend_error_count
        FROM (
            SELECT t.id,
                coalesce(
                    (SELECT user_id FROM traces WHERE session_id = t.id AND user_id IS NOT NULL
                     GROUP BY user_id ORDER BY count(*) DESC LIMIT 1),
                    (SELECT user_id FROM events WHERE session_id = t.id AND user_id IS NOT NULL
                     GROUP BY user_id ORDER BY count(*) DESC LIMIT 1)) AS user_id,
                (SELECT root_service FROM traces WHERE session_id = t.id AND root_service IS NOT NULL
                 GROUP BY root_service ORDER BY count(*) DESC, root_service LIMIT 1) AS service,
                coalesce((SELECT json_group_array(value) FROM (
                    SELECT DISTINCT j.value FROM traces, json_each(traces.services) j
                    WHERE traces.session_id = t.id ORDER BY j.value)), '[]') AS services,
                coalesce((SELECT json_group_array(format) FROM (
                    SELECT DISTINCT i.format FROM ingests i WHERE i.id IN (
                        SELECT s.ingest_id FROM traces tr JOIN spans s ON s.trace_id = tr.trace_id
                        WHERE tr.session_id = t.id
                        UNION SELECT l.ingest_id FROM logs l WHERE l.session_id = t.id
                        UNION SELECT e.ingest_id FROM events e WHERE e.session_id = t.id)
                    ORDER BY i.format)), '[]') AS sources,
                coalesce((SELECT min(v) FROM (
                    SELECT min(start_ns) AS v FROM traces WHERE session_id = t.id
                    UNION ALL SELECT min(time_ns) FROM logs WHERE session_id = t.id
                    UNION ALL SELECT min(time_ns) FROM events WHERE session_id = t.id
                    UNION ALL SELECT min(json_extract(detail, '$.recording_start_ns')) FROM events
                        WHERE session_id = t.id AND source = 'rrweb')), 0) AS start_ns,
                coalesce((SELECT max(v) FROM (
                    SELECT max(end_ns) AS v FROM traces WHERE session_id = t.id
                    UNION ALL SELECT max(time_ns) FROM logs WHERE session_id = t.id
                    UNION ALL SELECT max(time_ns + coalesce(duration_ns, 0)) FROM events WHERE session_id = t.id
                    UNION ALL SELECT max(json_extract(detail, '$.recording_end_ns')) FROM events
                        WHERE session_id = t.id AND source = 'rrweb')), 0) AS end_ns,
                coalesce(
                    (SELECT url FROM events WHERE session_id = t.id AND kind = 'navigation' AND url IS NOT NULL
                     ORDER BY time_ns, seq LIMIT 1),
                    (SELECT coalesce(http_url, http_route) FROM traces WHERE session_id = t.id
                     AND coalesce(http_url, http_route) IS NOT NULL ORDER BY start_ns LIMIT 1)) AS first_url,
                (SELECT count(*) FROM traces WHERE session_id = t.id) AS trace_count,
                (SELECT coalesce(sum(span_count), 0) FROM traces WHERE session_id = t.id) AS span_count,
                (SELECT coalesce(sum(error_count), 0) FROM traces WHERE session_id = t.id) AS error_count,
                (SELECT count(*) FROM logs WHERE session_id = t.id OR trace_id IN (
                    SELECT trace_id FROM traces WHERE session_id = t.id)) AS log_count,
                (SELECT count(*) FROM events WHERE session_id = t.id AND shadowed = 0) AS event_count,
                (SELECT count(*) FROM events WHERE session_id = t.id AND kind = 'network' AND shadowed = 0)
                    AS request_count,
                (SELECT count(*) FROM events WHERE session_id = t.id AND shadowed = 0 AND {BROWSER_PROBLEM})
                    AS frontend_error_count
            FROM touched_sessions t
        )
        WHERE trace_count > 0 OR log_count > 0 OR event_count > 0
        """
    )
