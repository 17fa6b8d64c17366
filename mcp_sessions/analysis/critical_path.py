"""The critical path: the chain of work the root actually waited for.

Walk back from the root's end. At each point, the child that finished last (before the
point) was what the span waited for: descend into it, then continue in the parent from
that child's start. Time no child covers belongs to the span itself. Children that ran
alongside the one being waited for are not on the path (they were not what held things
up), and a consumer child (the far side of a producer → queue → consumer hand-off) never
blocks its parent. Times are the tree's clamped times (see tree.py), so a child that
outlives its parent counts only up to the parent's end.

    root  |==========================================|   root: 0-10, 70-80, 95-100
    A        |------------|                             A: 10-30 (B ran alongside, ended first)
    B          |------|                                    not on the path
    C                          |==============|         C: 30-70, all of it (a leaf)
    D                                        |-----|   D: 80-95 (last to finish)
                                                        (C ends at 70, D runs 80-95)
                      (walked right to left: D, root gap, C, A, root)

    producer  |====|                 the consumer starts after the producer returns:
    consumer       ·····|------|     nobody upstream waited for it, so it and its
                                     subtree stay off the path

A trace with several roots (a parent never reported, overlapping requests in one trace) is
walked the same way one level up: from the trace's last end, the root that reaches latest
(the earliest-starting of those that reach as far) is descended into from that point, then
the walk continues from its start. So the path covers each instant some root covers once,
however the roots overlap, and lies within the trace's first start and last end:

    R1   |==========|              R1: 0-50   (from R2's start back)
    R2        |==========|         R2: 30-80  (reaches latest)
    R3                      |==|   R3: 90-100 (the gap 80-90 is nobody's)

Work that goes on after a root answered (async children, follows-from links, consumers, a
child that outlived it by clock skew) is off the caller's path: the clamped times end at the
root's end. It is measured on its own, per span, in `after_ns`: the part of the span's own
interval after its root's end.

    root  |========|                      root answers at 40
    task       |··········|               after_ns: 40-100 (60 ms)
    consumer         ···········|-----|   after_ns: its whole 130-160 (30 ms)

A long-lived stream (RPC streaming, SSE, websockets, long message receives: streams.py) is
walked like any span: the path is what the caller waited for, a stream included. The rankings
built on it (find_slow_spans) show streams apart, after the work, never as slow work.

The result keeps numbers per span beside the tree; the tree itself is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import NamedTuple

from mcp_sessions.analysis.tree import TraceTree


class Segment(NamedTuple):
    """A stretch of the path spent in one span (a tuple: ingest builds several per stored trace)."""

    node: int
    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(frozen=True)
class CriticalPath:
    segments: tuple[Segment, ...]  # in time order, root by root
    by_span: tuple[int, ...]  # ns each span spends on the path, by tree index
    root_ns: int  # what the path adds up to: the time some root covers, counted once
    after_ns: tuple[int, ...] = ()  # ns each span ran after its root answered, by tree index

    def share(self, node: int) -> float:
        """The fraction of the waited-for time this span accounts for itself."""
        return self.by_span[node] / self.root_ns if self.root_ns else 0.0

    def spans(self) -> list[int]:
        """Spans with time on the path, most first."""
        return sorted((n for n, ns in enumerate(self.by_span) if ns > 0), key=lambda n: -self.by_span[n])


def blocks_parent(tree: TraceTree, child: int) -> bool:
    """False for the consumer side of a messaging hand-off: its parent did not wait for it."""
    return tree.spans[child].kind != "consumer"


def critical_path(tree: TraceTree) -> CriticalPath:
    clamped = tree.clamped
    by_span = [0] * len(tree)
    segments: list[Segment] = []
    # Blocking children of every span, latest end first (ties: the longer one first).
    waits = [
        sorted(
            (c for c in kids if blocks_parent(tree, c)),
            key=lambda c: (-clamped[c][1], clamped[c][0]),
        )
        if kids
        else kids
        for kids in tree.children
    ]
    for root, until in _root_stretches(tree):
        # Frames: (span, walking back from this time, first candidate index in waits[span]).
        stack = [(root, until, 0)]
        while stack:
            node, until, index = stack.pop()
            start = clamped[node][0]
            kids = waits[node]
            while index < len(kids) and clamped[kids[index]][1] > until:
                index += 1
            if index == len(kids) or until <= start:
                _add(segments, by_span, node, start, until)
                continue
            child = kids[index]
            c_start, c_end = clamped[child]
            _add(segments, by_span, node, c_end, until)
            stack.append((node, c_start, index + 1))
            stack.append((child, c_end, 0))
    segments.sort(key=attrgetter("start_ns", "end_ns"))
    return CriticalPath(
        segments=tuple(segments), by_span=tuple(by_span), root_ns=sum(by_span), after_ns=after_root(tree)
    )


def _root_stretches(tree: TraceTree) -> list[tuple[int, int]]:
    """(root, walk back from) for each root on the path, from the trace's last end backwards."""
    clamped = tree.clamped
    roots = sorted(tree.roots, key=lambda r: (clamped[r][0], -clamped[r][1]))
    out: list[tuple[int, int]] = []
    until = max((clamped[r][1] for r in roots), default=0)
    while True:
        reach, chosen = None, None
        for r in roots:  # earliest start first: among roots reaching as far, it wins
            r_start, r_end = clamped[r]
            if r_start < until and (reach is None or min(r_end, until) > reach):
                reach, chosen = min(r_end, until), r
        if chosen is None or reach is None:
            return out
        out.append((chosen, reach))
        until = clamped[chosen][0]


def after_root(tree: TraceTree) -> tuple[int, ...]:
    """Ns of each span's own interval that lies after its root's end (0 for a root)."""
    out = [0] * len(tree)
    for root in tree.roots:
        answered = tree.ends[root]
        for node in tree.preorder(root):
            out[node] = max(0, tree.ends[node] - max(tree.spans[node].start_ns, answered))
    return tuple(out)


def _add(segments: list[Segment], by_span: list[int], node: int, start: int, end: int) -> None:
    if end > start:
        segments.append(Segment(node, start, end))
        by_span[node] += end - start
