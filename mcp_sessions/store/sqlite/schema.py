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
from mcp_sessions.store.sqlite.buckets import DURATION_BUCKET
from mcp_sessions.store.sqlite.rows import BROWSER_PROBLEM, SESSION_TEXT, TRACE_TEXT


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
    from mcp_sessions.store.sqlite.derive import backfill_span_analysis

    backfill_span_analysis(conn)


# What one trace adds to the operation summaries, read from its spans (`new.trace_id`), and how
# that is taken back. Triggers run them whenever a trace row is derived again or removed.
# No statement in a trigger may rely on a conflict clause (OR IGNORE, OR REPLACE): SQLite
# replaces it with the one of the statement that fired the trigger (the writer's INSERT OR
# REPLACE INTO traces), so rows are deleted first and inserted only where none exists.
_FORGET_TRACE_OPERATIONS = """
    UPDATE operations SET span_count = operations.span_count - o.span_count,
        trace_count = operations.trace_count - 1, critical_ns = operations.critical_ns - o.critical_ns,
        self_ns = operations.self_ns - o.self_ns, total_ns = operations.total_ns - o.total_ns
    FROM (SELECT * FROM operation_traces WHERE trace_id = {trace}) AS o WHERE operations.id = o.operation_id;
    DELETE FROM operations WHERE span_count = 0
        AND id IN (SELECT operation_id FROM operation_traces WHERE trace_id = {trace});
    DELETE FROM operation_traces WHERE trace_id = {trace};
"""
_COUNT_TRACE_OPERATIONS = """
    INSERT INTO operations (op_key, service, fingerprint)
        SELECT DISTINCT json_array(service, fingerprint), service, fingerprint FROM spans s
        WHERE trace_id = new.trace_id
          AND NOT EXISTS (SELECT 1 FROM operations WHERE op_key = json_array(s.service, s.fingerprint));
    INSERT INTO operation_traces (trace_id, operation_id, span_count, critical_ns, self_ns, total_ns, max_ns,
                                  worst_span_id, worst_critical_ns, worst_duration_ns, durations)
        SELECT new.trace_id, operation_id, count(*), sum(critical_ns), sum(self_ns), sum(duration_ns),
               max(duration_ns), max(CASE WHEN rank = 1 THEN span_id END),
               max(CASE WHEN rank = 1 THEN critical_ns END), max(CASE WHEN rank = 1 THEN duration_ns END),
               CASE WHEN count(*) > 1 THEN json_group_array(duration_ns) END
        FROM (SELECT o.id AS operation_id, s.span_id, s.duration_ns, coalesce(s.critical_ns, 0) AS critical_ns,
                     coalesce(s.self_ns, 0) AS self_ns,
                     row_number() OVER (PARTITION BY o.id ORDER BY coalesce(s.critical_ns, 0) DESC,
                                        s.duration_ns DESC, s.span_id) AS rank
              FROM spans s JOIN operations o ON o.op_key = json_array(s.service, s.fingerprint)
              WHERE s.trace_id = new.trace_id)
        GROUP BY operation_id;
    UPDATE operations SET span_count = operations.span_count + o.span_count,
        trace_count = operations.trace_count + 1, critical_ns = operations.critical_ns + o.critical_ns,
        self_ns = operations.self_ns + o.self_ns, total_ns = operations.total_ns + o.total_ns
    FROM (SELECT * FROM operation_traces WHERE trace_id = new.trace_id) AS o WHERE operations.id = o.operation_id;
"""
# One line of searchable text per trace and per session: the fields list filters match with LIKE.
# Fields are joined by U+001F (unit separator), which no recorded name or URL contains.
_TRACE_SERVICES = """
    DELETE FROM trace_services WHERE trace_id = new.trace_id;
    INSERT INTO trace_services (trace_id, service)
        SELECT DISTINCT new.trace_id, value FROM json_each(new.services) WHERE value IS NOT NULL;
"""
_TRACE_SEARCH = f"""
    DELETE FROM trace_search WHERE trace_id = new.trace_id;
    INSERT INTO trace_search (trace_id, text) VALUES (new.trace_id, {TRACE_TEXT.format(t="new")});
"""
_SESSION_SEARCH = f"""
    DELETE FROM session_search WHERE session_id = new.session_id;
    INSERT INTO session_search (session_id, text) VALUES (new.session_id, {SESSION_TEXT.format(s="new")});
"""

