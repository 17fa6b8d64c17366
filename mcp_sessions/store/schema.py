"""Schema and migrations.

`PRAGMA user_version` holds the schema version. Each migration runs in its own
transaction together with the version bump, so a database is always at exactly one
version: an older file is upgraded in place when opened, a newer one is refused with a
message (never silently misread). Append migrations; never edit a released one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from mcp_sessions.errors import SchemaVersionError, StoreError


@dataclass(frozen=True)
class Migration:
    version: int
    summary: str
    sql: str
    # Derived values SQL cannot compute, filled in the same transaction as the schema change.
    backfill: Callable[[sqlite3.Connection], None] | None = None


_V1 = """
CREATE TABLE ingests (
    id              INTEGER PRIMARY KEY,
    content_hash    TEXT NOT NULL UNIQUE,       -- sha256 of the bytes: re-ingest is a no-op
    source          TEXT NOT NULL,              -- file path, '-' for stdin, or receiver batch
    format          TEXT NOT NULL,
    ingested_at_ns  INTEGER NOT NULL,
    spans_stored    INTEGER NOT NULL DEFAULT 0,
    spans_duplicate INTEGER NOT NULL DEFAULT 0,
    logs_stored     INTEGER NOT NULL DEFAULT 0,
    logs_duplicate  INTEGER NOT NULL DEFAULT 0,
    skipped         TEXT NOT NULL DEFAULT '{}', -- {"metric": n}: read, counted, not stored
    redactions      TEXT NOT NULL DEFAULT '{}'  -- {"rule": count}: what was masked, never values
);

CREATE TABLE resources (
    id          INTEGER PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    service     TEXT,
    attributes  TEXT NOT NULL
);

CREATE TABLE spans (
    id                INTEGER PRIMARY KEY,
    trace_id          TEXT NOT NULL,
    span_id           TEXT NOT NULL,
    parent_span_id    TEXT,
    shared            INTEGER NOT NULL DEFAULT 0,   -- Zipkin server half reusing the client's id
    session_id        TEXT,                         -- the key this span itself carried, if any
    user_id           TEXT,
    service           TEXT,
    name              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    start_ns          INTEGER NOT NULL,
    end_ns            INTEGER NOT NULL,
    duration_ns       INTEGER NOT NULL,
    status_code       TEXT NOT NULL,
    status_message    TEXT,
    http_method       TEXT,
    http_route        TEXT,
    http_status       INTEGER,
    http_url          TEXT,
    db_system         TEXT,
    db_statement      TEXT,
    exception_type    TEXT,
    exception_message TEXT,
    code_function     TEXT,
    code_filepath     TEXT,
    code_lineno       INTEGER,
    scope             TEXT,
    attributes        TEXT NOT NULL,
    events            TEXT NOT NULL,
    links             TEXT NOT NULL,
    resource_id       INTEGER NOT NULL REFERENCES resources(id),
    ingest_id         INTEGER NOT NULL REFERENCES ingests(id)
);
CREATE UNIQUE INDEX spans_identity ON spans(trace_id, span_id, shared);
CREATE INDEX spans_session ON spans(session_id) WHERE session_id IS NOT NULL;
CREATE INDEX spans_service_start ON spans(service, start_ns);

-- One row per trace, derived from its spans after every ingest that touches it.
CREATE TABLE traces (
    trace_id       TEXT PRIMARY KEY,
    session_id     TEXT,          -- resolved: the session key most of its spans carry
    user_id        TEXT,
    root_span_id   TEXT,
    root_service   TEXT,
    root_name      TEXT,
    root_kind      TEXT,
    http_method    TEXT,
    http_route     TEXT,
    http_status    INTEGER,
    http_url       TEXT,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    duration_ns    INTEGER NOT NULL,
    span_count     INTEGER NOT NULL,
    error_count    INTEGER NOT NULL,
    service_count  INTEGER NOT NULL,
    services       TEXT NOT NULL  -- JSON list
) WITHOUT ROWID;
CREATE INDEX traces_session ON traces(session_id, start_ns);
CREATE INDEX traces_start ON traces(start_ns);

