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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mcp_sessions.model import Span


@dataclass(frozen=True)
class TraceTree:
    spans: tuple[Span, ...]
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


def build_tree(spans: Sequence[Span]) -> TraceTree:
    spans = tuple(spans)
    by_id: dict[str, int] = {}
    for i, span in enumerate(spans):
        # Where a Zipkin RPC reports both halves, the server (shared) half owns the children.
        if span.span_id not in by_id or span.shared:
            by_id[span.span_id] = i
    client_half = {s.span_id: i for i, s in enumerate(spans) if not s.shared}

    parent: list[int | None] = []
    for i, span in enumerate(spans):
        if span.shared and span.span_id in client_half and client_half[span.span_id] != i:
            candidate: int | None = client_half[span.span_id]
        elif span.parent_span_id is not None:
            candidate = by_id.get(span.parent_span_id)
        else:
            candidate = None
        parent.append(candidate if candidate != i else None)
    _break_cycles(parent)

    children: list[list[int]] = [[] for _ in spans]
    roots: list[int] = []
    for i, p in enumerate(parent):
        (roots if p is None else children[p]).append(i)

    def start_key(i: int) -> tuple[int, int, int]:
        return (spans[i].start_ns, -spans[i].end_ns, i)

    roots.sort(key=start_key)
    for kids in children:
        kids.sort(key=start_key)

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
        children=tuple(tuple(k) for k in children),
        depth=tuple(depth),
        clamped=tuple(clamped),
    )


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
