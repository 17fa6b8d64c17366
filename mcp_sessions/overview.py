"""Gathering what get_session shows: several queries, each result analysed, nothing formatted."""

from __future__ import annotations

import sqlite3
from collections import Counter
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


@dataclass(frozen=True)
class ErrorsFound:
    groups: list[ErrorGroup]
    occurrences: int
    by_source: dict[str, int]
    truncated: bool


def find_errors(conn: sqlite3.Connection, scope: insights.SpanScope, sources: set[str], shown: int) -> ErrorsFound:
    """Failures in a scope grouped by fingerprint; the user's actions are read for the groups shown."""
    found = insights.failures(conn, scope)
    sent = insights.request_times(conn, sorted({s.trace_id for _, s in found.spans}))
    occurrences = []
    if "backend" in sources:
        occurrences += [span_occurrence(s, sid, sent.get(s.trace_id)) for sid, s in found.spans]
    if "browser" in sources:
        occurrences += [event_occurrence(e, sid) for sid, e in found.events]
    if "log" in sources:
        occurrences += [log_occurrence(r, sid) for sid, r in found.logs]
    # Traces where an exception may be restated by other spans (the spans it propagated through, the
    # server span that answered 500): their parent links tell a restatement from a failure of its own.
    raised = {o.trace_id for o in occurrences if o.kind == "exception" and o.trace_id}
    failing = Counter(o.trace_id for o in occurrences if o.trace_id in raised)
    parents = insights.span_parents(conn, sorted(t for t, n in failing.items() if n > 1))
    first_sessions = {g.session_ids[0] for g in group_errors(occurrences, parents=parents)[:shown] if g.session_ids}
    groups = group_errors(occurrences, insights.session_actions(conn, sorted(first_sessions)), parents)
    by_source = {s: sum(1 for o in occurrences if o.source == s) for s in ("backend", "browser", "log")}
    # An exception recorded again by the spans it propagated through is one failure.
    repeats = sum(g.related.get("enclosing span", 0) for g in groups)
    by_source["backend"] -= repeats
    return ErrorsFound(groups, len(occurrences) - repeats, by_source, found.truncated)


def session_overview(conn: sqlite3.Connection, session: SessionSummary) -> Overview:
    sid = session.session_id
    events = queries.session_events(conn, sid)
    traces = queries.session_traces(conn, sid)
    trees = [build_tree(spans) for spans in traces.values()]
    extent = {tid: max(s.end_ns for s in spans) - min(s.start_ns for s in spans) for tid, spans in traces.items()}

    errors = find_errors(conn, insights.SpanScope(session_id=sid), {"backend", "browser", "log"}, shown=1)

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
        errors=errors.groups,
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
