"""Patterns an agent can act on: N+1, duplicate calls, calls that could overlap, over-fetching.

One entry point, `detect_patterns(trees, events)`, over a session's (or a trace's) trees
and browser events; every finding comes back as one `Pattern`, ranked by the time a fix
would plausibly save (`impact_ns`), in a stable order. `trace_patterns(tree)` is the part
that needs one trace only: ingest stores it for every trace, sessioned or not, and
`get_trace` shows it. The detectors live beside it:

    spans.py     inside traces: N+1, identical reads, back-to-back reads; duplicate
                 server requests when there are no browser requests to compare
    requests.py  in the browser: recorded copies merged, identical requests, fetch waterfalls
    payloads.py  over-fetching: more records than the URL's limit, or very large responses

    trees ──► n_plus_one ──────────────┐ (its spans are not reported again below)  ┐
          ├─► duplicate_spans ─────────┤                                           ├ trace_patterns
          ├─► sequential_calls ────────┤                                           ┘
          └─► duplicate_roots ─────────┤ (only without browser requests)
    events ─► merge_requests ──► duplicate_requests, waterfalls, over_fetching ──► rank
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp_sessions.analysis.patterns.model import (
    MAX_IDS,
    Call,
    CallSpan,
    CallT,
    EventRef,
    Pattern,
    PatternKind,
    as_call,
    calls_tree,
    rank,
    user_action_times,
)
from mcp_sessions.analysis.patterns.payloads import (
    LARGE_RESPONSE_BYTES,
    OVERFETCH_FACTOR,
    OVERFETCH_MIN_EXCESS,
    count_records,
    over_fetching_requests,
    over_fetching_spans,
    requested_limit,
)
from mcp_sessions.analysis.patterns.requests import (
    COPY_MATCH_NS,
    WATERFALL_MAX_GAP_NS,
    Request,
    duplicate_requests,
    merge_requests,
    waterfalls,
)
from mcp_sessions.analysis.patterns.spans import (
    DUPLICATE_WINDOW_NS,
    N_PLUS_ONE_MIN_REPEATS,
    N_PLUS_ONE_MIN_SERIAL,
    SEQUENTIAL_MIN_CALLS,
    SEQUENTIAL_MIN_SAVING_NS,
    duplicate_roots,
    trace_patterns,
)
from mcp_sessions.analysis.tree import TraceTree
from mcp_sessions.model import Event

__all__ = [
    "COPY_MATCH_NS",
    "DUPLICATE_WINDOW_NS",
    "LARGE_RESPONSE_BYTES",
    "MAX_IDS",
    "N_PLUS_ONE_MIN_REPEATS",
    "N_PLUS_ONE_MIN_SERIAL",
    "OVERFETCH_FACTOR",
    "OVERFETCH_MIN_EXCESS",
    "SEQUENTIAL_MIN_CALLS",
    "SEQUENTIAL_MIN_SAVING_NS",
    "WATERFALL_MAX_GAP_NS",
    "Call",
    "CallSpan",
    "CallT",
    "EventRef",
    "Pattern",
    "PatternKind",
    "Request",
    "as_call",
    "calls_tree",
    "count_records",
    "detect_patterns",
    "merge_requests",
    "requested_limit",
    "trace_patterns",
]


def detect_patterns(trees: Sequence[TraceTree], events: Sequence[Event] = ()) -> list[Pattern]:
    """Every finding in these traces and browser events, most avoidable time first.

    Pass one session's traces and events (or one trace and no events). Events may hold
    both the rrweb and the HAR copy of a request: they are merged, never counted twice.
    """
    calls = [calls_tree(tree) for tree in trees]
    found: list[Pattern] = [pattern for tree in calls for pattern in trace_patterns(tree)]
    requests = merge_requests(events)
    if requests:
        found.extend(duplicate_requests(requests, events, trees))
        found.extend(waterfalls(requests, events, trees))
    else:
        found.extend(duplicate_roots(calls, user_action_times(events)))
    payloads = over_fetching_requests(requests, trees)
    found.extend(payloads)
    found.extend(over_fetching_spans(trees, {p.trace_id for p in payloads if p.trace_id}))
    return rank(found)
