"""What belongs to a user, and to data older than a cutoff: one map of every table, read by forget, prune and tests.

An erasure (retention.py) runs these steps in one transaction, then rewrites the file:

    select   the Scope's seeds fill the doomed_* temporary tables, CLOSURE widens them:
               forget --user U       every record carrying U (span, log record, event, trace or
                                     session row) ─► its trace and its session ─► every record
                                     of those sessions and traces
               prune --older-than D  sessions that ended before the cutoff, with their traces,
                                     logs and events; traces, logs and events of no session that
                                     ended before it
    erase    TABLES in order, each table's part as its `How` says:
               deleted        rows removed (`leftover` names them)
               follows        removed by the triggers and derivation of the rows above
                              (summaries, search text, patterns); `leftover` checks that they went
               unreferenced   rows nothing references any more
               rewritten      rows kept, their fields that name erased data rewritten
               rederived      rows of what survives but lost records, derived again
               relearned      URL templates: what only erased paths observed (url_templates.py)
               remembers      the erased ids, as salted hashes (erased_ids.py)
               none           holds nothing of anyone (`holds` says why)
    check    every `leftover` condition finds no row, or the erasure rolls back

A test walks sqlite_master and fails on any table this map does not name, so a new table
cannot be left out of erasure unnoticed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import orjson

from mcp_sessions.config import USER_KEYS

How = Literal["deleted", "follows", "unreferenced", "rewritten", "rederived", "relearned", "remembers", "none"]

# An ingest that held removed rows loses its file name (kept: the content hash, so the same file
# ingested again stays a no-op instead of bringing the data back).
REMOVED_SOURCE = "(removed)"


@dataclass(frozen=True)
class Coverage:
    """How one table's part of an erasure goes."""

    table: str
    how: How
    holds: str  # what of a person (or of the past) the table holds; for "none", why it holds nothing
    sql: tuple[str, ...] = ()  # what the erasure runs for it, with the Scope's parameters
    leftover: str | None = None  # WHERE condition: its rows that must not outlive the erasure


def _deleted(table: str, where: str, holds: str) -> Coverage:
    return Coverage(table, "deleted", holds, (f"DELETE FROM {table} WHERE {where}",), where)


_IN_TRACES = "trace_id IN (SELECT id FROM doomed_traces)"
_IN_SESSIONS = "session_id IN (SELECT id FROM doomed_sessions)"

TABLES: tuple[Coverage, ...] = (
    _deleted(
        "events",
        "id IN (SELECT id FROM doomed_events)",
        "the browser timeline: clicks, inputs, URLs, request and response headers and bodies, console text",
    ),
    Coverage(
        "events",
        "rewritten",
        "a kept request's link to an erased trace",
        (f"UPDATE events SET trace_id = NULL, span_id = NULL, link_method = NULL WHERE {_IN_TRACES}",),
        _IN_TRACES,
    ),
    _deleted("logs", "id IN (SELECT id FROM doomed_logs)", "log bodies and attributes"),
    _deleted("spans", _IN_TRACES, "span names, attributes, events, links, URLs, statements, exception text"),
    _deleted("traces", _IN_TRACES, "root operation, URL, user and session of each trace"),
    Coverage(
        "operations",
        "follows",
        "per-operation totals (its fingerprint may hold a path value); taken back by traces_derived_delete",
        leftover="span_count <= 0 OR trace_count <= 0",
    ),
    Coverage("operation_traces", "follows", "each trace's share of its operations", leftover=_IN_TRACES),
    Coverage(
        "operation_durations",
        "follows",
        "how each operation's durations spread (counts per bucket); taken back with operation_traces",
        leftover="count <= 0 OR operation_id NOT IN (SELECT id FROM operations)",
    ),
    Coverage("trace_services", "follows", "the services of each trace", leftover=_IN_TRACES),
    Coverage("trace_search", "follows", "each trace's search text: root operation, route, URL", leftover=_IN_TRACES),
    Coverage("trace_patterns", "follows", "N+1 and repeated calls found in each trace", leftover=_IN_TRACES),
    _deleted("sessions", _IN_SESSIONS, "session id, user id, first URL, counts"),
    Coverage("sessions", "rederived", "kept sessions that lost records: their counts and first URL derived again"),
    Coverage("session_search", "follows", "each session's searchable text: id, user, URLs", leftover=_IN_SESSIONS),
    Coverage(
        "resources",
        "unreferenced",
        "resource attributes (a browser SDK may put the user there)",
        (
            "DELETE FROM resources WHERE id NOT IN (SELECT resource_id FROM spans) "
            "AND id NOT IN (SELECT resource_id FROM logs)",
        ),
        "id NOT IN (SELECT resource_id FROM spans) AND id NOT IN (SELECT resource_id FROM logs)",
    ),
    Coverage(
        "ingests",
        "rewritten",
        "file names (which may name the user) and counts of what each ingest stored",
        (
            "UPDATE ingests SET spans_stored = max(0, spans_stored - t.spans), logs_stored = max(0, logs_stored - "
            "t.logs), events_stored = max(0, events_stored - t.events) FROM touched_ingests t WHERE ingests.id = t.id",
            "DELETE FROM live_ingests",
            "INSERT OR IGNORE INTO live_ingests SELECT ingest_id FROM spans "
            "WHERE ingest_id IN (SELECT id FROM touched_ingests)",
            "INSERT OR IGNORE INTO live_ingests SELECT ingest_id FROM logs "
            "WHERE ingest_id IN (SELECT id FROM touched_ingests)",
            "INSERT OR IGNORE INTO live_ingests SELECT ingest_id FROM events "
            "WHERE ingest_id IN (SELECT id FROM touched_ingests)",
            "UPDATE ingests SET spans_stored = 0, logs_stored = 0, events_stored = 0 "
            "WHERE id IN (SELECT id FROM touched_ingests) AND id NOT IN (SELECT id FROM live_ingests)",
            f"UPDATE ingests SET source = '{REMOVED_SOURCE}' WHERE id IN (SELECT id FROM touched_ingests) "
            "AND (:names_a_person OR id NOT IN (SELECT id FROM live_ingests))",
        ),
        f"source != '{REMOVED_SOURCE}' AND id IN (SELECT id FROM touched_ingests) "
        "AND (:names_a_person OR id NOT IN (SELECT id FROM live_ingests))",
    ),
    Coverage("url_values", "relearned", "hashes of URL path values (a user name in a path) and their shapes"),
    Coverage("url_rules", "relearned", "templates learned at path positions (a position may sit under a user name)"),
    Coverage("erased_ids", "remembers", "salted hashes of erased session, user and trace ids: the erasure's memory"),
    Coverage("salt", "none", "one random value made with the database; it describes no one"),
)

