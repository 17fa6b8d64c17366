"""Gathering what get_session shows: several queries, each result analysed, nothing formatted."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from mcp_sessions.analysis.errors import ErrorGroup, event_occurrence, group_errors, log_occurrence, span_occurrence
from mcp_sessions.analysis.patterns import Pattern, detect_patterns
from mcp_sessions.analysis.tree import build_tree
from mcp_sessions.model import Event, SessionSummary
from mcp_sessions.store import insights, queries

PAGES_SHOWN = 8
SLOWEST_SHOWN = 5


@dataclass(frozen=True)
class SlowRequest:
    method: str | None
    url: str | None
    status: int | None
    duration_ns: int | None
    trace_id: str | None
    backend_ns: int | None
    time_ns: int | None


@dataclass(frozen=True)
class Overview:
    session: SessionSummary
    pages: list[str]
    page_count: int
    counts: dict[str, int]
    errors: list[ErrorGroup]
    slowest: list[SlowRequest]
    patterns: list[Pattern]


def session_overview(conn: sqlite3.Connection, session: SessionSummary) -> Overview:
    sid = session.session_id
    events = queries.session_events(conn, sid)
    traces = queries.session_traces(conn, sid)
    trees = [build_tree(spans) for spans in traces.values()]
    extent = {tid: max(s.end_ns for s in spans) - min(s.start_ns for s in spans) for tid, spans in traces.items()}

    found = insights.failures(conn, insights.SpanScope(session_id=sid))
    sent = {e.trace_id: e.time_ns for e in events if e.kind == "network" and e.trace_id and e.time_ns}
    occurrences = [span_occurrence(s, sid, sent.get(s.trace_id)) for _, s in found.spans]
    occurrences += [event_occurrence(e, sid) for _, e in found.events]
    occurrences += [log_occurrence(r, sid) for _, r in found.logs]
    actions = {sid: [e for e in events if e.kind in insights.ACTION_KINDS]}

    pages = list(dict.fromkeys(e.url for e in events if e.kind == "navigation" and e.url))
    if not pages:  # no browser recording: the routes the session's traces served, in order
        pages = list(dict.fromkeys(t.spans[t.roots[0]].name for t in trees if t.roots))

    requests = [e for e in events if e.kind == "network"]
    if requests:
        slowest = [_request(e, extent) for e in sorted(requests, key=lambda e: -(e.duration_ns or 0))]
    else:
        slowest = [
            SlowRequest(
                None,
                t.spans[t.roots[0]].name,
                None,
                extent[t.spans[0].trace_id],
                t.spans[0].trace_id,
                None,
                t.spans[t.roots[0]].start_ns,
            )
            for t in sorted(trees, key=lambda t: -extent[t.spans[0].trace_id])
            if t.roots
        ]
    counts = {k: v for k, v in queries.session_event_counts(conn, sid).items() if v}
    counts.update(traces=len(traces), spans=sum(len(s) for s in traces.values()))
    return Overview(
        session=session,
        pages=pages[:PAGES_SHOWN],
        page_count=len(pages),
        counts=counts,
        errors=group_errors(occurrences, actions),
        slowest=slowest[:SLOWEST_SHOWN],
        # the HAR copies of rrweb's requests hold the response sizes over-fetching is judged by
        patterns=detect_patterns(trees, queries.session_events(conn, sid, with_copies=True)),
    )


def _request(event: Event, extent: dict[str, int]) -> SlowRequest:
    return SlowRequest(
        event.method,
        event.url,
        event.status,
        event.duration_ns,
        event.trace_id,
        extent.get(event.trace_id) if event.trace_id else None,
        event.time_ns,
    )
