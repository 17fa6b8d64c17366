"""The report: what one static HTML file shows of a session, or of one trace.

For a session: the overview get_session reads, the whole timeline (up to `entry_limit`
entries), and the waterfall of its traces, those with errors first, as long as the file
stays within REPORT_MAX_TRACES traces and REPORT_MAX_SPANS spans (a trace that would pass
the span limit is left out, and the report says how many were). Everything comes from the
store as stored, so redacted at ingest.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp_sessions.answers.session import Overview, session_overview
from mcp_sessions.answers.timeline import TimelineAnswer, session_timeline
from mcp_sessions.answers.trace import TraceAnswer, trace_view
from mcp_sessions.model import TraceFilter
from mcp_sessions.store.protocol import SessionStore

REPORT_MAX_TRACES = 200
REPORT_MAX_SPANS = 50_000


@dataclass(frozen=True)
class ReportAnswer:
    overview: Overview | None  # None: a report of one trace
    timeline: TimelineAnswer | None
    traces: tuple[TraceAnswer, ...]
    trace_count: int  # traces the session has (a trace report: 1)


def session_report(store: SessionStore, session_id: str, *, entry_limit: int, spans_per_trace: int) -> ReportAnswer:
    overview = session_overview(store, session_id)
    timeline = session_timeline(store, session_id, kinds=None, from_ms=None, to_ms=None, cursor=None, limit=entry_limit)
    page = store.traces(TraceFilter(session_id=session_id), sort="errors", limit=REPORT_MAX_TRACES, cursor=None)
    traces: list[TraceAnswer] = []
    spans = 0
    for summary in page.rows:
        size = min(summary.span_count, spans_per_trace)
        if spans + size > REPORT_MAX_SPANS:
            continue
        traces.append(trace_view(store, summary.trace_id, max_spans=spans_per_trace))
        spans += size
    return ReportAnswer(overview, timeline, tuple(traces), page.total)


def trace_report(store: SessionStore, trace_id: str, *, spans_per_trace: int) -> ReportAnswer:
    return ReportAnswer(None, None, (trace_view(store, trace_id, max_spans=spans_per_trace),), 1)
