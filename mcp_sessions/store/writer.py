"""The writer: one ingest (a file or a receiver batch) in one transaction.

    with IngestWriter(conn, source=..., fmt=..., content_hash=...) as w:
        if not w.already_ingested:
            w.add(records)            # executemany in batches, INSERT OR IGNORE
            w.finish(redactions)      # derive traces + sessions for what was touched

Either everything of the ingest is committed or nothing is: an exception inside the
block rolls back. Spans are identified by (trace_id, span_id, shared), log records by a
hash of their content, so overlapping files add nothing twice.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from mcp_sessions import semconv
from mcp_sessions.model import LogRecord, Record, SkippedRecords, Span

BATCH_ROWS = 2_000
_RESOURCE_CACHE = 1_024

_SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "shared",
    "session_id",
    "user_id",
    "service",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "duration_ns",
    "status_code",
    "status_message",
    "http_method",
    "http_route",
    "http_status",
    "http_url",
    "db_system",
    "db_statement",
    "exception_type",
    "exception_message",
    "code_function",
    "code_filepath",
    "code_lineno",
    "scope",
    "attributes",
    "events",
    "links",
    "resource_id",
    "ingest_id",
)
_INSERT_SPAN = (
    f"INSERT OR IGNORE INTO spans ({', '.join(_SPAN_COLUMNS)}) VALUES ({', '.join('?' * len(_SPAN_COLUMNS))})"
)
_LOG_COLUMNS = (
    "record_hash",
    "time_ns",
    "observed_time_ns",
    "severity_number",
    "severity_text",
    "body",
    "event_name",
    "trace_id",
    "span_id",
    "session_id",
    "service",
    "scope",
    "attributes",
    "resource_id",
    "ingest_id",
)
_INSERT_LOG = f"INSERT OR IGNORE INTO logs ({', '.join(_LOG_COLUMNS)}) VALUES ({', '.join('?' * len(_LOG_COLUMNS))})"


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str).decode()


@dataclass
class IngestCounts:
    spans_read: int = 0
    spans_stored: int = 0
    logs_read: int = 0
    logs_stored: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    traces_touched: int = 0
    sessions_touched: int = 0

    @property
    def spans_duplicate(self) -> int:
        return self.spans_read - self.spans_stored

    @property
    def logs_duplicate(self) -> int:
        return self.logs_read - self.logs_stored


class IngestWriter:
    """Writes one ingest atomically; see the module docstring."""

    def __init__(self, conn: sqlite3.Connection, *, source: str, fmt: str, content_hash: str) -> None:
        self.conn = conn
        self.source = source
        self.fmt = fmt
        self.content_hash = content_hash
        self.counts = IngestCounts()
        self.already_ingested = False
        self.ingest_id: int | None = None
        self._resource_ids: dict[int, tuple[Mapping[str, Any], int]] = {}
        self._span_rows: list[tuple[Any, ...]] = []
        self._log_rows: list[tuple[Any, ...]] = []
        self._trace_ids: set[str] = set()
        self._log_sessions: set[str] = set()

    def __enter__(self) -> IngestWriter:
        self.conn.execute("BEGIN IMMEDIATE")
        row = self.conn.execute("SELECT id FROM ingests WHERE content_hash = ?", (self.content_hash,)).fetchone()
        if row:
            self.already_ingested = True
            self.ingest_id = row[0]
        else:
            self.ingest_id = self.conn.execute(
                "INSERT INTO ingests (content_hash, source, format, ingested_at_ns) VALUES (?, ?, ?, ?)",
                (self.content_hash, self.source, self.fmt, time.time_ns()),
            ).lastrowid
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def add(self, records: Iterable[Record]) -> None:
        for record in records:
            if isinstance(record, Span):
                self._span_rows.append(self._span_row(record))
                self._trace_ids.add(record.trace_id)
                if len(self._span_rows) >= BATCH_ROWS:
                    self._flush_spans()
            elif isinstance(record, LogRecord):
                self._log_rows.append(self._log_row(record))
                if len(self._log_rows) >= BATCH_ROWS:
                    self._flush_logs()
            elif isinstance(record, SkippedRecords):
                self.counts.skipped[record.kind] = self.counts.skipped.get(record.kind, 0) + record.count
        self._flush_spans()
        self._flush_logs()

    def finish(self, redactions: Mapping[str, int]) -> IngestCounts:
        """Derive traces and sessions for everything this ingest touched; record the outcome."""
        sessions = derive_traces(self.conn, self._trace_ids) | self._log_sessions
        derive_sessions(self.conn, sessions)
        self.counts.traces_touched = len(self._trace_ids)
        self.counts.sessions_touched = len(sessions)
        c = self.counts
        self.conn.execute(
            "UPDATE ingests SET spans_stored = ?, spans_duplicate = ?, logs_stored = ?, logs_duplicate = ?, "
            "skipped = ?, redactions = ? WHERE id = ?",
            (
                c.spans_stored,
                c.spans_duplicate,
                c.logs_stored,
                c.logs_duplicate,
                _json(c.skipped),
                _json(dict(redactions)),
                self.ingest_id,
            ),
        )
        return c

    def _resource_id(self, resource: Mapping[str, Any]) -> int:
        cached = self._resource_ids.get(id(resource))
        if cached is not None and cached[0] is resource:
            return cached[1]
        encoded = _json(resource)
        digest = hashlib.blake2b(encoded.encode(), digest_size=16).hexdigest()
        service = resource.get("service.name")
        self.conn.execute(
            "INSERT OR IGNORE INTO resources (hash, service, attributes) VALUES (?, ?, ?)",
            (digest, str(service) if service not in (None, "") else None, encoded),
        )
        resource_id = self.conn.execute("SELECT id FROM resources WHERE hash = ?", (digest,)).fetchone()[0]
        if len(self._resource_ids) >= _RESOURCE_CACHE:  # a JSON Lines file brings new mappings every line
            self._resource_ids.clear()
        self._resource_ids[id(resource)] = (resource, resource_id)
        return resource_id

    def _span_row(self, span: Span) -> tuple[Any, ...]:
        p = semconv.promote(span)
        return (
            span.trace_id,
            span.span_id,
            span.parent_span_id,
            int(span.shared),
            p.session_id,
            p.user_id,
            span.service,
            span.name,
            span.kind,
            span.start_ns,
            span.end_ns,
            span.duration_ns,
            span.status_code,
            span.status_message,
            p.http_method,
            p.http_route,
            p.http_status,
            p.http_url,
            p.db_system,
            p.db_statement,
            p.exception_type,
            p.exception_message,
            p.code_function,
            p.code_filepath,
            p.code_lineno,
            span.scope,
            _json(span.attributes),
            _json([{"time_ns": e.time_ns, "name": e.name, "attributes": e.attributes} for e in span.events]),
            _json([{"trace_id": li.trace_id, "span_id": li.span_id, "attributes": li.attributes} for li in span.links]),
            self._resource_id(span.resource),
            self.ingest_id,
        )

    def _log_row(self, record: LogRecord) -> tuple[Any, ...]:
        resource_id = self._resource_id(record.resource)
        body = record.body if isinstance(record.body, str) or record.body is None else _json(record.body)
        attributes = _json(record.attributes)
        identity = _json(
            [
                record.time_ns,
                record.trace_id,
                record.span_id,
                record.severity_number,
                record.severity_text,
                body,
                record.event_name,
                attributes,
                resource_id,
            ]
        )
        session_id = semconv.log_session_key(record)
        if session_id:
            self._log_sessions.add(session_id)
        return (
            hashlib.blake2b(identity.encode(), digest_size=16).hexdigest(),
            record.time_ns,
            record.observed_time_ns,
            record.severity_number,
            record.severity_text,
            body,
            record.event_name,
            record.trace_id,
            record.span_id,
            session_id,
            record.service,
            record.scope,
            attributes,
            resource_id,
            self.ingest_id,
        )

    def _flush_spans(self) -> None:
        if self._span_rows:
            self.counts.spans_read += len(self._span_rows)
            self.counts.spans_stored += self.conn.executemany(_INSERT_SPAN, self._span_rows).rowcount
            self._span_rows.clear()

    def _flush_logs(self) -> None:
        if self._log_rows:
            self.counts.logs_read += len(self._log_rows)
            self.counts.logs_stored += self.conn.executemany(_INSERT_LOG, self._log_rows).rowcount
            self._log_rows.clear()


def _load_ids(conn: sqlite3.Connection, table: str, ids: Iterable[str]) -> None:
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY) WITHOUT ROWID")
    conn.execute(f"DELETE FROM {table}")
    conn.executemany(f"INSERT OR IGNORE INTO {table} (id) VALUES (?)", ((i,) for i in ids))


def derive_traces(conn: sqlite3.Connection, trace_ids: Iterable[str]) -> set[str]:
    """Rebuild the `traces` rows of `trace_ids` from their spans; returns every session touched."""
    _load_ids(conn, "touched_traces", trace_ids)
    before = {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT session_id FROM traces WHERE session_id IS NOT NULL "
            "AND trace_id IN (SELECT id FROM touched_traces)"
        )
    }
    conn.execute(
        """
        INSERT OR REPLACE INTO traces (trace_id, start_ns, end_ns, duration_ns, span_count, error_count,
                                       service_count, services)
        SELECT trace_id, min(start_ns), max(end_ns), max(end_ns) - min(start_ns), count(*),
               sum(status_code = 'error'), count(DISTINCT service),
               coalesce((SELECT json_group_array(service) FROM (
                   SELECT DISTINCT service FROM spans s2 WHERE s2.trace_id = spans.trace_id
                   AND s2.service IS NOT NULL ORDER BY service)), '[]')
        FROM spans WHERE trace_id IN (SELECT id FROM touched_traces) GROUP BY trace_id
        """
    )
    # The root: a span without a parent, or whose parent was never reported; the earliest wins.
    conn.execute(
        """
        UPDATE traces SET (root_span_id, root_service, root_name, root_kind, http_method, http_route,
                           http_status, http_url) = (
            SELECT s.span_id, s.service, s.name, s.kind, s.http_method, s.http_route, s.http_status, s.http_url
            FROM spans s
            WHERE s.trace_id = traces.trace_id
              AND (s.parent_span_id IS NULL OR NOT EXISTS (
                   SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id))
            ORDER BY s.start_ns, s.end_ns DESC, s.shared LIMIT 1)
        WHERE trace_id IN (SELECT id FROM touched_traces)
        """
    )
    conn.execute(
        """
        UPDATE traces SET
            session_id = (SELECT session_id FROM spans s WHERE s.trace_id = traces.trace_id
                          AND s.session_id IS NOT NULL GROUP BY session_id
                          ORDER BY count(*) DESC, session_id LIMIT 1),
            user_id = (SELECT user_id FROM spans s WHERE s.trace_id = traces.trace_id
                       AND s.user_id IS NOT NULL GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1)
        WHERE trace_id IN (SELECT id FROM touched_traces)
        """
    )
    after = {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT session_id FROM traces WHERE session_id IS NOT NULL "
            "AND trace_id IN (SELECT id FROM touched_traces)"
        )
    }
    return before | after


def derive_sessions(conn: sqlite3.Connection, session_ids: Iterable[str]) -> None:
    """Rebuild the `sessions` rows of `session_ids` from their traces and logs."""
    _load_ids(conn, "touched_sessions", session_ids)
    conn.execute("DELETE FROM sessions WHERE session_id IN (SELECT id FROM touched_sessions)")
    conn.execute(
        """
        INSERT INTO sessions (session_id, user_id, service, services, sources, start_ns, end_ns, duration_ns,
                              first_url, trace_count, span_count, error_count, log_count)
        SELECT id, user_id, service, services, sources, start_ns, end_ns, end_ns - start_ns, first_url,
               trace_count, span_count, error_count, log_count
        FROM (
            SELECT t.id,
                (SELECT user_id FROM traces WHERE session_id = t.id AND user_id IS NOT NULL
                 GROUP BY user_id ORDER BY count(*) DESC LIMIT 1) AS user_id,
                (SELECT root_service FROM traces WHERE session_id = t.id AND root_service IS NOT NULL
                 GROUP BY root_service ORDER BY count(*) DESC, root_service LIMIT 1) AS service,
                coalesce((SELECT json_group_array(value) FROM (
                    SELECT DISTINCT j.value FROM traces, json_each(traces.services) j
                    WHERE traces.session_id = t.id ORDER BY j.value)), '[]') AS services,
                coalesce((SELECT json_group_array(format) FROM (
                    SELECT DISTINCT i.format FROM ingests i WHERE i.id IN (
                        SELECT s.ingest_id FROM traces tr JOIN spans s ON s.trace_id = tr.trace_id
                        WHERE tr.session_id = t.id
                        UNION SELECT l.ingest_id FROM logs l WHERE l.session_id = t.id)
                    ORDER BY i.format)), '[]') AS sources,
                min(coalesce((SELECT min(start_ns) FROM traces WHERE session_id = t.id), 9e18),
                    coalesce((SELECT min(time_ns) FROM logs WHERE session_id = t.id), 9e18)) AS start_ns,
                max(coalesce((SELECT max(end_ns) FROM traces WHERE session_id = t.id), 0),
                    coalesce((SELECT max(time_ns) FROM logs WHERE session_id = t.id), 0)) AS end_ns,
                (SELECT coalesce(http_url, http_route) FROM traces WHERE session_id = t.id
                 AND coalesce(http_url, http_route) IS NOT NULL ORDER BY start_ns LIMIT 1) AS first_url,
                (SELECT count(*) FROM traces WHERE session_id = t.id) AS trace_count,
                (SELECT coalesce(sum(span_count), 0) FROM traces WHERE session_id = t.id) AS span_count,
                (SELECT coalesce(sum(error_count), 0) FROM traces WHERE session_id = t.id) AS error_count,
                (SELECT count(*) FROM logs WHERE session_id = t.id OR trace_id IN (
                    SELECT trace_id FROM traces WHERE session_id = t.id)) AS log_count
            FROM touched_sessions t
        )
        WHERE trace_count > 0 OR log_count > 0
        """
    )
