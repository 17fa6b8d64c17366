"""Retention and erasure: remove whole sessions (and what hangs off them), then reclaim the space.

Removal works on whole sessions, so no session is left half-deleted:

    prune --older-than D   sessions that ended before now - D; unsessioned traces and stray
                           logs that ended before it too
    forget --user U        every session of U, every trace any of U's spans belongs to, and
                           the logs of those sessions and traces (or carrying U's id)

An ingest whose every row was removed keeps its content hash, so ingesting the same file
again stays a no-op instead of bringing the data back; its file name is blanked.

Deleting is not enough for erasure: SQLite leaves deleted rows in free pages and in the
WAL. So deletes run with `secure_delete` on, then the file is VACUUMed and the WAL is
checkpointed and truncated; the removed values are then nowhere in the file's bytes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from mcp_sessions.config import USER_KEYS


@dataclass(frozen=True)
class Removed:
    sessions: int
    traces: int
    spans: int
    logs: int
    bytes_before: int
    bytes_after: int


def _size(conn: sqlite3.Connection) -> int:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    return pages * conn.execute("PRAGMA page_size").fetchone()[0]


def _remove(conn: sqlite3.Connection, session_sql: str, trace_sql: str, log_sql: str, params: dict) -> Removed:
    """Delete the sessions, traces and logs the three SELECTs name (ids), with everything under them."""
    before = _size(conn)
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS doomed_sessions (id TEXT PRIMARY KEY) WITHOUT ROWID")
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS doomed_traces (id TEXT PRIMARY KEY) WITHOUT ROWID")
        conn.execute("DELETE FROM doomed_sessions")
        conn.execute("DELETE FROM doomed_traces")
        conn.execute(f"INSERT OR IGNORE INTO doomed_sessions {session_sql}", params)
        conn.execute(
            f"INSERT OR IGNORE INTO doomed_traces SELECT trace_id FROM traces WHERE session_id IN "
            f"(SELECT id FROM doomed_sessions) UNION {trace_sql}",
            params,
        )
        touched_ingests = [
            r[0]
            for r in conn.execute(
                "SELECT ingest_id FROM spans WHERE trace_id IN (SELECT id FROM doomed_traces) UNION "
                "SELECT ingest_id FROM logs WHERE session_id IN (SELECT id FROM doomed_sessions) "
                "OR trace_id IN (SELECT id FROM doomed_traces)"
            )
        ]
        logs = conn.execute(
            f"DELETE FROM logs WHERE session_id IN (SELECT id FROM doomed_sessions) "
            f"OR trace_id IN (SELECT id FROM doomed_traces) OR id IN ({log_sql})",
            params,
        ).rowcount
        spans = conn.execute("DELETE FROM spans WHERE trace_id IN (SELECT id FROM doomed_traces)").rowcount
        traces = conn.execute("DELETE FROM traces WHERE trace_id IN (SELECT id FROM doomed_traces)").rowcount
        sessions = conn.execute("DELETE FROM sessions WHERE session_id IN (SELECT id FROM doomed_sessions)").rowcount
        # An ingest whose rows are all gone keeps its content hash (so re-ingesting the same file cannot
        # bring the data back) but not its file name, which may itself name the user.
        conn.executemany(
            "UPDATE ingests SET source = '(removed)' WHERE id = ? AND NOT EXISTS (SELECT 1 FROM spans "
            "WHERE ingest_id = ingests.id) AND NOT EXISTS (SELECT 1 FROM logs WHERE ingest_id = ingests.id)",
            [(i,) for i in touched_ingests],
        )
        conn.execute(
            "DELETE FROM resources WHERE id NOT IN (SELECT resource_id FROM spans) "
            "AND id NOT IN (SELECT resource_id FROM logs)"
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    reclaim(conn)
    return Removed(sessions, traces, spans, logs, before, _size(conn))


def reclaim(conn: sqlite3.Connection) -> None:
    """Rewrite the file without free pages and empty the WAL, so removed bytes are gone from disk."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def prune_older_than(conn: sqlite3.Connection, cutoff_ns: int) -> Removed:
    return _remove(
        conn,
        "SELECT session_id FROM sessions WHERE end_ns < :cutoff",
        "SELECT trace_id FROM traces WHERE session_id IS NULL AND end_ns < :cutoff",
        "SELECT id FROM logs WHERE session_id IS NULL AND trace_id IS NULL AND time_ns < :cutoff",
        {"cutoff": cutoff_ns},
    )


def forget_user(conn: sqlite3.Connection, user_id: str) -> Removed:
    user_attr = " OR ".join(f"json_extract(attributes, '$.\"{key}\"') = :user" for key in USER_KEYS)
    return _remove(
        conn,
        "SELECT session_id FROM sessions WHERE user_id = :user "
        "UNION SELECT session_id FROM traces WHERE user_id = :user AND session_id IS NOT NULL "
        "UNION SELECT t.session_id FROM spans s JOIN traces t ON t.trace_id = s.trace_id "
        "WHERE s.user_id = :user AND t.session_id IS NOT NULL",
        "SELECT trace_id FROM traces WHERE user_id = :user UNION SELECT trace_id FROM spans WHERE user_id = :user",
        f"SELECT id FROM logs WHERE {user_attr}",
        {"user": user_id},
    )
