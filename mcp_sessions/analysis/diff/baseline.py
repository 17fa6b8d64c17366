"""An automatic baseline: several earlier sessions of the same flow folded into one median side.

The first session (the candidate most like the target) is the frame. Every other one is
aligned to it (align.py), and each node of the frame takes, over all sessions, the median
of its count, summed duration, wait, errors and response size, a session lacking the node
counting as zero. A node (or step) present in fewer than half of the sessions drops out,
so one session's accident does not become the baseline:

    sessions        A      B      C        median side
    SELECT … ×      1      1      12   →   1      (C's loop is C's problem)
    wait            9 ms  11 ms   95 ms → 11 ms
    retry step      -      yes    -    →   dropped (1 of 3)

The waits of all sessions are pooled as the node's samples, so the noise test can compare
a single target occurrence against what several runs showed. A node's ids come from the
session whose wait is closest to the median: the run worth opening beside the target.
Nodes only sessions other than the frame have are not in the median side; the frame is the
candidate most like the target, so what it lacks the target rarely has.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from mcp_sessions.analysis.diff.align import Pair, align
from mcp_sessions.analysis.diff.nodes import MAX_SAMPLES, Node, Side, Stats, Step


def median_side(sides: Sequence[Side]) -> Side:
    """One side standing for all of `sides` (the first is the frame; at least one)."""
    if not sides:
        raise ValueError("median_side needs at least one side")
    frame = sides[0]
    if len(sides) == 1:
        return frame
    # For each frame step (by position): the matching step pairs of every other side.
    partners: list[list[tuple[Pair, ...] | None]] = [[] for _ in frame.steps]
    index_of = {id(step): i for i, step in enumerate(frame.steps)}
    for other in sides[1:]:
        found: list[tuple[Pair, ...] | None] = [None] * len(frame.steps)
        for pair in align(frame, other).steps:
            if pair.a is not None and pair.b is not None:
                found[index_of[id(pair.a)]] = pair.pairs
        for i, pairs in enumerate(found):
            partners[i].append(pairs)

    everyone = len(sides)
    steps: list[Step] = []
    for step, others in zip(frame.steps, partners, strict=True):
        present = 1 + sum(p is not None for p in others)
        if present * 2 < everyone:
            continue
        nodes = _median_nodes(step.nodes, [_by_key(p) for p in others], everyone)
        steps.append(Step(step.key, step.label, nodes, step.start_ns))
    sessions = tuple(dict.fromkeys(s for side in sides for s in side.session_ids))
    return Side(
        kind="median",
        name=f"median of {everyone} sessions",
        mode=frame.mode,
        steps=tuple(steps),
        session_ids=sessions,
        trace_ids=frame.trace_ids,
    )


def _by_key(pairs: Sequence[Pair] | None) -> dict[tuple[str, ...], Pair]:
    """The other side's nodes matched to frame nodes, by the frame's key."""
    if not pairs:
        return {}
    return {p.key if p.baseline_label is None else _frame_key(p): p for p in pairs if p.a is not None}


def _frame_key(pair: Pair) -> tuple[str, ...]:
    # Matched by the loose key: the frame (side a) spelled it `baseline_label`.
    return (*pair.key[:-1], pair.baseline_label or pair.key[-1])


def _median_nodes(nodes: Sequence[Node], others: Sequence[dict[tuple[str, ...], Pair]], everyone: int) -> tuple:
    out = []
    for node in nodes:
        matches = [o.get(node.key) for o in others]
        stats = [node.stats] + [m.b if m is not None else None for m in matches]
        median = _median_stats(stats)
        if median is None:
            continue
        children = _median_nodes(node.children, [_by_key(m.children) if m else {} for m in matches], everyone)
        out.append(Node(node.key, node.label, median, children))
    return tuple(out)


def _median_stats(stats: Sequence[Stats | None]) -> Stats | None:
    counts = [s.count if s else 0 for s in stats]
    count = _round_half_up(statistics.median(counts))
    if count == 0:
        return None
    waits = [s.wait_ns if s else 0 for s in stats]
    wait = round(statistics.median(waits))
    present = [s for s in stats if s is not None and s.count]
    representative = min(present, key=lambda s: abs(s.wait_ns - wait))
    sizes = [s.size_bytes for s in present if s.size_bytes is not None]
    samples: list[int] = []
    for s in present:
        samples.extend(s.samples[: MAX_SAMPLES - len(samples)])
    return Stats(
        count=count,
        total_ns=round(statistics.median([s.total_ns if s else 0 for s in stats])),
        wait_ns=wait,
        errors=_round_half_up(statistics.median([s.errors if s else 0 for s in stats])),
        statuses=representative.statuses,
        size_bytes=round(statistics.median(sizes)) if sizes else None,
        samples=tuple(samples),
        starts=representative.starts,
        ids=representative.ids,
        trace_ids=representative.trace_ids,
        session_ids=tuple(dict.fromkeys(x for s in present for x in s.session_ids)),
    )


def _round_half_up(value: float) -> int:
    return int(value + 0.5)
