"""Derived tables that let questions over all data skip reading every span or trace.

Schema 4 keeps, beside the rows the writer stores:

    operations        per operation (service + fingerprint): spans, traces, critical-path,
                      self and total time, over all data
    operation_traces  what each trace contributes to each of its operations, with its worst
                      span and its spans' durations (for filtered rankings and percentiles)
    trace_services    one row per service a trace touches (the `services` JSON list, indexed)
    trace_search      one line of text per trace: id, root operation, route, URL
    session_search    one line per session: id, user, services, first URL, and the distinct
                      root operations, routes and URLs of its traces

Triggers on `traces` and `sessions` (schema.py, migration 4) keep them exact, so no writer
has to know about them. They rely on how traces and sessions are derived:

    spans of trace T arrive ──► self/critical times of T's spans ──► traces row of T written
                                                                     (insert, or update of its
                                                                      counts) ─► trigger: take
                                                                      back T's old contribution,
                                                                      add the new one
    retention removes T ──────► spans of T deleted ─► traces row deleted ─► trigger: take back

and a session row is written again after any of its traces changed. `rebuild` computes
everything from the stored rows (the schema-4 backfill); `differences` compares the kept
tables with a fresh computation, for tests and for checking a database by hand.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from mcp_sessions.store.schema import SESSION_TEXT, TRACE_TEXT

_OPERATION_TRACES = """
    SELECT trace_id, operation_id, count(*) AS span_count, sum(critical_ns) AS critical_ns, sum(self_ns) AS self_ns,
           sum(duration_ns) AS total_ns, max(duration_ns) AS max_ns, max(CASE WHEN rank = 1 THEN span_id END)
           AS worst_span_id, max(CASE WHEN rank = 1 THEN critical_ns END) AS worst_critical_ns,
           max(CASE WHEN rank = 1 THEN duration_ns END) AS worst_duration_ns,
           CASE WHEN count(*) > 1 THEN json_group_array(duration_ns) END AS durations
    FROM (SELECT s.trace_id, o.id AS operation_id, s.span_id, s.duration_ns,
                 coalesce(s.critical_ns, 0) AS critical_ns, coalesce(s.self_ns, 0) AS self_ns,
                 row_number() OVER (PARTITION BY s.trace_id, o.id ORDER BY coalesce(s.critical_ns, 0) DESC,
                                    s.duration_ns DESC, s.span_id) AS rank
          FROM spans s JOIN operations o ON o.op_key = json_array(s.service, s.fingerprint)
          WHERE s.trace_id IN (SELECT trace_id FROM traces))
    GROUP BY trace_id, operation_id
"""

_COLUMNS = (
    "{t}span_count, {t}critical_ns, {t}self_ns, {t}total_ns, {t}max_ns, {t}worst_span_id, {t}worst_critical_ns, "
    "{t}worst_duration_ns, {t}durations"
)
_TOTALS = (
    "SELECT operation_id, sum(span_count) AS spans, count(*) AS traces, sum(critical_ns) AS critical, "
    "sum(self_ns) AS self, sum(total_ns) AS total FROM {source} GROUP BY operation_id"
)


def rebuild(conn: sqlite3.Connection) -> None:
    """Compute every derived table from the stored spans, traces and sessions (inside the caller's transaction)."""
    for table in ("operation_traces", "operations", "trace_services", "trace_search", "session_search"):
        conn.execute(f"DELETE FROM {table}")
    conn.execute(
        "INSERT INTO operations (op_key, service, fingerprint) "
        "SELECT DISTINCT json_array(service, fingerprint), service, fingerprint FROM spans "
        "WHERE trace_id IN (SELECT trace_id FROM traces)"
    )
    conn.execute(f"INSERT INTO operation_traces (trace_id, operation_id, {_COLUMNS.format(t='')}) {_OPERATION_TRACES}")
    conn.execute(
        "UPDATE operations SET (span_count, trace_count, critical_ns, self_ns, total_ns) = "
        f"(t.spans, t.traces, t.critical, t.self, t.total) FROM ({_TOTALS.format(source='operation_traces')}) AS t "
        "WHERE operations.id = t.operation_id"
    )
    conn.execute(
        "INSERT INTO trace_services (trace_id, service) SELECT t.trace_id, j.value FROM traces t, "
        "json_each(t.services) j WHERE j.value IS NOT NULL"
    )
    conn.execute(
        f"INSERT INTO trace_search (trace_id, text) SELECT t.trace_id, {TRACE_TEXT.format(t='t')} FROM traces t"
    )
    conn.execute(
        f"INSERT INTO session_search (session_id, text) SELECT s.session_id, {SESSION_TEXT.format(s='s')} "
        "FROM sessions s"
    )


def differences(conn: sqlite3.Connection) -> dict[str, tuple[list[Any], list[Any]]]:
    """Where the kept tables differ from a fresh computation: {table: (kept only, computed only)}; empty when exact.

    Operations are compared by (service, fingerprint), not by id.
    """
    checks = {
        "operations": (
            "SELECT service, fingerprint, span_count, trace_count, critical_ns, self_ns, total_ns FROM operations",
            "SELECT o.service, o.fingerprint, t.spans, t.traces, t.critical, t.self, t.total "
            f"FROM ({_TOTALS.format(source=f'({_OPERATION_TRACES})')}) AS t JOIN operations o ON o.id = t.operation_id",
        ),
        "operation_traces": (
            f"SELECT o.service, o.fingerprint, ot.trace_id, {_COLUMNS.format(t='ot.')} "
            "FROM operation_traces ot JOIN operations o ON o.id = ot.operation_id",
            f"SELECT o.service, o.fingerprint, ot.trace_id, {_COLUMNS.format(t='ot.')} "
            f"FROM ({_OPERATION_TRACES}) AS ot JOIN operations o ON o.id = ot.operation_id",
        ),
        "trace_services": (
            "SELECT trace_id, service FROM trace_services",
            "SELECT t.trace_id, j.value FROM traces t, json_each(t.services) j WHERE j.value IS NOT NULL",
        ),
        "trace_search": (
            "SELECT trace_id, text FROM trace_search",
            f"SELECT t.trace_id, {TRACE_TEXT.format(t='t')} FROM traces t",
        ),
        "session_search": (
            "SELECT session_id, text FROM session_search",
            f"SELECT s.session_id, {SESSION_TEXT.format(s='s')} FROM sessions s",
        ),
    }
    out: dict[str, tuple[list[Any], list[Any]]] = {}
    for table, (kept_sql, computed_sql) in checks.items():
        kept = conn.execute(kept_sql).fetchall()
        computed = conn.execute(computed_sql).fetchall()
        if table == "operation_traces":  # the order of a JSON list of durations is not part of its meaning
            kept, computed = _sorted_durations(kept), _sorted_durations(computed)
        kept_only = sorted(set(kept) - set(computed), key=repr)
        computed_only = sorted(set(computed) - set(kept), key=repr)
        if kept_only or computed_only:
            out[table] = (kept_only, computed_only)
    return out


def _sorted_durations(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(*row[:-1], tuple(sorted(orjson.loads(row[-1]))) if row[-1] else None) for row in rows]
