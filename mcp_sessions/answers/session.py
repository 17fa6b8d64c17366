"""Sessions: the list to find one by, and the overview get_session and session:// show.

The overview gathers several questions to the store, analyses each answer (trees, error
groups, patterns), and formats nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcp_sessions.analysis.errors import ErrorGroup
from mcp_sessions.analysis.tree import build_tree
from mcp_sessions.answers.draft import recording
from mcp_sessions.answers.errors import find_errors
from mcp_sessions.answers.lookup import min_duration_ns, require_session, time_window
from mcp_sessions.drafting.draft import collect_calls, user_actions
from mcp_sessions.model import Event, Page, SessionFilter, SessionSummary, Sort, Span, SpanScope
from mcp_sessions.semconv import promote
from mcp_sessions.store.protocol import SessionStore

if TYPE_CHECKING:
    from mcp_sessions.analysis.patterns import Pattern

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
    # what the next calls are chosen by (render/offers.py)
    baseline_candidate: str | None = None
    api_requests: int = 0
    user_actions: int = 0


@dataclass(frozen=True)
class SessionQuery:
    """What list_sessions was asked, as the caller wrote it (its next-call hint repeats it)."""

    query: str | None = None
    service: str | None = None
    user_id: str | None = None
    since: str | None = None
    until: str | None = None
    has_errors: bool | None = None
    min_duration_ms: float | None = None
    sort: Sort = "recent"


@dataclass(frozen=True)
class SessionsFound:
    query: SessionQuery
    page: Page[SessionSummary]
    unsessioned_traces: int


def list_sessions(store: SessionStore, q: SessionQuery, *, limit: int, cursor: str | None) -> SessionsFound:
    since_ns, until_ns = time_window(q.since, q.until)
    f = SessionFilter(
        q.query, q.service, q.user_id, since_ns, until_ns, q.has_errors, min_duration_ns(q.min_duration_ms)
    )
    page = store.sessions(f, sort=q.sort, limit=limit, cursor=cursor)
    return SessionsFound(q, page, store.unsessioned_trace_count())


def session_overview(store: SessionStore, session_id: str) -> Overview:
    from mcp_sessions.analysis.patterns import detect_patterns  # loaded on first use: faster start-up

    session = require_session(store, session_id)
    sid = session.session_id
    events = store.session_events(sid)
    traces = store.session_traces(sid)
    trees = [build_tree(spans) for spans in traces.values()]
    extent = {tid: max(s.end_ns for s in spans) - min(s.start_ns for s in spans) for tid, spans in traces.items()}

    errors = find_errors(store, SpanScope(session_id=sid), {"backend", "browser", "log"}, shown=1)

    pages = list(dict.fromkeys(e.url for e in events if e.kind == "navigation" and e.url))
    if not pages:  # no browser recording: the routes the session's traces served, in order
        pages = list(dict.fromkeys(t.spans[t.roots[0]].name for t in trees if t.roots))

    requests = [e for e in events if e.kind == "network"]
    if requests:
        slowest = [_request(e, extent) for e in sorted(requests, key=lambda e: -(e.duration_ns or 0))]
    else:
        slowest = [
            _backend_request(t.spans[t.roots[0]], extent[t.spans[0].trace_id])
            for t in sorted(trees, key=lambda t: -extent[t.spans[0].trace_id])
            if t.roots
        ]
    counts = {k: v for k, v in store.event_counts(sid).items() if v}
    counts.update(traces=len(traces), spans=sum(len(s) for s in traces.values()))
    candidates = store.baseline_candidates(sid, session.start_ns) if traces else []
    return Overview(
        session=session,
        pages=pages[:PAGES_SHOWN],
        page_count=len(pages),
        counts=counts,
        errors=errors.groups,
        slowest=slowest[:SLOWEST_SHOWN],
        # the HAR copies of rrweb's requests hold the response sizes over-fetching is judged by
        patterns=detect_patterns(trees, store.session_events(sid, with_copies=True)),
        baseline_candidate=candidates[0].session_id if candidates else None,
        api_requests=len(collect_calls(*recording(store, sid)).calls),
        user_actions=user_actions(events),
    )


def _backend_request(root: Span, extent_ns: int) -> SlowRequest:
    """A trace no recorded request started, by its root span: its name, and the HTTP method and status it served."""
    promoted = promote(root)
    return SlowRequest(
        promoted.http_method, root.name, promoted.http_status, extent_ns, root.trace_id, None, root.start_ns
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
