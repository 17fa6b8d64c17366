"""Self (exclusive) time: how long a span worked while none of its children ran.

Measured on the spans' own times (a span without a recorded end up to the end its children
imply, tree.py), over the span's own window: children's intervals are cut to it and merged
first, so overlapping children are not subtracted twice, and a child that outlives its parent
only covers the parent up to the parent's end (its own time is its own, not the parent's):

    parent  |------------------------------|   100 ms
    child A     |--------|                      30 ms
    child B          |--------|                 30 ms, overlaps A by 15 ms
    child C                        |--------|   covers the parent up to the parent's end
    busy        |-------------|    |-------|    45 + 25 = 70 ms
    self    |---|             |----|            100 - 70 = 30 ms

A consumer child ran on its own time (the producer was not waiting) and covers nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from mcp_sessions.analysis.tree import TraceTree


def self_times(tree: TraceTree) -> tuple[int, ...]:
    """Self time in ns of every span, by index."""
    spans, ends = tree.spans, tree.ends
    out = []
    for node, kids in enumerate(tree.children):
        start, end = spans[node].start_ns, ends[node]
        covered = (
            union_ns(
                (max(start, spans[c].start_ns), min(end, ends[c]))
                for c in kids
                if spans[c].kind != "consumer" and spans[c].start_ns < end and ends[c] > start
            )
            if kids
            else 0
        )
        out.append(max(0, (end - start) - covered))
    return tuple(out)


def union_ns(intervals: Iterable[tuple[int, int]]) -> int:
    """Length of the union of [start, end) intervals: overlapping time counts once."""
    covered, current_start, current_end = 0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None and current_start is not None:
                covered += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None and current_start is not None:
        covered += current_end - current_start
    return covered
