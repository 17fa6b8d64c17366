"""Draft: a runnable regression test from a recorded session (the generator is drafting/).

The draft reads the session's browser events, the HAR copies of its rrweb requests (they hold
the response bodies), its traces (a backend-only session is replayed from their entry
requests) and their spans (how many queries each request ran, and its N+1 loops). A baseline
session, a good run, gives the latency guard its times and the query bounds their counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp_sessions.answers.lookup import offsets, require_session
from mcp_sessions.drafting.draft import baseline_durations, baseline_queries, draft_regression_test
from mcp_sessions.drafting.model import Draft, DraftOptions, ErrorMode, QueryFacts, Style
from mcp_sessions.drafting.queries import trace_queries
from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.model import CopyKey, Event, SessionSummary, TraceFilter, TraceSummary
from mcp_sessions.params import normalize_trace_id
from mcp_sessions.store.protocol import SessionStore

MAX_EVENTS = 5_000  # a draft replays at most a few hundred requests; this bounds what is read
MAX_TRACES = 500


@dataclass(frozen=True)
class DraftRequest:
    """What draft_regression_test was asked, as the caller wrote it (its next-call hint repeats it)."""

    session_id: str
    style: Style = "api"
    trace_id: str | None = None
    from_ms: float | None = None
    to_ms: float | None = None
    around_error: bool = False
    latency_factor: float | None = None
    baseline_session_id: str | None = None
    recorded_errors: ErrorMode = "pin"
    env_prefix: str = "APP"
    count_queries: bool | None = None


@dataclass(frozen=True)
class DraftAnswer:
    request: DraftRequest
    session: SessionSummary
    draft: Draft


def draft_test(store: SessionStore, r: DraftRequest) -> DraftAnswer:
    session = require_session(store, r.session_id)
    from_ns, to_ns = offsets(session.start_ns, r.from_ms, r.to_ms)
    durations = counts = None
    if r.baseline_session_id:
        require_session(store, r.baseline_session_id)
        good = recording(store, r.baseline_session_id)
        durations = baseline_durations(*good) if r.latency_factor else None
        counts = baseline_queries(*good, recorded_queries(store, r.baseline_session_id))
    options = DraftOptions(
        style=r.style,
        trace_id=normalize_trace_id(r.trace_id) if r.trace_id else None,
        from_ns=from_ns,
        to_ns=to_ns,
        around_error=r.around_error,
        latency_factor=r.latency_factor,
        baseline_ms=durations,
        baseline_session_id=r.baseline_session_id,
        recorded_errors=r.recorded_errors,
        env_prefix=r.env_prefix,
        count_queries=r.count_queries,
        baseline_queries=counts,
    )
    draft = draft_regression_test(
        session, *recording(store, r.session_id), options, recorded_queries(store, r.session_id)
    )
    if r.baseline_session_id and not r.latency_factor and not draft.counts_queries:
        raise InvalidArgumentError(
            "baseline_session_id sets the latency guard's times and the query bounds, and this draft has "
            "neither: pass latency_factor (or count_queries=True, when the session's traces ran queries)"
        )
    return DraftAnswer(r, session, draft)


def recording(store: SessionStore, session_id: str) -> tuple[list[Event], dict[CopyKey, Event], list[TraceSummary]]:
    """The session's events in order (HAR copies of rrweb requests left out), those copies, its traces."""
    events = store.session_events(session_id)[:MAX_EVENTS]
    traces = store.traces(TraceFilter(session_id=session_id), sort="oldest", limit=MAX_TRACES, cursor=None).rows
    return events, store.har_twins(session_id, MAX_EVENTS), traces


def recorded_queries(store: SessionStore, session_id: str) -> dict[str, QueryFacts]:
    """How many queries each of the session's traces ran, with its N+1 loops."""
    return trace_queries(store.session_traces(session_id))
