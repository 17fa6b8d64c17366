"""The writer: one ingest (a file or a receiver batch) in one transaction.

    with IngestWriter(conn, source=..., fmt=..., content_hash=...) as w:
        if not w.already_ingested:
            w.add(records)            # RowBuilder → write(batch): executemany, INSERT OR IGNORE
            w.finish(redactions)      # learn URL templates, derive traces + sessions for what was touched

`RowBuilder` turns records into rows without the database; `write` stores a batch of
them, wherever it was built.

Either everything of the ingest is committed or nothing is: an exception inside the
block rolls back. Log records and events are identified by a hash of their content, so
overlapping files add nothing twice. Spans are identified by (trace_id, span_id, shared)
and a hash of their content (`record_hash`): ids alone do not name one record, so

    the same record again (a Collector retry, an overlapping file) ─► stored once, counted
                                                                      as a duplicate
    another record with the same ids (a span re-sent changed, ids ─► kept beside the first,
    from a seeded generator, one trace exported by two tools)         counted as reusing ids

Records under an id `forget` erased (erased_ids.py) are refused, never stored: a span, log
record or event whose session key or user id is erased, and every record of a trace that one
of them belongs to. Most are dropped before they are written; those only found out later
(a trace's first refused record in a later batch, keyless events whose inactivity session
turns out to be an erased one) are deleted before the commit with `secure_delete` on. All
are counted as `records_refused`.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import orjson

from mcp_sessions import semconv
from mcp_sessions.analysis.fingerprint import attributes_fingerprint, template_url
from mcp_sessions.analysis.streams import is_stream
from mcp_sessions.formats.coerce import CUT_VALUES, bounded_record
from mcp_sessions.model import Event, LogRecord, Record, SkippedRecords, Span
from mcp_sessions.store.sqlite import erased_ids, retention, url_templates
from mcp_sessions.store.sqlite.copies import join_copied_sessions, mark_copies
from mcp_sessions.store.sqlite.derive import (
    SESSION_GAP_NS,
    derive_sessions,
    derive_traces,
    link_by_time_window,
    load_ids,
    sessionize,
)
from mcp_sessions.store.sqlite.erased_ids import Refusals, log_user
from mcp_sessions.store.sqlite.erasure_map import REMOVED_SOURCE, refused_scope

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
    "fingerprint",
    "end_known",
    "stream",
    "record_hash",
)
# What makes a span record the record it is, by column: the ids, times, names, status, attributes,
# events, links, scope and resource. The rest is promoted from these or derived later.
_RECORD_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "shared",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "status_code",
    "status_message",
    "scope",
    "attributes",
    "events",
    "links",
    "resource_id",
)
_RECORD_FIELDS = itemgetter(*(_SPAN_COLUMNS.index(c) for c in _RECORD_COLUMNS))
# A span row names its resource by hash (rows are built away from the database, see RowBuilder).
_INSERT_SPAN = "INSERT OR IGNORE INTO spans ({}) VALUES ({})".format(
    ", ".join(_SPAN_COLUMNS),
    ", ".join("(SELECT id FROM resources WHERE hash = ?)" if c == "resource_id" else "?" for c in _SPAN_COLUMNS),
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
_EVENT_COLUMNS = (
    "event_hash",
    "session_id",
    "session_key",
    "client_key",
    "user_id",
    "source",
    "seq",
    "time_ns",
    "kind",
    "summary",
    "url",
    "target",
    "level",
    "method",
    "status",
    "duration_ns",
    "trace_id",
    "span_id",
    "link_method",
    "detail",
    "ingest_id",
    "url_template",
)
_INSERT_EVENT = (
    f"INSERT OR IGNORE INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})"
)
_FINGERPRINT = _SPAN_COLUMNS.index("fingerprint")
_ROUTE = _SPAN_COLUMNS.index("http_route")
_SPAN_SESSION, _SPAN_USER = _SPAN_COLUMNS.index("session_id"), _SPAN_COLUMNS.index("user_id")
_SPAN_RESOURCE = _SPAN_COLUMNS.index("resource_id")
_EVENT_SESSION, _EVENT_USER = _EVENT_COLUMNS.index("session_key"), _EVENT_COLUMNS.index("user_id")
_EVENT_TRACE = _EVENT_COLUMNS.index("trace_id")
_INSERT_LOG = f"INSERT OR IGNORE INTO logs ({', '.join(_LOG_COLUMNS)}) VALUES ({', '.join('?' * len(_LOG_COLUMNS))})"


def record_hash(fields: Sequence[Any]) -> int:
    """64 bits of a span record's content (`_RECORD_COLUMNS` values, the resource by its hash), as a signed integer.

    Only records that share their ids are ever compared, so 64 bits leave no room for a collision
    that matters. The values are JSON-encoded, so None, "" and "None" hash apart.
    """
    return int.from_bytes(hashlib.blake2b(orjson.dumps(fields), digest_size=8).digest(), "big", signed=True)


def backfill_record_hashes(conn: sqlite3.Connection) -> None:
    """The `record_hash` of every stored span, computed from its columns as the writer computes it."""
    columns = ", ".join("r.hash" if c == "resource_id" else f"s.{c}" for c in _RECORD_COLUMNS)
    rows = conn.execute(f"SELECT s.id, {columns} FROM spans s JOIN resources r ON r.id = s.resource_id")
    while batch := rows.fetchmany(BATCH_ROWS):
        conn.executemany("UPDATE spans SET record_hash = ? WHERE id = ?", [(record_hash(r[1:]), r[0]) for r in batch])


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str).decode()


_EMPTY_LIST = _json([])  # most spans have no events and no links


@dataclass
class IngestCounts:
    spans_read: int = 0
    spans_stored: int = 0
    spans_id_reused: int = 0  # stored beside a different record with the same ids (both kept)
    logs_read: int = 0
    logs_stored: int = 0
    events_read: int = 0
    events_stored: int = 0
    events_linked: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    traces_touched: int = 0
    sessions_touched: int = 0
    records_refused: int = 0  # spans, logs and events under an erased session or user: not stored

    @property
    def spans_duplicate(self) -> int:
        """Records identical to one stored before (in this ingest or an earlier one): stored once."""
        return self.spans_read - self.spans_stored

    @property
    def logs_duplicate(self) -> int:
        return self.logs_read - self.logs_stored


@dataclass
class RowBatch:
    """Rows ready to write, built without the database (by `RowBuilder`)."""

    # (hash, service, attributes JSON) of each resource first met since the builder's cache last
    # started over, in the order met; written (INSERT OR IGNORE) before the rows that name them.
    resources: list[tuple[str, str | None, str]] = field(default_factory=list)
    spans: list[tuple[Any, ...]] = field(default_factory=list)  # _SPAN_COLUMNS, the resource as its hash
    logs: list[tuple[LogRecord, str]] = field(default_factory=list)  # the row needs the resource's id
    events: list[tuple[Any, ...]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.spans) + len(self.logs) + len(self.events)


class RowBuilder:
    """Redacted records → `RowBatch`es of up to BATCH_ROWS rows, without touching the database.

    Pure: the CPU-bound half of an ingest, kept apart from the writing half.
    """

    def __init__(self, ingest_id: int) -> None:
        self.ingest_id = ingest_id
        self._resources: dict[int, tuple[Mapping[str, Any], str]] = {}

    def batches(self, records: Iterable[Record]) -> Iterator[RowBatch]:
        batch = RowBatch()
        for record in records:
            if isinstance(record, Span | LogRecord | Event):
                record, cuts = bounded_record(record)  # every stored string within MAX_STORED_CHARS, the cut said
                if cuts:
                    batch.skipped[CUT_VALUES] = batch.skipped.get(CUT_VALUES, 0) + cuts
            if isinstance(record, Span):
                batch.spans.append(self._span_row(record, batch))
            elif isinstance(record, LogRecord):
                batch.logs.append((record, self._resource_hash(record.resource, batch)))
            elif isinstance(record, Event):
                batch.events.append(_event_row(record, self.ingest_id))
            elif isinstance(record, SkippedRecords):
                batch.skipped[record.kind] = batch.skipped.get(record.kind, 0) + record.count
            if len(batch) >= BATCH_ROWS:
                yield batch
                batch = RowBatch()
        if len(batch) or batch.skipped:
            yield batch

    def _resource_hash(self, resource: Mapping[str, Any], batch: RowBatch) -> str:
        cached = self._resources.get(id(resource))
        if cached is not None and cached[0] is resource:
            return cached[1]
        encoded = _json(resource)
        digest = hashlib.blake2b(encoded.encode(), digest_size=16).hexdigest()
        service = resource.get("service.name")
        batch.resources.append((digest, str(service) if service not in (None, "") else None, encoded))
        if len(self._resources) >= _RESOURCE_CACHE:  # a JSON Lines file brings new mappings every line
            self._resources.clear()
        self._resources[id(resource)] = (resource, digest)
        return digest

    def _span_row(self, span: Span, batch: RowBatch) -> tuple[Any, ...]:
        p = semconv.promote(span)
        row = (
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
            span.end_ns if span.end_known else span.start_ns,  # derivation keeps the end its children imply
            span.duration_ns if span.end_known else 0,
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
            _json([{"time_ns": e.time_ns, "name": e.name, "attributes": e.attributes} for e in span.events])
            if span.events
            else _EMPTY_LIST,
            _json([{"trace_id": li.trace_id, "span_id": li.span_id, "attributes": li.attributes} for li in span.links])
            if span.links
            else _EMPTY_LIST,
            self._resource_hash(span.resource, batch),
            self.ingest_id,
            attributes_fingerprint(span.name, span.kind, span.attributes),
            int(span.end_known),
            int(is_stream(span)),
        )
        # An end that was not recorded is part of what the record is (its end_ns is only the start);
        # a recorded end adds nothing, so the hashes of records with one stay as they always were.
        fields = _RECORD_FIELDS(row) if span.end_known else (*_RECORD_FIELDS(row), "no end")
        return (*row, record_hash(fields))


class IngestWriter:
    """Writes one ingest atomically; see the module docstring."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        source: str,
        fmt: str,
        content_hash: str,
        session_gap_ns: int = SESSION_GAP_NS,
    ) -> None:
        self.conn = conn
        self.session_gap_ns = session_gap_ns
        self.source = source
        self.fmt = fmt
        self.content_hash = content_hash
        self.counts = IngestCounts()
        self.already_ingested = False
        self.ingest_id: int = 0
        self._resource_ids: dict[str, int] = {}
        self._trace_ids: set[str] = set()
        self._log_sessions: set[str] = set()
        self._last_span_row = 0  # spans stored by this ingest have larger row ids
        self._last_event_row = 0
        self._last_log_row = 0
        self._refusals: Refusals | None = None
        self._unwritten_resources: dict[str, tuple[str, str | None, str]] = {}  # met only on refused records
        # What URL templates are learned from (url_templates.py): this ingest's distinct values.
        self._fingerprints: set[str] = set()
        self._routes: set[str] = set()
        self._url_templates: set[str] = set()

    def __enter__(self) -> IngestWriter:
        self.conn.execute("BEGIN IMMEDIATE")
        self._last_span_row = self.conn.execute("SELECT coalesce(max(id), 0) FROM spans").fetchone()[0]
        self._last_event_row = self.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        self._last_log_row = self.conn.execute("SELECT coalesce(max(id), 0) FROM logs").fetchone()[0]
        self._refusals = Refusals.load(self.conn)
        row = self.conn.execute("SELECT id FROM ingests WHERE content_hash = ?", (self.content_hash,)).fetchone()
        if row:
            self.already_ingested = True
            self.ingest_id = row[0]
        else:
            self.ingest_id = (
                self.conn.execute(
                    "INSERT INTO ingests (content_hash, source, format, ingested_at_ns) VALUES (?, ?, ?, ?)",
                    (self.content_hash, self.source, self.fmt, time.time_ns()),
                ).lastrowid
                or 0
            )
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def add(self, records: Iterable[Record]) -> None:
        """Build rows from `records` here and write them (see `write` for rows built elsewhere)."""
        for batch in RowBuilder(self.ingest_id).batches(records):
            self.write(batch)

    def mark_refused(self, records: Iterable[Record]) -> None:
        """Before adding them: note the traces `records` put under an erased id, so every record of those
        traces is refused as it is written (the receiver, holding a whole batch, calls this)."""
        refusals = self._refusals
        if refusals is None:
            return
        for record in records:
            if isinstance(record, (Span, LogRecord)):
                refusals.under_erased(
                    semconv.session_key(record.attributes, record.resource),
                    log_user(record.attributes, record.resource),
                    record.trace_id,
                )
            elif isinstance(record, Event):
                refusals.under_erased(record.session_key, record.user_id, record.trace_id)

    def write(self, batch: RowBatch) -> None:
        """Store one batch: its resources first, then its rows (INSERT OR IGNORE: duplicates add nothing)."""
        conn, counts = self.conn, self.counts
        if self._refusals is not None:
            batch = self._refuse(batch)
        if batch.resources:
            conn.executemany(
                "INSERT OR IGNORE INTO resources (hash, service, attributes) VALUES (?, ?, ?)", batch.resources
            )
        if batch.spans:
            counts.spans_read += len(batch.spans)
            counts.spans_stored += conn.executemany(_INSERT_SPAN, batch.spans).rowcount
            self._trace_ids.update(map(itemgetter(0), batch.spans))
            self._fingerprints.update(f for f in map(itemgetter(_FINGERPRINT), batch.spans) if f)
            self._routes.update(r for r in map(itemgetter(_ROUTE), batch.spans) if r)
        if batch.logs:
            counts.logs_read += len(batch.logs)
            rows = [self._log_row(record, self._resource_id(digest)) for record, digest in batch.logs]
            counts.logs_stored += conn.executemany(_INSERT_LOG, rows).rowcount
        if batch.events:
            counts.events_read += len(batch.events)
            counts.events_stored += conn.executemany(_INSERT_EVENT, batch.events).rowcount
            self._url_templates.update(r[-1] for r in batch.events if r[-1])
        for kind, n in batch.skipped.items():
            counts.skipped[kind] = counts.skipped.get(kind, 0) + n

    def _refuse(self, batch: RowBatch) -> RowBatch:
        """The batch without its records under erased ids, with only the resources its kept records need.

        A resource met only on refused records is held back (it may name the erased user), and
        written when a later kept record needs it.
        """
        refusals = self._refusals
        assert refusals is not None
        kept = RowBatch(
            spans=[r for r in batch.spans if not refusals.under_erased(r[_SPAN_SESSION], r[_SPAN_USER], r[0])],
            logs=[
                (record, digest)
                for record, digest in batch.logs
                if not refusals.under_erased(
                    semconv.log_session_key(record), log_user(record.attributes, record.resource), record.trace_id
                )
            ],
            events=[
                r for r in batch.events if not refusals.under_erased(r[_EVENT_SESSION], r[_EVENT_USER], r[_EVENT_TRACE])
            ],
            skipped=batch.skipped,
        )
        self.counts.records_refused += len(batch) - len(kept)
        self._unwritten_resources.update((r[0], r) for r in batch.resources)
        needed = {r[_SPAN_RESOURCE] for r in kept.spans} | {digest for _, digest in kept.logs}
        kept.resources = [r for h, r in self._unwritten_resources.items() if h in needed]  # in the order met
        for resource in kept.resources:
            del self._unwritten_resources[resource[0]]
        return kept

    def _refuse_late(self) -> None:
        """Take back what turned out to be under an erased id only once stored (see the module docstring).

        A trace refused in this ingest may hold records stored before its refused one was read (in
        an earlier batch, or an earlier request the exporter sent on its own), and keyless events
        may fall in an erased inactivity session. Those traces and sessions are erased whole,
        earlier ingests' records of them included, by the one erasure mechanism (erasure_map.py),
        and remembered, so their later records are refused as they come.
        """
        refusals, conn = self._refusals, self.conn
        if refusals is None:
            return
        auto = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT session_id FROM events WHERE id > ? AND session_id LIKE 'auto-%'",
                (self._last_event_row,),
            )
            if refusals.erased("session", r[0])
        ]
        if auto:
            refusals.traces.update(
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT trace_id FROM events WHERE id > ? AND trace_id IS NOT NULL AND session_id IN "
                    "(SELECT value FROM json_each(?))",
                    (self._last_event_row, orjson.dumps(auto).decode()),
                )
            )
        if not refusals.traces and not auto:
            return
        traces = sorted(refusals.traces)
        stored = orjson.dumps(traces).decode()
        if not auto and not any(
            conn.execute(
                f"SELECT 1 FROM {table} WHERE trace_id IN (SELECT value FROM json_each(?)) LIMIT 1", (stored,)
            ).fetchone()
            for table in ("spans", "logs")
        ):
            erased_ids.remember(conn, "trace", traces)  # every record was refused as it came
            return
        in_traces = "trace_id IN (SELECT value FROM json_each(?))"
        sessions = orjson.dumps(auto).decode()
        spans, logs, events = (  # this ingest's own rows among them: refused, not merely removed
            conn.execute(f"SELECT count(*) FROM spans WHERE id > ? AND {in_traces}", (self._last_span_row, stored)),
            conn.execute(f"SELECT count(*) FROM logs WHERE id > ? AND {in_traces}", (self._last_log_row, stored)),
            conn.execute(
                f"SELECT count(*) FROM events WHERE id > ? AND ({in_traces} OR session_id IN "
                "(SELECT value FROM json_each(?)))",
                (self._last_event_row, stored, sessions),
            ),
        )
        spans, logs, events = (cursor.fetchone()[0] for cursor in (spans, logs, events))
        secure = conn.execute("PRAGMA secure_delete").fetchone()[0]
        conn.execute("PRAGMA secure_delete = ON")
        try:
            retention.erase_rows(conn, refused_scope(traces, auto))
        finally:
            conn.execute(f"PRAGMA secure_delete = {int(secure)}")
        c = self.counts
        c.spans_read, c.spans_stored = c.spans_read - spans, c.spans_stored - spans
        c.logs_read, c.logs_stored = c.logs_read - logs, c.logs_stored - logs
        c.events_read, c.events_stored = c.events_read - events, c.events_stored - events
        c.records_refused += spans + logs + events
        # What URL templates learn from and which traces are derived: only what stays.
        self._trace_ids -= refusals.traces
        self._fingerprints, self._routes = set(), set()
        for fingerprint, route in conn.execute(
            "SELECT DISTINCT fingerprint, http_route FROM spans WHERE id > ?", (self._last_span_row,)
        ):
            if fingerprint:
                self._fingerprints.add(fingerprint)
            if route:
                self._routes.add(route)
        self._url_templates = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT url_template FROM events WHERE id > ? AND url_template IS NOT NULL",
                (self._last_event_row,),
            )
        }
        self._log_sessions = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT session_id FROM logs WHERE id > ? AND session_id IS NOT NULL", (self._last_log_row,)
            )
        }

    def finish(self, redactions: Mapping[str, int]) -> IngestCounts:
        """Derive traces and sessions for everything this ingest touched; record the outcome."""
        event_sessions: set[str] = set()
        joined: set[str] = set()
        if self.counts.events_stored:
            sessionize(self.conn, self.ingest_id, self.session_gap_ns)
        self._refuse_late()
        if self.counts.events_stored:
            joined = join_copied_sessions(self.conn, self.ingest_id)
            event_sessions = joined | {
                r[0]
                for r in self.conn.execute(
                    "SELECT DISTINCT session_id FROM events WHERE ingest_id = ? AND session_id IS NOT NULL",
                    (self.ingest_id,),
                )
            }
        if self.counts.spans_stored:
            self.counts.spans_id_reused = self._count_id_reuse()
        # Fingerprints with the URL templates learned from everything stored, this ingest included;
        # traces of earlier ingests whose fingerprints a new template changed are derived again.
        relearned = url_templates.update(
            self.conn, self.ingest_id, self._fingerprints, self._routes, self._url_templates
        )
        # Traces first, so requests (stored now or earlier) can be matched to them by time window.
        sessions = derive_traces(self.conn, self._trace_ids | relearned)
        self.counts.events_linked = link_by_time_window(self.conn, self.ingest_id, self._trace_ids)
        # Traces that gained a request, from this ingest or an earlier one, take its session. Traces that
        # arrive later find these requests when they are derived (derive_traces looks at events).
        linked = {
            r[0]
            for r in self.conn.execute(
                "SELECT DISTINCT e.trace_id FROM events e JOIN traces t ON t.trace_id = e.trace_id "
                "WHERE e.ingest_id = ? OR e.trace_id IN (SELECT id FROM touched_traces)",
                (self.ingest_id,),
            )
        }
        if joined:  # requests moved into another session take their traces with them
            load_ids(self.conn, "joined_sessions", joined)
            linked |= {
                r[0]
                for r in self.conn.execute(
                    "SELECT DISTINCT trace_id FROM events WHERE trace_id IS NOT NULL "
                    "AND session_id IN (SELECT id FROM joined_sessions)"
                )
            }
        if linked:
            sessions |= derive_traces(self.conn, linked)
        sessions |= self._log_sessions | event_sessions
        mark_copies(self.conn, event_sessions)
        derive_sessions(self.conn, sessions)
        self.counts.traces_touched = len(self._trace_ids)
        self.counts.sessions_touched = len(sessions)
        c = self.counts
        self.conn.execute(
            "UPDATE ingests SET spans_stored = ?, spans_duplicate = ?, spans_id_reused = ?, logs_stored = ?, "
            "logs_duplicate = ?, skipped = ?, redactions = ?, events_stored = ?, records_refused = ?, source = ? "
            "WHERE id = ?",
            (
                c.spans_stored,
                c.spans_duplicate,
                c.spans_id_reused,
                c.logs_stored,
                c.logs_duplicate,
                _json(c.skipped),
                _json(dict(redactions)),
                c.events_stored,
                c.records_refused,
                REMOVED_SOURCE if c.records_refused else self.source,  # the file's name may be the erased user's
                self.ingest_id,
            ),
        )
        return c

    def _count_id_reuse(self) -> int:
        """Spans this ingest stored whose ids a different record, stored before them, already had.

        A span whose ids first appear twice in this ingest counts once (the second record), as
        does one that meets a record of an earlier ingest: each is what collapsing by ids would
        have lost.
        """
        return self.conn.execute(
            "SELECT count(*) FROM spans s WHERE s.id > ? AND EXISTS (SELECT 1 FROM spans o "
            "WHERE o.trace_id = s.trace_id AND o.span_id = s.span_id AND o.shared = s.shared AND o.id < s.id)",
            (self._last_span_row,),
        ).fetchone()[0]

    def _resource_id(self, digest: str) -> int:
        resource_id = self._resource_ids.get(digest)
        if resource_id is None:
            resource_id = self.conn.execute("SELECT id FROM resources WHERE hash = ?", (digest,)).fetchone()[0]
            self._resource_ids[digest] = resource_id
        return resource_id

    def _log_row(self, record: LogRecord, resource_id: int) -> tuple[Any, ...]:
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


def _event_row(event: Event, ingest_id: int) -> tuple[Any, ...]:
    detail = _json(event.detail)
    identity = _json(
        [
            event.source,
            event.session_key,
            event.client_key,
            event.time_ns,
            event.seq,
            event.kind,
            event.summary,
            event.url,
            detail,
        ]
    )
    link = "traceparent" if event.trace_id else None
    if event.trace_id and isinstance(event.detail.get("trace_header"), str):
        link = event.detail["trace_header"]
    return (
        hashlib.blake2b(identity.encode(), digest_size=16).hexdigest(),
        event.session_key,
        event.session_key,
        event.client_key,
        event.user_id,
        event.source,
        event.seq,
        event.time_ns,
        event.kind,
        event.summary,
        event.url,
        event.target,
        event.level,
        event.method,
        event.status,
        event.duration_ns,
        event.trace_id,
        event.span_id,
        link,
        detail,
        ingest_id,
        template_url(event.url) if event.url else None,  # learned templates applied at finish
    )
