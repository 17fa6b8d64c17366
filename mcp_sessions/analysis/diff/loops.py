"""One N+1 loop, one finding.

Operations under one parent whose counts changed to the same number, and whose spans
alternate, are the statements of one loop body. They are folded into one finding, led by
the statement that replaced an earlier one (the batched query that became one query per
item), with the others as its companions; the time the loop added is the sum over them.
Runs that follow each other are two loops, not one:

    one loop      A  B  A  B  A  B  A  B        A: SELECT … FROM products WHERE id = ?
                  |--|--|--|--|--|--|--|        B: SELECT COUNT(*) … WHERE product_id = ?
    two loops     A  A  A  A  B  B  B  B        (one switch: A's loop ends, B's begins)

A loop is matched to the statement it replaced when alignment paired them (under one
parent). When the loop runs under another span of the same request (lazy loading while a
template renders, where the view used to load everything at once), `fold_replaced` still
makes the new loop and the gone statement one finding, if the loop's statement is the
narrower form of the gone one (statements.py):

    baseline  GET /api/cart ─┬─ SELECT … WHERE id IN (?)                  ×1    Gone
                             └─ render cart.html
    target    GET /api/cart ─── render cart.html ─ SELECT … WHERE id = ?  ×25   New
                                                        one finding: N+1 loop, 1× → 25×
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

from mcp_sessions.analysis.diff.aggregate import Aggregate, Path
from mcp_sessions.analysis.diff.result import Companion, Finding
from mcp_sessions.analysis.diff.statements import narrower

# A loop that runs at least this many times per parent call where it used to run at most
# half as often is the N+1 signature, reported whatever its time (it grows with the data).
N_PLUS_ONE_MIN_COUNT = 3
N_PLUS_ONE_RATIO = 2.0


def loop_signature(agg: Aggregate) -> bool:
    """At least N_PLUS_ONE_MIN_COUNT runs per parent call, N_PLUS_ONE_RATIO times as many as before (or after)."""
    before = agg.count_a / max(1, agg.parents_a)
    after = agg.count_b / max(1, agg.parents_b)
    high, low = max(before, after), min(before, after)
    return high >= N_PLUS_ONE_MIN_COUNT and high >= N_PLUS_ONE_RATIO * max(low, 1e-9)


def _interleaved(x: Sequence[int], y: Sequence[int]) -> bool:
    """Whether two runs of spans alternate (A B A B …) rather than follow each other (A A … B B …)."""
    if not x or not y:
        return False
    tags = [tag for _, tag in sorted([(s, 0) for s in x] + [(s, 1) for s in y])]
    switches = sum(1 for i in range(1, len(tags)) if tags[i] != tags[i - 1])
    return switches >= min(len(x), len(y))


def group_loops(
    aggs: dict[Path, Aggregate],
    findings: dict[Path, Finding],
    candidates: dict[Path, tuple[Finding | None, bool]],
) -> dict[Path, Finding]:
    """Fold the statements of one N+1 loop into one finding led by the statement that changed."""
    loops: dict[tuple[Path | None, int], list[Path]] = {}
    for path, (finding, _significant) in candidates.items():
        if finding is None or finding.level != "op" or finding.kind not in ("count", "added"):
            continue
        agg = aggs[path]
        per_parent = agg.count_b / max(1, agg.parents_b)
        if per_parent < N_PLUS_ONE_MIN_COUNT:
            continue
        loops.setdefault((agg.parent, agg.count_b), []).append(path)
    out = dict(findings)
    for members in loops.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda p: (aggs[p].count_a == 0, min(aggs[p].starts_b, default=0)))
        lead = members[0]
        companions = [p for p in members[1:] if _interleaved(aggs[lead].starts_b, aggs[p].starts_b)]
        if not companions:
            continue
        lead_finding = candidates[lead][0]
        assert lead_finding is not None
        deltas: dict[int, float] = {}
        for p in (lead, *companions):
            for index, d in aggs[p].deltas.items():
                deltas[index] = deltas.get(index, 0.0) + d
        significant = any(candidates[p][1] for p in (lead, *companions))
        if not significant:
            continue
        merged = replace(
            lead_finding,
            kind="count" if aggs[lead].count_a else "added",
            delta_ns=sum(_delta(candidates, p) for p in (lead, *companions)),
            per_wait_delta_ns=round(statistics.median(deltas.values())),
            companions=tuple(
                Companion(
                    label=aggs[p].label,
                    count_before=aggs[p].count_a,
                    count_after=aggs[p].count_b,
                    delta_ns=_delta(candidates, p),
                )
                for p in companions
            ),
        )
        for p in companions:
            out.pop(p, None)
        out[lead] = merged
    return out


def _delta(candidates: dict[Path, tuple[Finding | None, bool]], path: Path) -> int:
    finding = candidates[path][0]
    return finding.delta_ns if finding is not None else 0


def fold_replaced(
    aggs: dict[Path, Aggregate],
    findings: dict[Path, Finding],
    candidates: dict[Path, tuple[Finding | None, bool]],
) -> dict[Path, Finding]:
    """A new loop and the statement it replaced elsewhere under the same request: one finding (see above).

    The gone statement is looked for among all candidates, significant or not: a batch too quick
    to count as a finding of its own is still what the loop replaced.
    """
    gone = {
        p: f
        for p, (f, _) in candidates.items()
        if f is not None
        and f.kind == "removed"
        and f.level == "op"
        and _per_parent(aggs[p], "a") < N_PLUS_ONE_MIN_COUNT
    }
    out = dict(findings)
    for path, finding in findings.items():
        agg = aggs[path]
        if finding.kind != "added" or finding.level != "op" or _per_parent(agg, "b") < N_PLUS_ONE_MIN_COUNT:
            continue
        partner = next(
            (
                p
                for p in gone
                if p[0] == path[0]
                and aggs[p].service == agg.service
                and aggs[p].count_a < agg.count_b
                and narrower(agg.label, aggs[p].label)
            ),
            None,
        )
        if partner is None:
            continue
        old = gone.pop(partner)
        out.pop(partner, None)
        deltas = dict(agg.deltas)
        for index, d in aggs[partner].deltas.items():
            deltas[index] = deltas.get(index, 0.0) + d
        out[path] = replace(
            finding,
            kind="count",
            baseline_label=old.label,
            count_before=old.count_before,
            wait_before_ns=old.wait_before_ns,
            delta_ns=finding.delta_ns + old.delta_ns,
            per_wait_delta_ns=round(statistics.median(deltas.values())) if deltas else 0,
            baseline_trace_ids=old.baseline_trace_ids,
            baseline_span_ids=old.baseline_span_ids,
            baseline_session_ids=old.baseline_session_ids,
        )
    return out


def _per_parent(agg: Aggregate, side: str) -> float:
    count, parents = (agg.count_a, agg.parents_a) if side == "a" else (agg.count_b, agg.parents_b)
    return count / max(1, parents)
