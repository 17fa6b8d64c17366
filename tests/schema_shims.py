"""Older schemas as today's writer needs them, for upgrade tests that write a file "as an older version did".

Today's writer stores what schemas 7 to 12 added (span record hashes and patterns per trace;
learned URL templates and each request's template; the salt, erased ids and refused counts;
whether a span's end was recorded and its time after the root answered; the HAR copy's
`copy_of`; operation duration buckets and the index of spans with a code location). A test that
builds an older file with today's code adds those first (`add_schema_7` … `add_schema_12`), and
takes them away again (`remove_schema_12`, then `remove_schema_11`, `remove_schema_10`,
`remove_schema_9`, `remove_schema_8`, `remove_schema_7`) before the file is upgraded, so the
upgrade sees exactly the older schema. Salted url_values cannot be unsalted: `remove_schema_9`
leaves them
as they are, so follow it with `remove_schema_8` (which drops them) before upgrading.
"""

from __future__ import annotations

import sqlite3

from mcp_sessions.store.sqlite import schema
from mcp_sessions.store.sqlite.erased_ids import create_salt


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


def add_schema_8(conn: sqlite3.Connection) -> None:
    """Schema 8's tables and column on a file at an older version (its version number unchanged)."""
    conn.executescript(f"BEGIN;\n{schema._V8}\nCOMMIT;")


def remove_schema_8(conn: sqlite3.Connection) -> None:
    """Undo `add_schema_8` (and what migration 8 did: learned URL templates), keeping every older table's rows."""
    conn.executescript(
        """
        BEGIN;
        DROP TABLE url_values;
        DROP TABLE url_rules;
        DROP INDEX events_url_template;
        ALTER TABLE events DROP COLUMN url_template;
        COMMIT;
        """
    )


def add_schema_9(conn: sqlite3.Connection) -> None:
    """Schema 9's tables and column, with a salt, on a file at an older version (its version number unchanged)."""
    conn.executescript(f"BEGIN;\n{schema._V9}\nCOMMIT;")
    create_salt(conn)


def remove_schema_9(conn: sqlite3.Connection) -> None:
    """Undo `add_schema_9` (and migration 9, but for salting url_values), keeping every older table's rows."""
    conn.executescript(
        """
        BEGIN;
        DROP TABLE salt;
        DROP TABLE erased_ids;
        ALTER TABLE ingests DROP COLUMN records_refused;
        COMMIT;
        """
    )


def add_schema_10(conn: sqlite3.Connection) -> None:
    """Schema 10's span columns on a file at an older version (its version number unchanged)."""
    conn.executescript(f"BEGIN;\n{schema._V10}\nCOMMIT;")


def remove_schema_10(conn: sqlite3.Connection) -> None:
    """Undo `add_schema_10` (and migration 10), keeping every older table's rows."""
    conn.executescript(
        """
        BEGIN;
        DROP INDEX spans_after;
        DROP INDEX spans_stream;
        ALTER TABLE spans DROP COLUMN stream;
        ALTER TABLE spans DROP COLUMN after_ns;
        ALTER TABLE spans DROP COLUMN end_known;
        COMMIT;
        """
    )


def add_schema_11(conn: sqlite3.Connection) -> None:
    """Schema 11's columns on a file at an older version (its version number unchanged)."""
    conn.executescript(f"BEGIN;\n{schema._V11}\nCOMMIT;")


def remove_schema_11(conn: sqlite3.Connection) -> None:
    """Undo `add_schema_11` (and migration 11), keeping every older table's rows."""
    conn.executescript(
        """
        BEGIN;
        DROP INDEX events_copies;
        DROP INDEX events_keyless_requests;
        ALTER TABLE events DROP COLUMN copy_of;
        ALTER TABLE events DROP COLUMN copy_method;
        COMMIT;
        """
    )


def add_schema_12(conn: sqlite3.Connection) -> None:
    """Schema 12's kept duration buckets (counted from operation_traces) and index of the spans with a
    code location, on a file at an older version."""
    conn.executescript(f"BEGIN;\n{schema._V12}\nCOMMIT;")


def remove_schema_12(conn: sqlite3.Connection) -> None:
    """Undo `add_schema_12` (and migration 12)."""
    conn.executescript(
        """
        BEGIN;
        DROP TRIGGER operation_durations_add;
        DROP TRIGGER operation_durations_take_back;
        DROP TABLE operation_durations;
        DROP INDEX spans_code;
        COMMIT;
        """
    )


def add_newer_schemas(conn: sqlite3.Connection) -> None:
    """What today's code needs beyond schema 6: schemas 7 to 12."""
    add_schema_7(conn)
    add_schema_8(conn)
    add_schema_9(conn)
    add_schema_10(conn)
    add_schema_11(conn)
    add_schema_12(conn)


def remove_newer_schemas(conn: sqlite3.Connection) -> None:
    """Undo `add_newer_schemas` (or migrations 12, 11, 10, 9, 8 and 7)."""
    remove_schema_12(conn)
    remove_schema_11(conn)
    remove_schema_10(conn)
    remove_schema_9(conn)
    remove_schema_8(conn)
    remove_schema_7(conn)