_V4 = f"""
-- Operation summaries for ranking over all data without reading every span: per operation
-- (service + fingerprint) totals, and what each trace contributes to them. Triggers on
-- traces keep both exact: the writer derives a trace row again whenever spans of it arrive
-- (after their self and critical-path times are computed), and retention deletes trace rows
-- with their spans.
CREATE TABLE operations (
    id           INTEGER PRIMARY KEY,
    op_key       TEXT NOT NULL UNIQUE,   -- json_array(service, fingerprint): a NULL service stays apart from ''
    service      TEXT,
    fingerprint  TEXT,                   -- NULL only for spans stored without one: counted, never ranked
    span_count   INTEGER NOT NULL DEFAULT 0,
    trace_count  INTEGER NOT NULL DEFAULT 0,
    critical_ns  INTEGER NOT NULL DEFAULT 0,
    self_ns      INTEGER NOT NULL DEFAULT 0,
    total_ns     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE operation_traces (
    trace_id           TEXT NOT NULL,
    operation_id       INTEGER NOT NULL,
    span_count         INTEGER NOT NULL,
    critical_ns        INTEGER NOT NULL,
    self_ns            INTEGER NOT NULL,
    total_ns           INTEGER NOT NULL,
    max_ns             INTEGER NOT NULL,
    worst_span_id      TEXT NOT NULL,     -- most time on the critical path, then the longest
    worst_critical_ns  INTEGER NOT NULL,
    worst_duration_ns  INTEGER NOT NULL,
    durations          TEXT,              -- JSON list of every span's duration, when more than one
    PRIMARY KEY (trace_id, operation_id)
) WITHOUT ROWID;
CREATE INDEX operation_traces_worst ON operation_traces(operation_id, worst_critical_ns, worst_duration_ns);

-- Percentiles of an operation over all data: offsets into one index range.
DROP INDEX spans_fingerprint;
CREATE INDEX spans_operation ON spans(fingerprint, service, duration_ns);

-- Lists: an index per sort order and per filter.
CREATE INDEX traces_duration ON traces(duration_ns);
CREATE INDEX traces_errors ON traces(error_count);
CREATE INDEX traces_span_count ON traces(span_count);
-- (traces in a time window or of a route, read from the index alone)
CREATE INDEX traces_end ON traces(end_ns, start_ns);
CREATE INDEX traces_route ON traces(http_route, start_ns, end_ns) WHERE http_route IS NOT NULL;
CREATE TABLE trace_services (
    trace_id  TEXT NOT NULL,
    service   TEXT NOT NULL,
    PRIMARY KEY (trace_id, service)
) WITHOUT ROWID;
CREATE INDEX trace_services_service ON trace_services(service);
CREATE TABLE trace_search (trace_id TEXT PRIMARY KEY, text TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE session_search (session_id TEXT PRIMARY KEY, text TEXT NOT NULL) WITHOUT ROWID;

CREATE TRIGGER traces_derived_insert AFTER INSERT ON traces BEGIN
    {_FORGET_TRACE_OPERATIONS.format(trace="new.trace_id")}
    {_COUNT_TRACE_OPERATIONS}
    {_TRACE_SERVICES}
    {_TRACE_SEARCH}
END;
CREATE TRIGGER traces_derived_spans AFTER UPDATE OF span_count, start_ns, end_ns, duration_ns, error_count ON traces
BEGIN
    {_FORGET_TRACE_OPERATIONS.format(trace="new.trace_id")}
    {_COUNT_TRACE_OPERATIONS}
END;
CREATE TRIGGER traces_derived_services AFTER UPDATE OF services ON traces BEGIN
    {_TRACE_SERVICES}
END;
CREATE TRIGGER traces_derived_text AFTER UPDATE OF root_name, http_route, http_url ON traces BEGIN
    {_TRACE_SEARCH}
END;
CREATE TRIGGER traces_derived_delete AFTER DELETE ON traces BEGIN
    {_FORGET_TRACE_OPERATIONS.format(trace="old.trace_id")}
    DELETE FROM trace_services WHERE trace_id = old.trace_id;
    DELETE FROM trace_search WHERE trace_id = old.trace_id;
END;

CREATE TRIGGER sessions_derived_insert AFTER INSERT ON sessions BEGIN
    {_SESSION_SEARCH}
END;
CREATE TRIGGER sessions_derived_update AFTER UPDATE ON sessions BEGIN
    DELETE FROM session_search WHERE session_id = old.session_id;
    {_SESSION_SEARCH}
END;
CREATE TRIGGER sessions_derived_delete AFTER DELETE ON sessions BEGIN
    DELETE FROM session_search WHERE session_id = old.session_id;
END;
"""


