"""Column lists and row → record mappers: how every stored row becomes a model record.

Each read query selects one of these column lists (optionally after leading columns of its
own) and maps the rows with the function beside it, so a record's shape is written once.
Also here: the SQL conditions more than one module tests rows by (a browser problem, the
search text kept per trace and per session).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from mcp_sessions.model import (
    Event,
    LogRecord,
    SessionSummary,
    Span,
    SpanEvent,
    SpanLink,
    StoredPattern,
    TraceSummary,
)

SESSION_COLUMNS = (
    "session_id",
    "user_id",
    "service",
    "services",
    "sources",
    "start_ns",
    "end_ns",
    "duration_ns",
    "first_url",
    "trace_count",
    "span_count",
    "error_count",
    "log_count",
)
SESSION_SELECT = f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions"

TRACE_COLUMNS = (
    "trace_id",
    "session_id",
    "user_id",
    "root_span_id",
    "root_service",
    "root_name",
    "root_kind",
    "http_method",
    "http_route",
    "http_status",
    "http_url",
    "start_ns",
    "end_ns",
    "duration_ns",
    "span_count",
    "error_count",
    "services",
)
TRACE_SELECT = f"SELECT {', '.join(TRACE_COLUMNS)} FROM traces"

SPAN_SELECT = (
    "SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_ns, s.end_ns, s.status_code, "
    "s.status_message, s.attributes, r.attributes, s.scope, s.events, s.links, s.shared, s.fingerprint, s.end_known "
    "FROM spans s JOIN resources r ON r.id = s.resource_id"
)

# Every Event field but `detail` in order, then `detail` (JSON), then the URL template the store derived.
EVENT_COLUMNS = (
    "source, seq, time_ns, kind, summary, url, target, level, method, status, duration_ns, trace_id, "
    "span_id, session_key, client_key, user_id, detail, url_template"
)

LOG_COLUMNS = (
    "l.time_ns, l.observed_time_ns, l.severity_number, l.severity_text, l.body, l.attributes, r.attributes, "
    "l.scope, l.trace_id, l.span_id, l.event_name"
)
LOG_FROM = "logs l JOIN resources r ON r.id = l.resource_id"

# The StoredPattern fields, in order: derivation writes `trace_patterns` rows in it, readers select it.
PATTERN_COLUMNS = (
    "trace_id",
    "kind",
    "service",
    "fingerprint",
    "parent_span_id",
    "parent_name",
    "count",
    "total_ns",
    "impact_ns",
    "span_id",
)
PATTERN_SELECT = f"SELECT {', '.join(PATTERN_COLUMNS)} FROM trace_patterns"

# A browser event that shows something went wrong: a console error, an uncaught error, or a
# request that failed. A request failed when it got a 4xx or 5xx answer (the browser is the
# client: OpenTelemetry marks a client span failed from 400 on, and a 401 or 404 the page
# asked for is a failure the user saw), status 0 (blocked or aborted), or no answer at all
# (HAR's `_error`, stored as no status and `detail.error`).
BROWSER_PROBLEM = (
    "((kind = 'console' AND level = 'error') OR kind = 'error' "
    "OR (kind = 'network' AND (status >= 400 OR status = 0 "
    "OR (status IS NULL AND json_extract(detail, '$.error') IS NOT NULL))))"
)

# The text `trace_search` and `session_search` keep per row, for free-text filters.
TRACE_TEXT = (
    "{t}.trace_id || char(31) || coalesce({t}.root_name, '') || char(31) || coalesce({t}.http_route, '') "
    "|| char(31) || coalesce({t}.http_url, '')"
)
SESSION_TEXT = (
    "{s}.session_id || char(31) || coalesce({s}.user_id, '') || char(31) || {s}.services || char(31) "
    "|| coalesce({s}.first_url, '') || char(31) || coalesce((SELECT group_concat(line, char(31)) FROM ("
    "SELECT DISTINCT coalesce(root_name, '') || char(31) || coalesce(http_route, '') || char(31) "
    "|| coalesce(http_url, '') AS line FROM traces WHERE session_id = {s}.session_id)), '')"
)


def session_from_row(row: Sequence[Any]) -> SessionSummary:
    """A row of SESSION_COLUMNS."""
    c = dict(zip(SESSION_COLUMNS, row, strict=True))
    return SessionSummary(
        session_id=c["session_id"],
        user_id=c["user_id"],
        service=c["service"],
        services=tuple(orjson.loads(c["services"])),
        sources=tuple(orjson.loads(c["sources"])),
        start_ns=c["start_ns"],
        end_ns=c["end_ns"],
        duration_ns=c["duration_ns"],
        first_url=c["first_url"],
        trace_count=c["trace_count"],
        span_count=c["span_count"],
        error_count=c["error_count"],
        log_count=c["log_count"],
    )


def pattern_from_row(row: Sequence[Any]) -> StoredPattern:
    """A row of PATTERN_COLUMNS."""
    return StoredPattern(*row)


def trace_from_row(row: Sequence[Any]) -> TraceSummary:
    """A row of TRACE_COLUMNS."""
    c = dict(zip(TRACE_COLUMNS, row, strict=True))
    return TraceSummary(
        trace_id=c["trace_id"],
        session_id=c["session_id"],
        user_id=c["user_id"],
        root_span_id=c["root_span_id"],
        root_service=c["root_service"],
        root_name=c["root_name"],
        root_kind=c["root_kind"],
        http_method=c["http_method"],
        http_route=c["http_route"],
        http_status=c["http_status"],
        http_url=c["http_url"],
        start_ns=c["start_ns"],
        end_ns=c["end_ns"],
        duration_ns=c["duration_ns"],
        span_count=c["span_count"],
        error_count=c["error_count"],
        services=tuple(orjson.loads(c["services"])),
    )


def event_from_row(row: Sequence[Any]) -> Event:
    """A row of EVENT_COLUMNS."""
    fields: tuple[Any, ...] = (*row[:16], orjson.loads(row[16]), row[17])
    return Event(*fields)


def log_from_row(row: Sequence[Any]) -> LogRecord:
    """A row of LOG_COLUMNS."""
    return LogRecord(
        time_ns=row[0],
        observed_time_ns=row[1],
        severity_number=row[2],
        severity_text=row[3],
        body=row[4],
        attributes=orjson.loads(row[5]),
        resource=orjson.loads(row[6]),
        scope=row[7],
        trace_id=row[8],
        span_id=row[9],
        event_name=row[10],
    )


def spans_from_rows(cur: Iterable[Sequence[Any]]) -> list[Span]:
    """Rows of SPAN_SELECT; spans of one resource share its attributes, decoded once."""
    resources: dict[str, dict[str, Any]] = {}
    spans = []
    for row in cur:
        resource = resources.get(row[10])
        if resource is None:
            resource = resources[row[10]] = orjson.loads(row[10])
        spans.append(
            Span(
                trace_id=row[0],
                span_id=row[1],
                parent_span_id=row[2],
                name=row[3],
                kind=row[4],
                start_ns=row[5],
                end_ns=row[6],
                status_code=row[7],
                status_message=row[8],
                attributes=orjson.loads(row[9]),
                resource=resource,
                scope=row[11],
                events=tuple(SpanEvent(e["time_ns"], e["name"], e["attributes"]) for e in orjson.loads(row[12])),
                links=tuple(SpanLink(li["trace_id"], li["span_id"], li["attributes"]) for li in orjson.loads(row[13])),
                shared=bool(row[14]),
                fingerprint=row[15],
                end_known=bool(row[16]),
            )
        )
    return spans
