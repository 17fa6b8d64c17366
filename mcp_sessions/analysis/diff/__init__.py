"""Diff a session (or a trace) against a good one: what changed, ranked by what the user waited for.

nodes.py      the counted tree a side is (steps → requests → backend operations)
fold.py       occurrences folded into counted nodes; critical-path waits
side.py       a session (browser steps, or its traces) or a single trace → a side
align.py      two sides aligned (steps in order, nodes by key) and how much of them matched
statements.py whether one SQL statement is the per-item form of another (a loop's of a batch's)
baseline.py   several earlier sessions → one median side (the automatic baseline)
aggregate.py  aligned nodes summed over their steps, per parent occurrence
noise.py      when a timing difference is a change: tolerances and the rank test
loops.py      the statements of one N+1 loop → one finding
findings.py   aggregates → ranked findings (errors, loops, counts, timings, sizes)
result.py     what a diff answers, and the trust thresholds
"""

from __future__ import annotations

from mcp_sessions.analysis.diff.align import Alignment, Trust, align
from mcp_sessions.analysis.diff.baseline import median_side
from mcp_sessions.analysis.diff.findings import diff
from mcp_sessions.analysis.diff.nodes import Side
from mcp_sessions.analysis.diff.result import LOW_TRUST, PARTIAL_TRUST, DiffResult, Finding
from mcp_sessions.analysis.diff.side import SessionRecording, comparable_sides, session_side, trace_side


def diff_sides(baseline: Side, target: Side) -> DiffResult:
    """What changed from `baseline` (the good side) to `target`."""
    return diff(align(baseline, target))


__all__ = [
    "LOW_TRUST",
    "PARTIAL_TRUST",
    "Alignment",
    "DiffResult",
    "Finding",
    "SessionRecording",
    "Side",
    "Trust",
    "comparable_sides",
    "diff_sides",
    "median_side",
    "session_side",
    "trace_side",
]