def _backfill_v4(conn: sqlite3.Connection) -> None:
    from mcp_sessions.store.sqlite.summaries import rebuild

    rebuild(conn)


# Derivation now keeps the operation summaries itself (summaries.update_operations), from the
# spans it has just read: the per-trace triggers were most of its time. Deletes keep theirs, for
# retention; a database at schema 4 is already exact, so nothing is recomputed.
_V5 = f"""
DROP TRIGGER traces_derived_insert;
DROP TRIGGER traces_derived_spans;
CREATE TRIGGER traces_derived_insert AFTER INSERT ON traces BEGIN
    {_TRACE_SERVICES}
    {_TRACE_SEARCH}
END;
"""

# The problem index covers the one browser-problem rule (rows.BROWSER_PROBLEM), which also counts a
# request that got no answer; the sessions' kept counts are recomputed under it.
_V6 = f"""
DROP INDEX events_problems;
CREATE INDEX events_problems ON events(time_ns) WHERE {BROWSER_PROBLEM};
UPDATE sessions SET frontend_error_count = (
    SELECT count(*) FROM events WHERE events.session_id = sessions.session_id AND shadowed = 0 AND {BROWSER_PROBLEM});
"""

# Two spans may share (trace id, span id, shared) and still be different records (a re-sent span
# changed on the way, ids from a seeded generator, one trace exported by two tools): both are
# kept, told apart by a hash of their content; a record sent twice unchanged is stored once.
# Patterns (N+1, duplicate and sequential calls) are found in each trace when it is derived,
# so trace lists and rankings over all data can name them without walking any tree.
_V7 = """
ALTER TABLE spans ADD COLUMN record_hash INTEGER;   -- 64 bits of the record's content (writer.record_hash)
ALTER TABLE ingests ADD COLUMN spans_id_reused INTEGER NOT NULL DEFAULT 0;  -- kept beside another record's ids
DROP INDEX spans_identity;
CREATE TABLE trace_patterns (
    trace_id        TEXT NOT NULL,
    kind            TEXT NOT NULL,      -- n_plus_one | duplicate_calls | sequential_calls
    service         TEXT,
    fingerprint     TEXT NOT NULL,      -- the operation (spans.fingerprint), or the steps joined
    parent_span_id  TEXT,
    parent_name     TEXT,
    count           INTEGER NOT NULL,   -- calls involved
    total_ns        INTEGER NOT NULL,
    impact_ns       INTEGER NOT NULL,   -- the time a fix would plausibly save
    span_id         TEXT NOT NULL       -- the first call
);
CREATE INDEX trace_patterns_trace ON trace_patterns(trace_id);
CREATE INDEX trace_patterns_operation ON trace_patterns(fingerprint, service, trace_id, count)
    WHERE kind = 'n_plus_one';
CREATE TRIGGER trace_patterns_delete AFTER DELETE ON traces BEGIN
    DELETE FROM trace_patterns WHERE trace_id = old.trace_id;
END;
"""


def _backfill_v7(conn: sqlite3.Connection) -> None:
    from mcp_sessions.store.sqlite.derive import backfill_patterns
    from mcp_sessions.store.sqlite.writer import backfill_record_hashes

    backfill_record_hashes(conn)
    conn.execute("CREATE UNIQUE INDEX spans_identity ON spans(trace_id, span_id, shared, record_hash)")
    backfill_patterns(conn)


# URL templates judged across the values stored at each path position (url_templates.py):
# the values and rules, kept as hashes and shapes; requests get their URL template beside the URL.
_V8 = """
CREATE TABLE url_values (
    position TEXT NOT NULL,              -- hash of the templated path before the position
    value    TEXT NOT NULL,              -- hash of the value ('' for a route's placeholder)
    shape    TEXT NOT NULL,              -- its kinds of characters and length (path_templates.shape_of)
    declared INTEGER NOT NULL DEFAULT 0, -- an http.route has a placeholder at the position
    PRIMARY KEY (position, value)
) WITHOUT ROWID;
CREATE TABLE url_rules (
    position TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,              -- declared | many | shape
    kinds    TEXT NOT NULL,
    min_len  INTEGER NOT NULL,
    max_len  INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE events ADD COLUMN url_template TEXT;
CREATE INDEX events_url_template ON events(url_template) WHERE url_template IS NOT NULL;
"""


