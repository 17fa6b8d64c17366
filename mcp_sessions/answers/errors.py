"""Errors: what failed in a scope, grouped by fingerprint, with the user action before each group.

Failed spans, browser problems and error logs are read from the store, turned into
occurrences and grouped (analysis/errors.py); the user's actions are read only for the
sessions of the groups that will be shown. Where a trace holds an exception and other
failures, its spans' parent links are read too, so an exception restated by the spans it
propagated through counts as one failure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

from mcp_sessions.analysis.errors import ErrorGroup, event_occurrence, group_errors, log_occurrence, span_occurrence
from mcp_sessions.answers.lookup import ScopeQuery, checked_scope
from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.model import SpanScope
from mcp_sessions.store.protocol import SessionStore

SOURCES = ("backend", "browser", "log")


@dataclass(frozen=True)
class ErrorsFound:
    groups: list[ErrorGroup]
    occurrences: int
    by_source: dict[str, int]
    truncated: bool


def find_errors(store: SessionStore, scope: SpanScope, sources: Collection[str], shown: int) -> ErrorsFound:
    """Failures in a scope grouped by fingerprint; the user's actions are read for the groups shown."""
    found = store.failures(scope)
    sent = store.request_times(sorted({s.trace_id for _, s in found.spans}))
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
    parents = store.span_parents(sorted(t for t, n in failing.items() if n > 1 and t))
    first_sessions = {g.session_ids[0] for g in group_errors(occurrences, parents=parents)[:shown] if g.session_ids}
    groups = group_errors(occurrences, store.user_actions(sorted(first_sessions)), parents)
    by_source = {s: sum(1 for o in occurrences if o.source == s) for s in ("backend", "browser", "log")}
    # An exception recorded again by the spans it propagated through is one failure.
    repeats = sum(g.related.get("enclosing span", 0) for g in groups)
    by_source["backend"] -= repeats
    return ErrorsFound(groups, len(occurrences) - repeats, by_source, found.truncated)


@dataclass(frozen=True)
class ErrorSearch:
    query: ScopeQuery
    scope: SpanScope
    sources: list[str] | None
    limit: int
    found: ErrorsFound


def search_errors(store: SessionStore, q: ScopeQuery, sources: list[str] | None, limit: int) -> ErrorSearch:
    """find_errors: the groups of a checked scope, from the sources asked for (all by default)."""
    scope = checked_scope(store, q)
    if sources is not None and not sources:
        raise InvalidArgumentError("`sources` is empty; omit it for all, or name backend, browser or log")
    found = find_errors(store, scope, set(sources or SOURCES), shown=limit)
    return ErrorSearch(q, scope, sources, limit, found)