_TEMP_TABLES = (
    "CREATE TEMP TABLE IF NOT EXISTS doomed_sessions (id TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TEMP TABLE IF NOT EXISTS doomed_traces (id TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TEMP TABLE IF NOT EXISTS doomed_logs (id INTEGER PRIMARY KEY)",
    "CREATE TEMP TABLE IF NOT EXISTS doomed_events (id INTEGER PRIMARY KEY)",
    "CREATE TEMP TABLE IF NOT EXISTS kept_sessions (id TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TEMP TABLE IF NOT EXISTS touched_ingests (id INTEGER PRIMARY KEY, spans INTEGER, logs INTEGER, "
    "events INTEGER)",
    "CREATE TEMP TABLE IF NOT EXISTS live_ingests (id INTEGER PRIMARY KEY)",
)
_EMPTY = tuple(
    f"DELETE FROM {t}"
    for t in (
        "doomed_sessions",
        "doomed_traces",
        "doomed_logs",
        "doomed_events",
        "kept_sessions",
        "touched_ingests",
        "live_ingests",
    )
)

# Whatever belongs to a doomed session or trace goes with it.
CLOSURE = (
    f"INSERT OR IGNORE INTO doomed_traces SELECT trace_id FROM traces WHERE {_IN_SESSIONS}",
    f"INSERT OR IGNORE INTO doomed_logs SELECT id FROM logs WHERE {_IN_SESSIONS}",
    f"INSERT OR IGNORE INTO doomed_logs SELECT id FROM logs WHERE {_IN_TRACES}",
    f"INSERT OR IGNORE INTO doomed_events SELECT id FROM events WHERE {_IN_SESSIONS}",
    # Kept sessions that lose a record (a log or request of theirs tied to an erased trace) are derived again.
    "INSERT OR IGNORE INTO kept_sessions SELECT session_id FROM ("
    "SELECT session_id FROM logs WHERE id IN (SELECT id FROM doomed_logs) "
    "UNION SELECT session_id FROM events WHERE id IN (SELECT id FROM doomed_events) "
    f"UNION SELECT session_id FROM events WHERE {_IN_TRACES} "
    f"UNION SELECT session_id FROM traces WHERE {_IN_TRACES}) "
    "WHERE session_id IS NOT NULL AND session_id NOT IN (SELECT id FROM doomed_sessions)",
    "INSERT INTO touched_ingests (id, spans, logs, events) "
    "SELECT ingest_id, sum(kind = 's'), sum(kind = 'l'), sum(kind = 'e') FROM ("
    f"SELECT ingest_id, 's' AS kind FROM spans WHERE {_IN_TRACES} "
    "UNION ALL SELECT ingest_id, 'l' FROM logs WHERE id IN (SELECT id FROM doomed_logs) "
    "UNION ALL SELECT ingest_id, 'e' FROM events WHERE id IN (SELECT id FROM doomed_events)) GROUP BY ingest_id",
)


