"""Derived tables that let questions over all data skip reading every span or trace.

Schema 4 keeps, beside the rows the writer stores:

    operations        per operation (service + fingerprint): spans, traces, critical-path,
                      self and total time, over all data
    operation_traces  what each trace contributes to each of its operations, with its worst
                      span and its spans' durations (for filtered rankings and percentiles)
    operation_durations  per operation, how many of its durations fall in each bucket of two
                      leading digits (schema 12; follows operation_traces by triggers)
    trace_services    one row per service a trace touches (the `services` JSON list, indexed)
    trace_search      one line of text per trace: id, root operation, route, URL
    session_search    one line per session: id, user, services, first URL, and the distinct
                      root operations, routes and URLs of its traces

Derivation keeps them exact, relying on how traces and sessions are written:

    spans of trace T arrive ──► derive (derive.py): self/critical times of T's spans, T's row
                                written whole, and `update_operations`: take back T's old
                                contribution to the operations, add the new one
                                (trace_services, trace_search: trigger on the traces insert)
    retention removes T ──────► spans of T deleted ─► traces row deleted ─► trigger: take back

and a session row is written again after any of its traces changed (triggers on `sessions`).
The operation summaries are kept by derivation, from the spans it has just read, not by a
trigger per trace. `rebuild` computes everything from the stored rows (the schema-4
backfill); `differences` compares the kept tables with a fresh computation, for tests and
for checking a database by hand.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import orjson

from mcp_sessions.store.sqlite.buckets import DURATION_BUCKET
from mcp_sessions.store.sqlite.rows import SESSION_TEXT, TRACE_TEXT

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
    # operation_durations (schema 12) first: the rows of operation_traces deleted after it have nothing
    # to take back, and its triggers count the rows inserted below
    kept = ("operation_traces", "operations", "trace_services", "trace_search", "session_search")
    for table in ("operation_durations", *kept) if _has_table(conn, "operation_durations") else kept:
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
        "operation_durations": (
            "SELECT o.service, o.fingerprint, d.bucket, d.count FROM operation_durations d "
            "JOIN operations o ON o.id = d.operation_id",
            f"SELECT o.service, o.fingerprint, {DURATION_BUCKET.format(d='s.duration_ns')}, count(*) FROM spans s "
            "JOIN operations o ON o.op_key = json_array(s.service, s.fingerprint) "
            "WHERE s.trace_id IN (SELECT trace_id FROM traces) GROUP BY 1, 2, 3",
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
    if not _has_table(conn, "operation_durations"):  # a file older than schema 12
        del checks["operation_durations"]
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


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def _sorted_durations(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(*row[:-1], tuple(sorted(orjson.loads(row[-1]))) if row[-1] else None) for row in rows]


class OperationSpan(NamedTuple):
    """What a span adds to its operation's summary: times as derivation has just computed them."""

    span_id: str
    service: str | None
    fingerprint: str | None
    duration_ns: int
    critical_ns: int
    self_ns: int


# An operation as `op_key` names it: json_array(service, fingerprint).
OperationKey = tuple[str | None, str | None]
# One `operation_traces` row without its ids: span_count, critical_ns, self_ns, total_ns, max_ns,
# worst_span_id, worst_critical_ns, worst_duration_ns, durations.
Share = tuple[int, int, int, int, int, str, int, int, str | None]


def trace_operations(spans: Iterable[OperationSpan]) -> dict[OperationKey, Share]:
    """What one trace contributes to each of its operations, in the order the operations first appear.

    The same values as `_OPERATION_TRACES` computes in SQL: the worst span has the most time on
    the critical path, then the longest duration, then the smallest span id, and the durations
    are listed in that order.
    """
    groups: dict[OperationKey, list[OperationSpan]] = {}
    for span in spans:
        groups.setdefault((span.service, span.fingerprint), []).append(span)
    shares = {}
    for key, members in groups.items():
        ranked = sorted(members, key=lambda s: (-s.critical_ns, -s.duration_ns, s.span_id))
        worst = ranked[0]
        shares[key] = (
            len(ranked),
            sum(s.critical_ns for s in ranked),
            sum(s.self_ns for s in ranked),
            sum(s.duration_ns for s in ranked),
            max(s.duration_ns for s in ranked),
            worst.span_id,
            worst.critical_ns,
            worst.duration_ns,
            orjson.dumps([s.duration_ns for s in ranked]).decode() if len(ranked) > 1 else None,
        )
    return shares


