"""From an alignment to a short, ranked list of findings.

1. Aggregate every aligned node over its steps, per parent occurrence (aggregate.py).
2. Classify: new errors and error statuses; operations added or removed; counts that
   changed; timings that changed on an unchanged structure; response sizes. See noise.py
   for when a timing change counts.
3. Fold the statements of one N+1 loop into one finding, with the statement it replaced
   (loops.py).
4. Explain rather than repeat: a timing change on a node is dropped when findings below it
   account for at least half of it (the request got slower because the loop inside it
   grew).
5. Rank by impact on what the user waited for: errors first (a failed request is worse
   than a slow one), then regressions by the time they added to a typical wait (the
   median over the steps they touched: a user feels each wait, not their sum; measured on
   the regressed shop, the checkout's N+1 adds 121 ms to one click while the tripled
   review fetches add 73 ms to each of ten page views), then by the total they added;
   improvements last.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from mcp_sessions.analysis.diff.aggregate import Aggregate, Path, aggregate
from mcp_sessions.analysis.diff.align import Alignment
from mcp_sessions.analysis.diff.loops import N_PLUS_ONE_MIN_COUNT, fold_replaced, group_loops, loop_signature
from mcp_sessions.analysis.diff.noise import MIN_DELTA_NS, confirmed, large_enough
from mcp_sessions.analysis.diff.result import ERROR_KINDS, DiffResult, Finding, Totals

# Response sizes: at least 1 KiB and 50% apart (the same page on the same data returns the
# same bytes; 50% leaves room for timestamps and ids that vary in length).
SIZE_MIN_BYTES = 1024
SIZE_RATIO = 0.5
# A change is explained by findings below it when they account for at least this share.
EXPLAINED_SHARE = 0.5


def diff(alignment: Alignment) -> DiffResult:
    """Ranked findings for an alignment (`alignment.baseline` is the good side)."""
    aggs = aggregate(alignment)
    pooled = alignment.baseline.kind == "median"
    candidates = {path: _classify(agg, pooled) for path, agg in aggs.items()}
    findings = {p: f for p, (f, significant) in candidates.items() if f is not None and significant}
    unconfirmed = {
        p: f for p, (f, significant) in candidates.items() if f is not None and not significant and f.kind == "latency"
    }
    minor = sum(1 for f, significant in candidates.values() if f is not None and not significant) - len(unconfirmed)
    findings = fold_replaced(aggs, group_loops(aggs, findings, candidates), candidates)
    below = _below(findings)
    kept = [f for p, f in findings.items() if not (f.kind == "latency" and _is_explained(below, p, f.delta_ns))]
    kept.sort(key=_rank)
    loose = [f for p, f in unconfirmed.items() if not _is_explained(below, p, f.delta_ns)]
    loose.sort(key=lambda f: -abs(f.delta_ns))
    return DiffResult(alignment, tuple(kept), tuple(loose), max(0, minor), _totals(alignment))


def _classify(agg: Aggregate, pooled: bool) -> tuple[Finding | None, bool]:
    """The finding an aggregate makes (None: nothing differs), and whether it is significant."""
    delta = agg.wait_b - agg.wait_a_scaled
    if agg.level == "step":
        kind = "step-added" if agg.count_b else "step-removed"
        return _finding(agg, kind, None), abs(delta) >= MIN_DELTA_NS or agg.errors_b > agg.errors_a
    if abs(agg.errors_b - agg.errors_a_scaled) > 0.5:
        return _finding(agg, "errors", None), True
    if agg.count_a and agg.count_b and agg.level != "op" and agg.statuses_a != agg.statuses_b:
        return _finding(agg, "status", None), True
    if not agg.count_a:
        per_parent = agg.count_b / max(1, agg.parents_b)
        return _finding(agg, "added", None), abs(delta) >= MIN_DELTA_NS or per_parent >= N_PLUS_ONE_MIN_COUNT
    if not agg.count_b:
        per_parent = agg.count_a / max(1, agg.parents_a)
        return _finding(agg, "removed", None), abs(delta) >= MIN_DELTA_NS or per_parent >= N_PLUS_ONE_MIN_COUNT
    if round(agg.count_a_scaled) != agg.count_b:
        return _finding(agg, "count", None), loop_signature(agg) or large_enough(delta, agg.wait_a_scaled)
    # The same structure: a timing change (confirmed or not), else a size change, else nothing.
    if large_enough(delta, agg.wait_a_scaled):
        significant, p_value = confirmed(agg.samples_a, agg.samples_b, pooled_baselines=pooled)
        if significant or not _size_changed(agg):
            return _finding(agg, "latency", p_value), significant
    if _size_changed(agg):
        return _finding(agg, "size", None), True
    return None, False


def _per_occurrence(values: Sequence[float]) -> int | None:
    return round(statistics.median(values)) if values else None


def _size_changed(agg: Aggregate) -> bool:
    before, after = _per_occurrence(agg.sizes_a), _per_occurrence(agg.sizes_b)
    if before is None or after is None:
        return False
    change = abs(after - before)
    return change >= SIZE_MIN_BYTES and change >= SIZE_RATIO * before


def _finding(agg: Aggregate, kind: str, p_value: float | None) -> Finding:
    deltas = list(agg.deltas.values())
    return Finding(
        kind=kind,
        level=agg.level,
        label=agg.label,
        baseline_label=agg.baseline_label,
        context=agg.context,
        service=agg.service,
        count_before=round(agg.count_a),
        count_after=agg.count_b,
        wait_before_ns=agg.wait_a,
        wait_after_ns=agg.wait_b,
        delta_ns=round(agg.wait_b - agg.wait_a_scaled),
        per_wait_delta_ns=round(statistics.median(deltas)) if deltas else 0,
        steps=len(agg.deltas),
        step_labels=tuple(agg.step_labels),
        errors_before=agg.errors_a,
        errors_after=agg.errors_b,
        statuses_before=tuple(sorted(agg.statuses_a)),
        statuses_after=tuple(sorted(agg.statuses_b)),
        size_before=_per_occurrence(agg.sizes_a),
        size_after=_per_occurrence(agg.sizes_b),
        p_value=p_value,
        trace_ids=tuple(agg.traces_b),
        baseline_trace_ids=tuple(agg.traces_a),
        span_ids=tuple(agg.ids_b) if agg.level == "op" else (),
        baseline_span_ids=tuple(agg.ids_a) if agg.level == "op" else (),
        parent_span_ids=tuple(agg.parent_ids),
        baseline_session_ids=tuple(agg.sessions_a),
    )


def _below(findings: dict[Path, Finding]) -> dict[Path, tuple[int, int]]:
    """For every path: the time findings strictly below it added, and saved (one pass, by ancestor)."""
    sums: dict[Path, tuple[int, int]] = {}
    for path, finding in findings.items():
        added, saved = max(finding.delta_ns, 0), min(finding.delta_ns, 0)
        for depth in range(1, len(path)):
            up, down = sums.get(path[:depth], (0, 0))
            sums[path[:depth]] = (up + added, down + saved)
    return sums


def _is_explained(below: dict[Path, tuple[int, int]], path: Path, delta: int) -> bool:
    """Whether findings below `path` account for EXPLAINED_SHARE of its change (in the same direction)."""
    added, saved = below.get(path, (0, 0))
    same_way = added if delta > 0 else saved
    return bool(delta) and same_way / delta >= EXPLAINED_SHARE


def _rank(finding: Finding) -> tuple[int, int, int]:
    new_errors = finding.kind == "step-added" and finding.errors_after > 0
    if (finding.kind in ERROR_KINDS and finding.regression) or new_errors:
        tier = 0
    elif finding.regression:
        tier = 1
    else:
        tier = 2
    return (tier, -abs(finding.per_wait_delta_ns), -abs(finding.delta_ns))


def _totals(alignment: Alignment) -> Totals:
    counts = [0] * 8
    for step in alignment.steps:
        for side, offset in ((step.a, 0), (step.b, 1)):
            if side is None:
                continue
            counts[offset] += 1
            for node in side.nodes:
                if node.level == "error":
                    continue
                counts[2 + offset] += node.stats.count
                counts[6 + offset] += node.stats.wait_ns
                stack = list(node.children)
                while stack:
                    child = stack.pop()
                    counts[4 + offset] += child.stats.count
                    stack.extend(child.children)
    return Totals(*counts)