-- One row per session, derived from its traces (and, later, frontend events).
CREATE TABLE sessions (
    session_id     TEXT PRIMARY KEY,
    user_id        TEXT,
    service        TEXT,          -- the service most of its traces start in
    services       TEXT NOT NULL, -- JSON list
    sources        TEXT NOT NULL, -- JSON list of formats that contributed
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    duration_ns    INTEGER NOT NULL,
    first_url      TEXT,
    trace_count    INTEGER NOT NULL,
    span_count     INTEGER NOT NULL,
    error_count    INTEGER NOT NULL,
    log_count      INTEGER NOT NULL,
    attributes     TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE INDEX sessions_start ON sessions(start_ns);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE logs (
    id                INTEGER PRIMARY KEY,
    record_hash       TEXT NOT NULL UNIQUE,
    time_ns           INTEGER NOT NULL,
    observed_time_ns  INTEGER,
    severity_number   INTEGER,
    severity_text     TEXT,
    body              TEXT,
    event_name        TEXT,
    trace_id          TEXT,
    span_id           TEXT,
    session_id        TEXT,
    service           TEXT,
    scope             TEXT,
    attributes        TEXT NOT NULL,
    resource_id       INTEGER NOT NULL REFERENCES resources(id),
    ingest_id         INTEGER NOT NULL REFERENCES ingests(id)
);
CREATE INDEX logs_trace ON logs(trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX logs_session ON logs(session_id) WHERE session_id IS NOT NULL;
CREATE INDEX logs_time ON logs(time_ns);
"""

_V2 = """
-- The frontend timeline: what the browser recorded (rrweb, HAR).
CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    event_hash    TEXT NOT NULL UNIQUE,   -- the same recording ingested twice adds nothing
    session_id    TEXT,                   -- resolved: the recording's key, or cut by inactivity
    session_key   TEXT,                   -- the key the recording carried, if any
    client_key    TEXT,                   -- browser / user, for inactivity sessionization
    user_id       TEXT,
    source        TEXT NOT NULL,          -- rrweb | har
    seq           INTEGER NOT NULL,
    time_ns       INTEGER,                -- NULL: the recording has no timestamps
    kind          TEXT NOT NULL,
    summary       TEXT NOT NULL,
    url           TEXT,
    target        TEXT,
    level         TEXT,
    method        TEXT,
    status        INTEGER,
    duration_ns   INTEGER,
    trace_id      TEXT,
    span_id       TEXT,
    link_method   TEXT,                   -- how trace_id was found: traceparent | sentry-trace | b3 | time-window
    shadowed      INTEGER NOT NULL DEFAULT 0,  -- 1: a HAR copy of what rrweb also recorded (kept, not shown twice)
    detail        TEXT NOT NULL,
    ingest_id     INTEGER NOT NULL REFERENCES ingests(id)
);
CREATE INDEX events_session ON events(session_id, time_ns, seq);
CREATE INDEX events_trace ON events(trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX events_unlinked ON events(method, time_ns) WHERE trace_id IS NULL AND kind = 'network';

ALTER TABLE traces ADD COLUMN session_source TEXT;   -- span-attribute | request
ALTER TABLE sessions ADD COLUMN event_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN request_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN frontend_error_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingests ADD COLUMN events_stored INTEGER NOT NULL DEFAULT 0;
"""

_V3 = """
-- Per-span analysis kept beside the span, so ranking across all data is one indexed query.
ALTER TABLE spans ADD COLUMN fingerprint TEXT;   -- the operation: SQL normalised, URL templated
ALTER TABLE spans ADD COLUMN self_ns INTEGER;    -- time no child covered
ALTER TABLE spans ADD COLUMN critical_ns INTEGER; -- time on its trace's critical path
CREATE INDEX spans_fingerprint ON spans(fingerprint, duration_ns);
CREATE INDEX spans_critical ON spans(critical_ns) WHERE critical_ns > 0;
CREATE INDEX spans_failed ON spans(start_ns) WHERE status_code = 'error' OR exception_type IS NOT NULL;
CREATE INDEX events_problems ON events(time_ns)
    WHERE (kind = 'console' AND level = 'error') OR kind = 'error'
       OR (kind = 'network' AND (status >= 400 OR status = 0));
CREATE INDEX logs_errors ON logs(time_ns) WHERE severity_number >= 17;
"""


def _backfill_v3(conn: sqlite3.Connection) -> None:
    from mcp_sessions.store.writer import backfill_span_analysis  # the writer owns the derivation

    backfill_span_analysis(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "ingests, resources, spans, traces, sessions, logs", _V1),
    Migration(2, "events (frontend timeline), session links and frontend counts", _V2),
    Migration(3, "span fingerprints, self time and critical-path time", _V3, _backfill_v3),
)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, *, target: int | None = None) -> list[Migration]:
    """Bring the database up to `target` (default: the latest); returns the migrations applied."""
    latest = MIGRATIONS[-1].version
    target = latest if target is None else target
    version = current_version(conn)
    if version > latest:
        raise SchemaVersionError(
            f"the database uses schema version {version}, newer than this mcp-sessions understands "
            f"({latest}); upgrade mcp-sessions or point --db at another file"
        )
    applied = []
    for migration in MIGRATIONS:
        if version < migration.version <= target:
            try:
                conn.executescript(f"BEGIN IMMEDIATE;\n{migration.sql}")
                if migration.backfill is not None:
                    migration.backfill(conn)
                conn.execute(f"PRAGMA user_version = {migration.version}")
                conn.execute("COMMIT")
            except (sqlite3.Error, ValueError) as exc:  # ValueError: a stored value the backfill cannot read
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(
                    f"upgrading the database to schema {migration.version} failed ({exc.__class__.__name__}); "
                    "the file is unchanged"
                ) from exc
            applied.append(migration)
    return applied
