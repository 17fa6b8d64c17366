"""How many database queries each recorded request ran, and the bound a drafted test holds it to.

A query is a span that carries a statement (`db.query.text`, or the older `db.statement`):
spans that only open a connection or a pool (SQLAlchemy's `connect`) come and go with the
pool's state, not with the code under test, so they are not counted. The drafted test counts
the spans of its own requests the same way (templates.TELEMETRY), so the two numbers compare.

The bound for one request, by what is known:

    a baseline session made the same request     at most the baseline's count (its largest)
    the recording alone                          at most the recorded count
    recorded_errors="expect_fixed" and an N+1    the recorded count with each N+1 loop folded
                                                 to one query: 23 queries with a loop of 10
                                                 → at most 14

Every bound's reason names the N+1 loops the recording held, so a failure says what to look at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mcp_sessions.analysis.patterns.model import calls_tree
from mcp_sessions.analysis.patterns.spans import n_plus_one
from mcp_sessions.analysis.tree import build_tree
from mcp_sessions.drafting.model import DraftOptions, QueryFacts, RecordedCall
from mcp_sessions.model import Span
from mcp_sessions.semconv import first

QUERY_KEYS = ("db.query.text", "db.statement")


def is_query(span: Span) -> bool:
    return first(span.attributes, *QUERY_KEYS) is not None


def trace_queries(traces: Mapping[str, Sequence[Span]]) -> dict[str, QueryFacts]:
    """The query facts of every trace, by trace id (a trace that ran none counts 0)."""
    facts: dict[str, QueryFacts] = {}
    for trace_id, spans in traces.items():
        count = sum(is_query(s) for s in spans)
        loops = tuple((p.fingerprint, p.count) for p, _ in n_plus_one(calls_tree(build_tree(spans))) if p.count > 1)
        facts[trace_id] = QueryFacts(count, loops)
    return facts


def query_bound(call: RecordedCall, key: str, options: DraftOptions) -> tuple[int, str] | None:
    """(the most queries `call` may run, why) for the drafted assertion; None when nothing was recorded.

    `key` is the call's `request_fingerprint`, the name the baseline's counts go by.
    """
    facts = call.queries
    baseline = (options.baseline_queries or {}).get(key)
    if facts is None and baseline is None:
        return None
    loops = facts.n_plus_one if facts else ()
    held = "; ".join(f"{fingerprint[:90]} ran {n}× (an N+1)" for fingerprint, n in loops)
    recorded = f"recorded {facts.count}" if facts else "no queries recorded"
    if baseline is not None:
        why = f"session {options.baseline_session_id} ran {baseline}; {recorded}"
        return baseline, f"{why}: {held}" if held else why
    assert facts is not None
    if options.recorded_errors == "expect_fixed" and loops:
        folded = facts.count - sum(n - 1 for _, n in loops)
        return folded, f"{recorded} with the N+1 expected fixed: {held}"
    return facts.count, f"{recorded}: {held}" if held else recorded