def _backfill_v8(conn: sqlite3.Connection) -> None:
    from mcp_sessions.analysis.fingerprint import template_url
    from mcp_sessions.store.sqlite.derive import backfill_patterns
    from mcp_sessions.store.sqlite.summaries import rebuild
    from mcp_sessions.store.sqlite.url_templates import relearn_everything

    rows = conn.execute("SELECT id, url FROM events WHERE url IS NOT NULL").fetchall()
    conn.executemany("UPDATE events SET url_template = ? WHERE id = ?", ((template_url(u), i) for i, u in rows))
    if relearn_everything(conn):  # fingerprints changed: what is kept per operation and per trace follows
        rebuild(conn)
        backfill_patterns(conn)


# Erasure that stays done (erased_ids.py, erasure_map.py): a random salt per database; the session,
# user and trace ids `forget` erased, kept only as salted hashes so later data under them is refused
# at ingest, and how many records each ingest refused so. url_values keeps its position and value
# hashes salted from now on (re-keyed here from the unsalted hashes schema 8 stored).
_V9 = """
CREATE TABLE salt (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    value  BLOB NOT NULL                -- random, made once per database; never leaves it
);
CREATE TABLE erased_ids (
    kind          TEXT NOT NULL,        -- session | user | trace
    hash          BLOB NOT NULL,        -- erased_ids.digest(salt, kind, id): never the id itself
    erased_at_ns  INTEGER NOT NULL,
    PRIMARY KEY (kind, hash)
) WITHOUT ROWID;
ALTER TABLE ingests ADD COLUMN records_refused INTEGER NOT NULL DEFAULT 0;  -- under erased sessions/users
"""


def _backfill_v9(conn: sqlite3.Connection) -> None:
    from mcp_sessions.store.sqlite.erased_ids import create_salt
    from mcp_sessions.store.sqlite.url_templates import salt_stored_values

    salt_stored_values(conn, create_salt(conn))


# Times as recorded on any trace (analysis/tree.py, critical_path.py): whether a span's end was
# recorded (where not, end_ns and duration_ns hold the end its children imply, kept by derivation),
# the time each span ran after its trace's root had answered (off the caller's critical path), and
# whether it is a long-lived stream (analysis/streams.py: never ranked as slow work).
_V10 = """
ALTER TABLE spans ADD COLUMN end_known INTEGER NOT NULL DEFAULT 1;
ALTER TABLE spans ADD COLUMN after_ns INTEGER;
ALTER TABLE spans ADD COLUMN stream INTEGER NOT NULL DEFAULT 0;
CREATE INDEX spans_after ON spans(after_ns) WHERE after_ns > 0;
CREATE INDEX spans_stream ON spans(trace_id) WHERE stream = 1;
"""


def _backfill_v10(conn: sqlite3.Connection) -> None:
    from mcp_sessions.store.sqlite.derive import backfill_span_analysis, backfill_streams
    from mcp_sessions.store.sqlite.summaries import rebuild

    backfill_streams(conn)
    if backfill_span_analysis(conn, last_key="record_hash"):  # critical-path times change where roots overlap
        rebuild(conn)


# The HAR copy of a request rrweb also recorded names the rrweb event it repeats, and how the two were
# matched (store/sqlite/copies.py): by trace context, or by method, URL and time when no header links them.
_V11 = """
ALTER TABLE events ADD COLUMN copy_of INTEGER;     -- the id of the event this one repeats (shown instead)
ALTER TABLE events ADD COLUMN copy_method TEXT;    -- trace-context | method-url-time | navigation
CREATE INDEX events_copies ON events(copy_of) WHERE copy_of IS NOT NULL;
CREATE INDEX events_keyless_requests ON events(time_ns) WHERE kind = 'network' AND session_key IS NULL;
"""


def _backfill_v11(conn: sqlite3.Connection) -> None:
    from mcp_sessions.store.sqlite.copies import mark_copies
    from mcp_sessions.store.sqlite.derive import derive_sessions

    sessions = [
        r[0]
        for r in conn.execute("SELECT DISTINCT session_id FROM events WHERE source = 'har' AND session_id IS NOT NULL")
    ]
    mark_copies(conn, sessions)
    derive_sessions(conn, sessions)


