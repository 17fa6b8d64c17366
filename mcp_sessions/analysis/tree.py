"""The trace tree, with child times clamped into their parent the way Jaeger's UI does.

Spans are addressed by their index in the input sequence (Zipkin's shared RPC halves
share a span id, so ids alone are not unique). The clamped times live in a map beside
the spans; the spans themselves are never changed.

Clock skew between hosts makes children stick out of their parent. Each case, with the
parent P and the child C, and what the clamped child becomes:

    starts early         P:    |--------|         C':   |----|
                         C:  |------|
    ends late            P: |--------|            C':      |---|
                         C:      |-------|
    wholly outside       P: |-----|               C': zero length at the nearer edge
                         C:          |---|            (kept in the tree, blocks nothing)
    outlives and precedes P:   |----|             C':  |----| (clamped to P)
                         C: |----------|

A consumer (the far side of a producer → queue → consumer hand-off) is not clamped: it
routinely starts after its producer ended, and its own time is real.

Orphans (a parent id that was never reported) and cycles become roots, so every span
appears exactly once.

The tree reads only a span's ids, kind and times (`TimedSpan`): model `Span`s have them,
and so does the light row record ingest computes every stored span's times from (building
a frozen `Span` per stored span took nearly as long as the analyses themselves).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class TimedSpan(Protocol):
    """What the tree, the critical path and self time read of a span."""

    @property
    def span_id(self) -> str: ...
    @property
    def parent_span_id(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def start_ns(self) -> int: ...
    @property
    def end_ns(self) -> int: ...
    @property
    def shared(self) -> int: ...  # truthy for the server half of a Zipkin RPC (a bool on `Span`)


SpanT = TypeVar("SpanT", bound=TimedSpan)


@dataclass(frozen=True)
class TraceTree(Generic[SpanT]):
    spans: tuple[SpanT, ...]
    roots: tuple[int, ...]
    parent: tuple[int | None, ...]
    children: tuple[tuple[int, ...], ...]
    depth: tuple[int, ...]
    # (start_ns, end_ns) of each span after clamping into its (clamped) parent.
    clamped: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return len(self.spans)

    def preorder(self, start: int | None = None) -> list[int]:
        """Indices in display order: each span, then its children by start time."""
        out: list[int] = []
        stack = list(reversed(self.roots if start is None else (start,)))
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(self.children[node]))
        return out

    def ancestors(self, node: int) -> list[int]:
        out = []
        current = self.parent[node]
        while current is not None:
            out.append(current)
            current = self.parent[current]
        return out

    def subtree_size(self, node: int) -> int:
        return len(self.preorder(node))


def build_tree(spans: Sequence[SpanT]) -> TraceTree[SpanT]:
    spans = tuple(spans)
    by_id: dict[str, int] = {}
    client_half: dict[str, int] = {}
    for i, span in enumerate(spans):
        # Where a Zipkin RPC reports both halves, the server (shared) half owns the children.
        # Two different records with one id (both are stored): the earlier-starting (then the longer)
        # one owns the children, whatever order the spans come in; the other stays beside it, childless.
        held = by_id.get(span.span_id)
        if held is None or _owns(span) > _owns(spans[held]):
            by_id[span.span_id] = i
        if not span.shared:
            held = client_half.get(span.span_id)
            if held is None or _owns(span) > _owns(spans[held]):
                client_half[span.span_id] = i

    parent: list[int | None] = []
    for i, span in enumerate(spans):
        if span.shared and span.span_id in client_half:
            candidate: int | None = client_half[span.span_id]
        elif span.parent_span_id is not None:
            candidate = by_id.get(span.parent_span_id)
        else:
            candidate = None
        parent.append(candidate if candidate != i else None)
    _break_cycles(parent)

    # Visiting spans in start order (ties: the longer first, then input order) leaves every
    # child list sorted, with one sort for the whole trace.
    children: list[list[int]] = [[] for _ in spans]
    roots: list[int] = []
    for i in sorted(range(len(spans)), key=lambda i: (spans[i].start_ns, -spans[i].end_ns)):
        p = parent[i]
        (roots if p is None else children[p]).append(i)

    depth = [0] * len(spans)
    clamped: list[tuple[int, int]] = [(s.start_ns, max(s.start_ns, s.end_ns)) for s in spans]
    stack = list(roots)
    while stack:
        node = stack.pop()
        p_start, p_end = clamped[node]
        for child in children[node]:
            depth[child] = depth[node] + 1
            if spans[child].kind != "consumer":  # a consumer runs on its own time, often after its producer
                c_start, c_end = clamped[child]
                c_start = min(max(c_start, p_start), p_end)
                c_end = max(min(c_end, p_end), c_start)
                clamped[child] = (c_start, c_end)
            stack.append(child)

    return TraceTree(
        spans=spans,
        roots=tuple(roots),
        parent=tuple(parent),
        children=tuple(map(tuple, children)),
        depth=tuple(depth),
        clamped=tuple(clamped),
    )


def _owns(span: TimedSpan) -> tuple[bool, int, int]:
    """Which of several spans with one id its children belong to: the largest key."""
    return bool(span.shared), -span.start_ns, span.end_ns


def _break_cycles(parent: list[int | None]) -> None:
    """Cut parent links that loop back (A→B→A); the span that closes a loop becomes a root."""
    state = [0] * len(parent)  # 0 unseen, 1 on the current path, 2 done
    for start in range(len(parent)):
        path = []
        node: int | None = start
        while node is not None and state[node] == 0:
            state[node] = 1
            path.append(node)
            node = parent[node]
        if node is not None and state[node] == 1:
            parent[node] = None
        for n in path:
            state[n] = 2