def update_operations(conn: sqlite3.Connection, traces: Mapping[str, Mapping[OperationKey, Share]]) -> None:
    """Replace what `traces` (trace id → its operations, in trace id order) contribute to the operation summaries.

    The outcome, operation ids included, is the one the schema-4 triggers left, taking back and
    adding one trace at a time: an operation whose spans all belonged to a trace derived again
    is removed and recreated with the next id (largest id + 1, as SQLite hands them out). The
    table is played forward in Python (`_OperationLedger`) and written once: a few statements per
    call instead of several per trace.
    """
    ids = orjson.dumps(list(traces)).decode()
    old: dict[str, list[tuple[OperationKey, Share]]] = {}
    for trace_id, service, fingerprint, *share in conn.execute(
        f"SELECT ot.trace_id, o.service, o.fingerprint, {_COLUMNS.format(t='ot.')} FROM operation_traces ot "
        "JOIN operations o ON o.id = ot.operation_id WHERE ot.trace_id IN (SELECT value FROM json_each(?))",
        (ids,),
    ):
        old.setdefault(trace_id, []).append(((service, fingerprint), tuple(share)))
    keys = {key for shares in traces.values() for key in shares}
    keys.update(key for shares in old.values() for key, _ in shares)
    ledger = _OperationLedger(conn, keys)
    rows = []
    for trace_id, shares in traces.items():
        for key, share in old.get(trace_id, ()):
            ledger.take_back(key, share)
        rows += [(trace_id, ledger.add(key, share), *share) for key, share in shares.items()]
    conn.executemany("DELETE FROM operations WHERE id = ?", ((i,) for i in ledger.removed))
    if old:
        conn.execute("DELETE FROM operation_traces WHERE trace_id IN (SELECT value FROM json_each(?))", (ids,))
    conn.executemany(
        "INSERT OR REPLACE INTO operations (id, op_key, service, fingerprint, span_count, trace_count, critical_ns, "
        "self_ns, total_ns) VALUES (?1, json_array(?2, ?3), ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        ((totals[0], *key, *totals[1:]) for key, totals in ledger.operations.items()),
    )
    conn.executemany(
        f"INSERT INTO operation_traces (trace_id, operation_id, {_COLUMNS.format(t='')}) "
        f"VALUES ({', '.join('?' * 11)})",
        rows,
    )


class _OperationLedger:
    """The rows of `operations` that one `update_operations` call touches, played forward in memory.

    `operations` maps each touched operation still present to [id, span_count, trace_count,
    critical_ns, self_ns, total_ns]; `removed` holds the ids of stored rows that are gone.
    """

    def __init__(self, conn: sqlite3.Connection, keys: set[OperationKey]) -> None:
        self._conn = conn
        self.operations: dict[OperationKey, list[Any]] = {
            (service, fingerprint): totals
            for service, fingerprint, *totals in conn.execute(
                "SELECT service, fingerprint, id, span_count, trace_count, critical_ns, self_ns, total_ns "
                "FROM operations WHERE op_key IN (SELECT json_array(json_extract(value, '$[0]'), "
                "json_extract(value, '$[1]')) FROM json_each(?))",
                (orjson.dumps(list(keys)).decode(),),
            )
        }
        self.removed: set[int] = set()
        self._stored_max = conn.execute("SELECT coalesce(max(id), 0) FROM operations").fetchone()[0]
        self._max_id = self._stored_max

    def take_back(self, key: OperationKey, share: Share) -> None:
        totals = self.operations[key]
        _add_share(totals, share, -1)
        if totals[1] == 0:
            del self.operations[key]
            if totals[0] <= self._stored_max:
                self.removed.add(totals[0])
            if totals[0] == self._max_id:
                self._max_id = self._largest_id_below(totals[0])

    def add(self, key: OperationKey, share: Share) -> int:
        """Count `share` in its operation (created when missing); returns the operation's id."""
        totals = self.operations.get(key)
        if totals is None:
            self._max_id += 1
            totals = self.operations[key] = [self._max_id, 0, 0, 0, 0, 0]
        _add_share(totals, share, 1)
        return totals[0]

    def _largest_id_below(self, limit: int) -> int:
        """The largest id left once `limit`, the largest, is removed: SQLite hands out that + 1 next."""
        stored = self._conn.execute(
            "SELECT coalesce(max(id), 0) FROM operations WHERE id < ? AND id NOT IN (SELECT value FROM json_each(?))",
            (limit, orjson.dumps(list(self.removed)).decode()),
        ).fetchone()[0]
        present = (totals[0] for totals in self.operations.values() if totals[0] < limit)
        return max(stored, max(present, default=0))


def _add_share(totals: list[Any], share: Share, sign: int) -> None:
    totals[1] += sign * share[0]
    totals[2] += sign
    totals[3] += sign * share[1]
    totals[4] += sign * share[2]
    totals[5] += sign * share[3]