# The durations of one operation_traces row (a JSON list when it holds more than one span).
_ROW_DURATIONS = "json_each(coalesce({r}.durations, json_array({r}.total_ns)))"

# Schema 12: how an operation's durations spread, kept so a
# percentile over all data reads a few hundred counts and walks one bucket of the spans_operation
# index rather than half of it; and the spans that carry a code location, by operation, so an
# operation's code location is one seek. operation_durations follows operation_traces by triggers,
# whoever writes or deletes its rows (derivation, retention, erasure, a rebuild).
_V12 = f"""
CREATE INDEX spans_code ON spans(fingerprint, service, duration_ns)
    WHERE code_function IS NOT NULL OR code_filepath IS NOT NULL;
CREATE TABLE operation_durations (
    operation_id  INTEGER NOT NULL,
    bucket        INTEGER NOT NULL,   -- DURATION_BUCKET of each duration counted
    count         INTEGER NOT NULL,
    PRIMARY KEY (operation_id, bucket)
) WITHOUT ROWID;
INSERT INTO operation_durations (operation_id, bucket, count)
    SELECT ot.operation_id, {DURATION_BUCKET.format(d="d.value")}, count(*)
    FROM operation_traces ot, {_ROW_DURATIONS.format(r="ot")} d GROUP BY 1, 2;
CREATE TRIGGER operation_durations_add AFTER INSERT ON operation_traces BEGIN
    UPDATE operation_durations SET count = operation_durations.count + x.n
    FROM (SELECT {DURATION_BUCKET.format(d="value")} AS bucket, count(*) AS n FROM {_ROW_DURATIONS.format(r="new")}
          GROUP BY 1) AS x
    WHERE operation_durations.operation_id = new.operation_id AND operation_durations.bucket = x.bucket;
    INSERT INTO operation_durations (operation_id, bucket, count)
    SELECT new.operation_id, x.bucket, x.n
    FROM (SELECT {DURATION_BUCKET.format(d="value")} AS bucket, count(*) AS n FROM {_ROW_DURATIONS.format(r="new")}
          GROUP BY 1) AS x
    WHERE NOT EXISTS (SELECT 1 FROM operation_durations k WHERE k.operation_id = new.operation_id
                      AND k.bucket = x.bucket);
END;
CREATE TRIGGER operation_durations_take_back AFTER DELETE ON operation_traces BEGIN
    UPDATE operation_durations SET count = operation_durations.count - x.n
    FROM (SELECT {DURATION_BUCKET.format(d="value")} AS bucket, count(*) AS n FROM {_ROW_DURATIONS.format(r="old")}
          GROUP BY 1) AS x
    WHERE operation_durations.operation_id = old.operation_id AND operation_durations.bucket = x.bucket;
    DELETE FROM operation_durations WHERE operation_id = old.operation_id AND count <= 0;
END;
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "ingests, resources, spans, traces, sessions, logs", _V1),
    Migration(2, "events (frontend timeline), session links and frontend counts", _V2),
    Migration(3, "span fingerprints, self time and critical-path time", _V3, _backfill_v3),
    Migration(4, "operation summaries, list indexes and search text, kept by triggers", _V4, _backfill_v4),
    Migration(5, "operation summaries kept by derivation, not by triggers on inserted traces", _V5),
    Migration(
        6, "one browser-problem rule: the problem index and frontend error counts include 4xx and no answer", _V6
    ),
    Migration(7, "distinct span records sharing ids kept apart by content hash; patterns per trace", _V7, _backfill_v7),
    Migration(
        8, "URL templates learned across stored values: url_values, url_rules, events.url_template", _V8, _backfill_v8
    ),
    Migration(
        9,
        "erased session, user and trace ids remembered as salted hashes (later data refused); url_values salted",
        _V9,
        _backfill_v9,
    ),
    Migration(
        10,
        "spans keep whether their end was recorded and the time they ran after their trace's root answered",
        _V10,
        _backfill_v10,
    ),
    Migration(
        11,
        "HAR copies of rrweb requests paired by method, URL and time as well as trace context: events.copy_of",
        _V11,
        _backfill_v11,
    ),
    Migration(12, "operations keep how their durations spread; spans with a code location indexed by operation", _V12),
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