@dataclass(frozen=True)
class Scope:
    """What one erasure removes, as seed SELECTs of ids, run in this order so later seeds may read the
    doomed_* tables earlier ones filled: logs, events, traces, sessions. CLOSURE then widens them."""

    describes: str  # for messages: "user 'ann'", "data older than 30d"
    logs: str
    events: str
    traces: str
    sessions: str
    params: Mapping[str, object] = field(default_factory=dict)
    users: tuple[str, ...] = ()  # user ids erased
    remembers: bool = False  # the users, and every removed session and trace id, kept in erased_ids
    names_a_person: bool = False  # every ingest that held a removed row loses its file name, not only emptied ones


def user_scope(user_id: str) -> Scope:
    """Everything of one user: every record carrying the id, and every session and trace such a record is in."""
    carries = " OR ".join(
        f"CAST(json_extract({side}.attributes, '$.\"{key}\"') AS TEXT) = :user"
        for side in ("l", "r")
        for key in USER_KEYS
    )
    return Scope(
        describes=f"user {user_id!r}",
        logs=f"SELECT l.id FROM logs l JOIN resources r ON r.id = l.resource_id WHERE {carries}",
        events="SELECT id FROM events WHERE user_id = :user",
        traces="SELECT trace_id FROM traces WHERE user_id = :user "
        "UNION SELECT trace_id FROM spans WHERE user_id = :user "
        "UNION SELECT l.trace_id FROM logs l JOIN traces t ON t.trace_id = l.trace_id "
        "WHERE l.id IN (SELECT id FROM doomed_logs) "
        "UNION SELECT e.trace_id FROM events e JOIN traces t ON t.trace_id = e.trace_id "
        "WHERE e.id IN (SELECT id FROM doomed_events)",
        sessions="SELECT session_id FROM sessions WHERE user_id = :user "
        f"UNION SELECT session_id FROM traces WHERE {_IN_TRACES} AND session_id IS NOT NULL "
        "UNION SELECT session_id FROM logs WHERE id IN (SELECT id FROM doomed_logs) AND session_id IS NOT NULL "
        "UNION SELECT session_id FROM events WHERE id IN (SELECT id FROM doomed_events) AND session_id IS NOT NULL",
        params={"user": user_id},
        users=(user_id,),
        remembers=True,
        names_a_person=True,
    )


def older_than_scope(cutoff_ns: int, describes: str) -> Scope:
    """Sessions that ended before the cutoff, and whatever belongs to no session and ended before it."""
    no_session = "(session_id IS NULL OR session_id NOT IN (SELECT session_id FROM sessions))"
    return Scope(
        describes=describes,
        logs=f"SELECT id FROM logs WHERE time_ns < :cutoff AND {no_session} "
        "AND (trace_id IS NULL OR trace_id NOT IN (SELECT trace_id FROM traces))",
        # An event without a time (a recording with none) in no session is taken as old.
        events=f"SELECT id FROM events WHERE coalesce(time_ns, 0) < :cutoff AND {no_session}",
        traces=f"SELECT trace_id FROM traces WHERE end_ns < :cutoff AND {no_session}",
        sessions="SELECT session_id FROM sessions WHERE end_ns < :cutoff",
        params={"cutoff": cutoff_ns},
    )


def refused_scope(traces: list[str], sessions: list[str]) -> Scope:
    """What an ingest found under erased ids only after storing some of it (writer.py): whole traces and
    inactivity sessions, with whatever of them earlier ingests stored; remembered, so later records of
    them are refused as they come."""
    return Scope(
        describes="records under erased ids",
        logs="SELECT id FROM logs WHERE 0",
        events="SELECT id FROM events WHERE 0",
        traces="SELECT value FROM json_each(:traces)",
        sessions="SELECT value FROM json_each(:sessions)",
        params={"traces": orjson.dumps(traces).decode(), "sessions": orjson.dumps(sessions).decode()},
        remembers=True,
    )


def select(conn: sqlite3.Connection, scope: Scope) -> None:
    """Fill the doomed_* tables for `scope` (inside the erasure's transaction)."""
    for sql in (*_TEMP_TABLES, *_EMPTY):
        conn.execute(sql)
    for table, seed in (
        ("doomed_logs", scope.logs),
        ("doomed_events", scope.events),
        ("doomed_traces", scope.traces),
        ("doomed_sessions", scope.sessions),
    ):
        conn.execute(f"INSERT OR IGNORE INTO {table} SELECT * FROM ({seed})", dict(scope.params))
    for sql in CLOSURE:
        conn.execute(sql)


def parameters(scope: Scope) -> dict[str, object]:
    """What every statement of TABLES is run with."""
    return {**scope.params, "names_a_person": int(scope.names_a_person)}


def leftovers(conn: sqlite3.Connection, scope: Scope) -> dict[str, int]:
    """Rows that should have gone and are still there, by table; empty after a complete erasure."""
    found: dict[str, int] = {}
    for c in TABLES:
        if c.leftover is not None:
            n = conn.execute(f"SELECT count(*) FROM {c.table} WHERE {c.leftover}", parameters(scope)).fetchone()[0]
            if n:
                found[c.table] = found.get(c.table, 0) + n
    return found


def covered_tables() -> set[str]:
    return {c.table for c in TABLES}
