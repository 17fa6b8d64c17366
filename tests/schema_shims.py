"""Older schemas as today's writer needs them, for upgrade tests that write a file "as an older version did".

Today's writer stores what schema 7 added (span record hashes, patterns per trace). A test
that builds a schema-4 file with today's code adds those first (`add_schema_7`), and takes
them away again (`remove_schema_7`) before the file is upgraded, so the upgrade sees exactly
the older schema.
"""

from __future__ import annotations

import sqlite3

from mcp_sessions.store.sqlite import schema


def add_schema_7(conn: sqlite3.Connection) -> None:
    """Schema 7's tables and columns on a file at an older version (its version number unchanged)."""
    conn.executescript(f"BEGIN;\n{schema._V7}\nCOMMIT;")
    conn.execute("CREATE UNIQUE INDEX spans_identity ON spans(trace_id, span_id, shared, record_hash)")


def remove_schema_7(conn: sqlite3.Connection) -> None:
    """Undo `add_schema_7` (and what migration 7 did), keeping every older table's rows."""
    conn.executescript(
        """
        BEGIN;
        DROP TRIGGER trace_patterns_delete;
        DROP TABLE trace_patterns;
        DROP INDEX spans_identity;
        ALTER TABLE spans DROP COLUMN record_hash;
        ALTER TABLE ingests DROP COLUMN spans_id_reused;
        CREATE UNIQUE INDEX spans_identity ON spans(trace_id, span_id, shared);
        COMMIT;
        """
    )
