"""Patterns (N+1, duplicate and sequential calls, over-fetching) as every tool names them.

One wording wherever a pattern appears: the session overview's "Detected problems", the
trace tree (the finding named at the span that makes the calls), the marks on a trace list,
and the N+1 note on a slow-operation row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mcp_sessions.model import OperationLoops, StoredPattern
from mcp_sessions.render.markdown import call, duration, ms, quote, token
from mcp_sessions.render.models import LoopItem, PatternItem

if TYPE_CHECKING:  # the detectors load with the tools that run them
    from mcp_sessions.analysis.patterns import Pattern

PATTERN_NAMES = {
    "n_plus_one": "N+1 queries",
    "duplicate_calls": "duplicate calls",
    "sequential_calls": "sequential calls that could overlap",
    "over_fetching": "over-fetching",
}
SHORT_NAMES = {
    "n_plus_one": "N+1",
    "duplicate_calls": "duplicate",
    "sequential_calls": "sequential",
    "over_fetching": "over-fetching",
}


def pattern_model(p: Pattern) -> PatternItem:
    location = None
    if p.code_filepath or p.code_function:
        place = f"{p.code_filepath}:{p.code_lineno}" if p.code_filepath and p.code_lineno else p.code_filepath
        location = " in ".join(x for x in (place, p.code_function) if x)
    return PatternItem(
        kind=p.kind,
        fingerprint=p.fingerprint,
        service=p.service,
        count=p.count,
        total_ms=ms(p.total_ns),
        impact_ms=ms(p.impact_ns),
        trace_id=p.trace_id,
        parent_span_id=p.parent_span_id,
        span_ids=list(p.span_ids[:5]),
        example=p.example,
        code_location=location,
    )


def pattern_text(p: Pattern) -> str:
    """`**N+1 queries** · shop: `SELECT …` ×25, 48 ms in all, about 46 ms avoidable`."""
    service = f" · {token(p.service)}" if p.service else ""
    return (
        f"**{PATTERN_NAMES.get(p.kind, p.kind)}**{service}: {quote(p.fingerprint, 140)} ×{p.count}, "
        f"{duration(p.total_ns)} in all, about {duration(p.impact_ns)} avoidable"
    )


def code_note(model: PatternItem) -> str:
    return f"; code {quote(model.code_location, 100)}" if model.code_location else ""


def trace_marks(patterns: Sequence[StoredPattern]) -> str:
    """` · **N+1** ×25, duplicate ×2`: what a trace list line says about a trace's patterns."""
    if not patterns:
        return ""
    by_kind: dict[str, list[int]] = {}
    for p in patterns:
        by_kind.setdefault(p.kind, []).append(p.count)
    parts = []
    for kind in PATTERN_NAMES:
        if kind in by_kind:
            counts = sorted(by_kind[kind], reverse=True)
            name = f"**{SHORT_NAMES[kind]}**" if kind == "n_plus_one" else SHORT_NAMES[kind]
            places = f" in {len(counts)} places" if len(counts) > 1 else ""
            parts.append(f"{name} ×{counts[0]}{places}")
    return " · " + ", ".join(parts)


def loop_model(loops: OperationLoops) -> LoopItem:
    return LoopItem(
        traces=loops.traces,
        fewest_per_trace=loops.fewest,
        most_per_trace=loops.most,
        calls=loops.calls,
        worst_trace_id=loops.worst_trace_id,
        worst_parent_span_id=loops.worst_parent_span_id,
    )


def loop_text(loops: OperationLoops, trace_count: int) -> str:
    """`**N+1**: 12× per trace in 8 of 8 traces; longest loop: get_trace(...)`."""
    per_trace = f"{loops.fewest}–{loops.most}" if loops.fewest != loops.most else f"{loops.most}"
    where = call("get_trace", trace_id=loops.worst_trace_id, span_id=loops.worst_parent_span_id)
    of = f" of {trace_count}" if trace_count >= loops.traces else ""
    return (
        f"**N+1**: {per_trace}× per trace in {loops.traces}{of} trace{'s' if loops.traces != 1 else ''}; "
        f"longest loop: {where}"
    )
