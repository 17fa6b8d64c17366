"""Folding occurrences into counted nodes: the mutable accumulators a side is built with.

A request's backend work is folded by the ancestral path of (service, operation
fingerprint): every span finds its node under its parent's node, so ten identical
statements under one parent land in ONE node whose count is 10:

    span tree                                   nodes
    POST /checkout                              shop · POST /checkout ×1
      SELECT … WHERE id = 1   ──┐                 shop · SELECT … WHERE id = ? ×10
      SELECT … WHERE id = 2   ──┤ one key
      …                         │
      SELECT … WHERE id = 10  ──┘

A backend node's wait is its subtree's time on the trace's critical path (what the
request actually waited for); a request's is the union of its occurrences' intervals on
the browser's clock (concurrent copies are waited for once). Work deeper than MAX_DEPTH
folds into its ancestor at that depth: its time is already inside the ancestor's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mcp_sessions.analysis.critical_path import critical_path
from mcp_sessions.analysis.diff.nodes import MAX_DEPTH, MAX_IDS, MAX_SAMPLES, MAX_STARTS, Node, NodeKey, Stats, Step
from mcp_sessions.analysis.fingerprint import span_fingerprint
from mcp_sessions.analysis.selection import is_error
from mcp_sessions.analysis.selftime import union_ns
from mcp_sessions.analysis.tree import TraceTree, build_tree
from mcp_sessions.model import Span


@dataclass(slots=True)
class Acc:
    key: NodeKey
    label: str
    count: int = 0
    total_ns: int = 0
    wait_ns: int = 0
    errors: int = 0
    statuses: set[int] = field(default_factory=set)
    size_bytes: int | None = None
    samples: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)
    intervals: list[tuple[int, int]] = field(default_factory=list)
    children: dict[NodeKey, Acc] = field(default_factory=dict)

    def child(self, key: NodeKey, label: str) -> Acc:
        found = self.children.get(key)
        if found is None:
            found = self.children[key] = Acc(key, label)
        return found

    def add(
        self,
        *,
        duration_ns: int,
        wait_ns: int,
        start_ns: int | None,
        error: bool = False,
        status: int | None = None,
        size: int | None = None,
        ident: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        self.count += 1
        self.total_ns += duration_ns
        self.wait_ns += wait_ns
        self.errors += int(error)
        if status is not None:
            self.statuses.add(status)
        if size is not None:
            self.size_bytes = (self.size_bytes or 0) + size
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(wait_ns)
        if start_ns is not None and len(self.starts) < MAX_STARTS:
            self.starts.append(start_ns)
        if ident and len(self.ids) < MAX_IDS and ident not in self.ids:
            self.ids.append(ident)
        if trace_id and len(self.trace_ids) < MAX_IDS and trace_id not in self.trace_ids:
            self.trace_ids.append(trace_id)

    def freeze(self, session_id: str | None) -> Node:
        # The union needs every occurrence's interval; without a clock the summed waits stand in.
        wait = union_ns(self.intervals) if self.intervals and len(self.intervals) == self.count else self.wait_ns
        # Children in the order first seen: spans are folded in display order (by start time).
        return Node(
            key=self.key,
            label=self.label,
            stats=Stats(
                count=self.count,
                total_ns=self.total_ns,
                wait_ns=wait,
                errors=self.errors,
                statuses=tuple(sorted(self.statuses)),
                size_bytes=self.size_bytes,
                samples=tuple(self.samples),
                starts=tuple(self.starts),
                ids=tuple(self.ids),
                trace_ids=tuple(self.trace_ids),
                session_ids=(session_id,) if session_id else (),
            ),
            children=tuple(k.freeze(session_id) for k in self.children.values()),
        )


@dataclass(slots=True)
class StepAcc:
    key: tuple[str, str, str]
    label: str
    start_ns: int | None
    nodes: dict[NodeKey, Acc] = field(default_factory=dict)

    def node(self, key: NodeKey, label: str) -> Acc:
        found = self.nodes.get(key)
        if found is None:
            found = self.nodes[key] = Acc(key, label)
        return found

    def freeze(self, session_id: str | None) -> Step:
        return Step(self.key, self.label, tuple(n.freeze(session_id) for n in self.nodes.values()), self.start_ns)


@dataclass(frozen=True)
class Analysed:
    tree: TraceTree
    inclusive_path_ns: tuple[int, ...]  # critical-path time of each span's subtree


def analyse(spans: Sequence[Span]) -> Analysed:
    tree = build_tree(spans)
    by_span = critical_path(tree).by_span
    inclusive = list(by_span)
    for node in reversed(tree.preorder()):
        parent = tree.parent[node]
        if parent is not None:
            inclusive[parent] += inclusive[node]
    return Analysed(tree, tuple(inclusive))


def _op_key(span: Span) -> tuple[NodeKey, str]:
    fingerprint = span_fingerprint(span)
    return ("op", span.service or "", fingerprint), fingerprint


def add_backend(target: Acc, analysed: Analysed) -> None:
    """Fold a trace's spans into `target`'s children by ancestral (service, fingerprint) path."""
    tree = analysed.tree
    acc_of: dict[int, Acc] = {}
    for node in tree.preorder():
        parent = tree.parent[node]
        if tree.depth[node] >= MAX_DEPTH:
            continue  # its time is inside the ancestor at MAX_DEPTH - 1
        holder = target if parent is None else acc_of[parent]
        span = tree.spans[node]
        key, label = _op_key(span)
        acc = acc_of[node] = holder.child(key, label)
        acc.add(
            duration_ns=tree.duration_ns(node),
            wait_ns=analysed.inclusive_path_ns[node],
            start_ns=span.start_ns,
            error=is_error(tree, node),
            status=_http_status(span),
            ident=span.span_id,
            trace_id=span.trace_id,
        )


def _http_status(span: Span) -> int | None:
    value = span.attributes.get("http.response.status_code") or span.attributes.get("http.status_code")
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def root_fingerprint(analysed_tree: TraceTree) -> str:
    """The fingerprint of a trace's earliest root span (method + route for a server span)."""
    if not analysed_tree.roots:
        return "(empty trace)"
    return span_fingerprint(analysed_tree.spans[analysed_tree.roots[0]])


def trace_extent(tree: TraceTree) -> tuple[int, int]:
    starts = [tree.clamped[r][0] for r in tree.roots]
    ends = [tree.clamped[r][1] for r in tree.roots]
    return (min(starts), max(ends)) if starts else (0, 0)


def add_trace_as_request(step: StepAcc, trace_id: str, analysed: Analysed, fingerprint: str, level: str) -> None:
    start, end = trace_extent(analysed.tree)
    acc = step.node((level, fingerprint), fingerprint)
    acc.add(
        duration_ns=end - start,
        wait_ns=end - start,
        start_ns=start,
        error=any(is_error(analysed.tree, n) for n in analysed.tree.roots),
        status=next((s for s in (_http_status(analysed.tree.spans[r]) for r in analysed.tree.roots) if s), None),
        ident=trace_id,
        trace_id=trace_id,
    )
    acc.intervals.append((start, end))
    add_backend(acc, analysed)
    if step.start_ns is None:
        step.start_ns = start
