"""Which next calls to offer for a session: only those that will answer something for it.

One rule, read off facts the answer already holds; every answer that names next calls for a
session (get_session, list_sessions) asks it, so no hint offers a call that fails or returns
nothing:

    get_timeline            the session recorded browser events or traces (always, for a session)
    list_traces             it has traces
    find_slow_spans         it has traces
    find_errors             it has an error group (or, when only counts are known, error spans)
    diff_against_baseline   an earlier session of the same flow can serve as its baseline
    draft_regression_test   it has API requests to replay (style "api"), or clicks and typing ("ui")
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
