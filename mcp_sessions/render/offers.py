"""Which next calls to offer for a session or a span: only those that will answer something for it.

One rule, read off facts the answer already holds; every answer that names next calls for a
session (get_session, list_sessions) asks it, so no hint offers a call that fails or returns
nothing:

    get_timeline            the session recorded browser events or traces (always, for a session)
    list_traces             it has traces
    find_slow_spans         it has traces
    find_errors             it has an error group (or, when only counts are known, error spans)
    diff_against_baseline   an earlier session of the same flow can serve as its baseline
    draft_regression_test   it has API requests to replay (style "api"), or clicks and typing ("ui")

and for a span id a tool prints (get_trace, find_slow_spans, find_errors, get_span), by `span_offers`:

    get_span                the id names a stored span of the trace (not a log's or a link's span
                            that was never stored)
    get_trace span_id=      it has children: its subtree
    get_trace               the whole trace, from get_span's answer
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp_sessions.render.markdown import call


@dataclass(frozen=True)
class SessionFacts:
    """What an answer knows of a session; None where it was not asked (the offer then needs a fact it has)."""

    session_id: str
    traces: int
    browser_events: int | None = None
    errors: int | None = None
    baseline_candidate: str | None = None
    api_requests: int | None = None
    user_actions: int | None = None


def session_offers(f: SessionFacts) -> list[str]:
    """The next calls worth making for the session, most useful first."""
    sid = f.session_id
    offers = []
    if f.traces or f.browser_events:
        offers.append(call("get_timeline", session_id=sid))
    if f.traces:
        offers.append(call("find_slow_spans", session_id=sid))
    if f.errors:
        offers.append(call("find_errors", session_id=sid))
    if f.baseline_candidate:
        offers.append(call("diff_against_baseline", session_id=sid))
    if f.api_requests:
        offers.append(call("draft_regression_test", session_id=sid))
    if f.user_actions:
        offers.append(call("draft_regression_test", session_id=sid, style="ui"))
    return offers


def list_offer(facts: list[SessionFacts]) -> str | None:
    """The one next call a list of sessions suggests: the first session's traces, else its timeline."""
    with_traces = next((f for f in facts if f.traces), None)
    if with_traces is not None:
        return f"{call('list_traces', session_id=with_traces.session_id)} for a session's traces"
    return f"{call('get_timeline', session_id=facts[0].session_id)} for what happened in it" if facts else None


@dataclass(frozen=True)
class SpanFacts:
    """What an answer knows of one span id; None where it was not asked."""

    trace_id: str
    span_id: str
    stored: bool  # a span of the trace is stored under this id
    children: int | None = None
    from_detail: bool = False  # asked by get_span's own answer (which offers the trace, not itself)


def span_offers(f: SpanFacts) -> list[str]:
    """The next calls worth making about the span, most useful first."""
    if not f.stored:
        return []
    offers = [] if f.from_detail else [call("get_span", trace_id=f.trace_id, span_id=f.span_id)]
    if f.children:
        offers.append(call("get_trace", trace_id=f.trace_id, span_id=f.span_id))
    if f.from_detail:
        offers.append(call("get_trace", trace_id=f.trace_id))
    return offers


def span_detail_offer(f: SpanFacts) -> str | None:
    """The get_span call a list of span ids names once, for its first stored span."""
    offers = span_offers(SpanFacts(f.trace_id, f.span_id, f.stored))
    return offers[0] if offers else None
