"""The trace tree: each span's own times, and beside them its times clamped into its parent.

Spans are addressed by their index in the input sequence (Zipkin's shared RPC halves
share a span id, so ids alone are not unique). Derived times live in maps beside the
spans; the spans themselves are never changed.

`ends` holds each span's end as recorded. A span whose end was not recorded (`end_known`
false: Zipkin without `duration`, OTLP end 0 or before the start, Jaeger without
`duration`) gets the end its children imply, the latest end among them (consumers aside:
they run on their own time), and is marked inferred in `end_known`:

    P (no end)   |·········?            P's end: C2's, inferred (≥ 60 ms)
    C1              |-----|
    C2                  |----------|

What is shown (offsets, durations) is always `spans[i].start_ns` and `ends[i]`. The
clamped times (the way Jaeger's UI clamps) serve the caller's critical path and self
time: what a parent waited for lies within the parent's own window.

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
    def end_known(self) -> int: ...  # falsy where the recording had no end (end_ns is then not to be read)
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
    # Each span's end: as recorded, or where `end_known` is false, the end its children imply.
    ends: tuple[int, ...]
    end_known: tuple[bool, ...]

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

    def duration_ns(self, node: int) -> int:
        """The span's own duration: recorded, or up to the end its children imply."""
        return self.ends[node] - self.spans[node].start_ns

    def extent(self) -> tuple[int, int]:
        """The trace's first start and last end (any span's)."""
        if not self.spans:
            return (0, 0)
        return min(s.start_ns for s in self.spans), max(self.ends)


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

    # Siblings by start, the longest first; an end not recorded is not read (a parser leaves the start
    # there, the store the end last inferred), so such a span sorts as if it ended at its start.
    def order(i: int) -> tuple[int, int]:
        span = spans[i]
        return span.start_ns, -(span.end_ns if span.end_known else span.start_ns)

    for i in sorted(range(len(spans)), key=order):
        p = parent[i]
        (roots if p is None else children[p]).append(i)

    depth = [0] * len(spans)
    known = tuple(bool(s.end_known) for s in spans)
    ends = _ends(spans, known, children, roots)
    clamped: list[tuple[int, int]] = [(s.start_ns, end) for s, end in zip(spans, ends, strict=True)]
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
        ends=ends,
        end_known=known,
    )


def _ends(
    spans: tuple[SpanT, ...], known: tuple[bool, ...], children: list[list[int]], roots: list[int]
) -> tuple[int, ...]:
    """Each span's end: recorded, or for one without, the latest end of its (non-consumer) children."""
    ends = [max(s.start_ns, s.end_ns) if k else s.start_ns for s, k in zip(spans, known, strict=True)]
    if all(known):
        return tuple(ends)
    order: list[int] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(children[node])
    for node in reversed(order):  # children before their parents
        if not known[node]:
            implied = [ends[c] for c in children[node] if spans[c].kind != "consumer"]
            ends[node] = max([spans[node].start_ns, *implied])
    return tuple(ends)


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
