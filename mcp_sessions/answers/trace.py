"""Traces: the list to find one by, and one trace as a tree (get_trace and trace://).

A list's traces come with the patterns found in each at ingest (N+1, duplicate and
sequential calls), so a line can name them without reading a span. A trace's spans are
built into a tree (each span's own times kept, clamped ones beside them for self time), their
self times and time after their root answered computed, and a budgeted selection made that
always keeps the roots, the errors and the branch that finished last; asked for one span, the
selection is its subtree. Its patterns are found again on the tree read back, by the same
function ingest ran (`trace_patterns`), and kept to those touching the subtree shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mcp_sessions.analysis.critical_path import after_root
from mcp_sessions.analysis.patterns import Pattern, calls_tree, trace_patterns
from mcp_sessions.analysis.selection import Selection, select_spans
from mcp_sessions.analysis.selftime import self_times
from mcp_sessions.analysis.streams import is_stream
from mcp_sessions.analysis.tree import TraceTree, build_tree
from mcp_sessions.answers.lookup import min_duration_ns, not_found_session, require_trace, time_window
from mcp_sessions.errors import NotFoundError
from mcp_sessions.model import Page, Sort, Span, StoredPattern, TraceFilter, TraceSummary
from mcp_sessions.params import normalize_span_id
from mcp_sessions.store.protocol import TraceStore
from mcp_sessions.visible import code, literal


@dataclass(frozen=True)
class TraceQuery:
    """What list_traces was asked, as the caller wrote it (its next-call hint repeats it)."""

    session_id: str | None = None
    unsessioned: bool = False
    query: str | None = None
    service: str | None = None
    since: str | None = None
    until: str | None = None
    has_errors: bool | None = None
    min_duration_ms: float | None = None
    sort: Sort = "recent"


@dataclass(frozen=True)
class TracesFound:
    query: TraceQuery
    page: Page[TraceSummary]
    patterns: Mapping[str, list[StoredPattern]] = field(default_factory=dict)  # by trace id, for the page's traces


def list_traces(store: TraceStore, q: TraceQuery, *, limit: int, cursor: str | None) -> TracesFound:
    since_ns, until_ns = time_window(q.since, q.until)
    if q.session_id and store.session(q.session_id) is None:
        raise not_found_session(store, q.session_id)
    f = TraceFilter(
        q.session_id,
        q.unsessioned,
        q.query,
        q.service,
        since_ns,
        until_ns,
        q.has_errors,
        min_duration_ns(q.min_duration_ms),
    )
    page = store.traces(f, sort=q.sort, limit=limit, cursor=cursor)
    return TracesFound(q, page, store.trace_patterns([t.trace_id for t in page.rows]))


@dataclass(frozen=True)
class TraceAnswer:
    """One trace: its summary, its tree with self times, the spans selected to show, and its log count."""

    summary: TraceSummary
    tree: TraceTree
    selfs: tuple[int, ...]
    selection: Selection
    log_count: int
    focus: int | None  # the node whose subtree was asked for
    patterns: tuple[Pattern, ...] = ()  # found in the trace, those with a call in the focused subtree
    marks: tuple[StoredPattern, ...] = ()  # the whole trace's, as kept at ingest (what list_traces names)
    after: tuple[int, ...] = ()  # ns each span ran after its root answered, by tree index
    streams: frozenset[int] = frozenset()  # long-lived streams (analysis/streams.py), by tree index


def trace_view(store: TraceStore, trace_id: str, *, span_id: str | None = None, max_spans: int) -> TraceAnswer:
    summary = require_trace(store, trace_id)
    tree = build_tree(store.trace_spans(summary.trace_id))
    focus = _focus(tree, summary.trace_id, span_id) if span_id else None
    selfs = self_times(tree)
    selection = select_spans(tree, selfs, max_spans, focus=focus)
    patterns = _patterns_in_view(tree, focus)
    marks = tuple(store.trace_patterns([summary.trace_id]).get(summary.trace_id, ()))
    log_count = store.trace_log_count(summary.trace_id)
    streams = frozenset(i for i, span in enumerate(tree.spans) if is_stream(span))
    return TraceAnswer(summary, tree, selfs, selection, log_count, focus, patterns, marks, after_root(tree), streams)


def _patterns_in_view(tree: TraceTree[Span], focus: int | None) -> tuple[Pattern, ...]:
    found = trace_patterns(calls_tree(tree))
    if focus is None:
        return tuple(found)
    in_view = {tree.spans[i].span_id for i in tree.preorder(focus)}
    return tuple(p for p in found if not in_view.isdisjoint(p.span_ids))


def _focus(tree: TraceTree, trace_id: str, span_id: str) -> int:
    """The node of `span_id`: its server side where a Zipkin shared span appears twice, and where
    several records share the id, the one that holds the children."""
    wanted = normalize_span_id(span_id)
    matches = [i for i, s in enumerate(tree.spans) if s.span_id == wanted]
    if not matches:
        raise NotFoundError(
            f"trace {code(trace_id)} has no span {code(wanted)}; "
            f"take a span id from `get_trace(trace_id={literal(trace_id)})`"
        )
    return max(matches, key=lambda i: (tree.spans[i].shared, bool(tree.children[i])))
