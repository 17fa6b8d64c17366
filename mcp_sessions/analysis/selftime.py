"""Self (exclusive) time: how long a span worked while none of its children ran.

Children's clamped intervals are merged first, so overlapping children are not
subtracted twice, and a child outliving its parent only counts up to the parent's end:

    parent  |------------------------------|   100 ms
    child A     |--------|                      30 ms
    child B          |--------|                 30 ms, overlaps A by 15 ms
    child C                        |--------|   clamped to the parent's end
    busy        |-------------|    |-------|    45 + 25 = 70 ms
    self    |---|             |----|            100 - 70 = 30 ms
"""

from __future__ import annotations

from collections.abc import Iterable

from mcp_sessions.analysis.tree import TraceTree


def self_times(tree: TraceTree) -> tuple[int, ...]:
    """Self time in ns of every span, by index."""
    clamped, spans = tree.clamped, tree.spans
    out = []
    for (start, end), kids in zip(clamped, tree.children, strict=True):
        # A consumer child ran on its own time; the producer was not waiting while it ran.
        covered = union_ns(clamped[c] for c in kids if spans[c].kind != "consumer") if kids else 0
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
