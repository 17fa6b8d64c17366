"""Summing aligned nodes over the steps they occur in, per parent occurrence.

Each aligned node is keyed by its path without the steps (request fingerprint, then
operation keys), so the reviews request of ten product pages is one aggregate, and so is
a statement inside it. Nodes are compared per parent occurrence: under a request that ran
3 times where it ran once, a statement that also ran 3 times did not change (its parent's
count did). The baseline side is scaled by the parent's count ratio before anything is
compared, and the time a node added in a step is its target time minus its scaled
baseline time:

    baseline   request ×1  → SELECT ×1   (12 ms)
    target     request ×3  → SELECT ×3   (36 ms)   scaled baseline: ×3, 36 ms: no change

Below a node that exists on one side only nothing is aggregated: that node's own finding
(added, removed, an extra step) covers its subtree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mcp_sessions.analysis.diff.align import Alignment, Pair, StepPair
from mcp_sessions.analysis.diff.nodes import MAX_IDS, MAX_SAMPLES, MAX_STARTS, NodeKey

Path = tuple[NodeKey, ...]


@dataclass
class Aggregate:
    """One node summed over its steps: `_a` is the baseline, `_b` the target; `_scaled` per parent occurrence."""

    path: tuple[NodeKey, ...]
    label: str
    context: tuple[str, ...]
    parent: tuple[NodeKey, ...] | None
    baseline_label: str | None = None
    count_a: int = 0
    count_a_scaled: float = 0.0
    count_b: int = 0
    parents_a: int = 0
    parents_b: int = 0
    wait_a: int = 0
    wait_a_scaled: float = 0.0
    wait_b: int = 0
    errors_a_scaled: float = 0.0
    errors_a: int = 0
    errors_b: int = 0
    statuses_a: set[int] = field(default_factory=set)
    statuses_b: set[int] = field(default_factory=set)
    sizes_a: list[float] = field(default_factory=list)
    sizes_b: list[float] = field(default_factory=list)
    samples_a: list[int] = field(default_factory=list)
    samples_b: list[int] = field(default_factory=list)
    deltas: dict[int, float] = field(default_factory=dict)
    step_labels: list[str] = field(default_factory=list)
    ids_a: list[str] = field(default_factory=list)
    ids_b: list[str] = field(default_factory=list)
    traces_a: list[str] = field(default_factory=list)
    traces_b: list[str] = field(default_factory=list)
    sessions_a: list[str] = field(default_factory=list)
    starts_b: list[int] = field(default_factory=list)
    parent_ids: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        return self.path[-1][0]

    @property
    def service(self) -> str | None:
        key = self.path[-1]
        return (key[1] or None) if key[0] == "op" else None


def _extend(target: list, values: Sequence, limit: int = MAX_IDS) -> None:
    for v in values:
        if len(target) >= limit:
            return
        if v not in target:
            target.append(v)


def aggregate(alignment: Alignment) -> dict[Path, Aggregate]:
    """Every aligned node summed over its steps, by path; steps on one side only as `("step", …)`."""
    aggs: dict[Path, Aggregate] = {}
    for index, step in enumerate(alignment.steps):
        if step.a is None or step.b is None:
            _step_agg(aggs, index, step.a is None, step)
            continue
        for pair in step.pairs:
            _visit(aggs, index, step.label, pair, scale=1.0, path=(), context=(), parent_ids=())
    return aggs


def _step_agg(aggs: dict[Path, Aggregate], index: int, added: bool, step: StepPair) -> None:
    only = step.b if added else step.a
    assert only is not None
    key: NodeKey = ("step", *only.key)
    agg = aggs.get((key,))
    if agg is None:
        agg = aggs[(key,)] = Aggregate(path=(key,), label=only.label, context=(), parent=None)
    wait = sum(n.stats.wait_ns for n in only.nodes if n.level != "error")
    errors = sum(n.stats.errors for n in only.nodes)
    failing_first = sorted(only.nodes, key=lambda n: n.stats.errors == 0)
    traces = [t for n in failing_first for t in n.stats.trace_ids]
    if added:
        agg.count_b += 1
        agg.wait_b += wait
        agg.errors_b += errors
        _extend(agg.traces_b, traces)
    else:
        agg.count_a += 1
        agg.count_a_scaled += 1
        agg.wait_a += wait
        agg.wait_a_scaled += wait
        agg.errors_a += errors
        agg.errors_a_scaled += errors
        _extend(agg.traces_a, traces)
        _extend(agg.sessions_a, [s for n in only.nodes for s in n.stats.session_ids])
    agg.deltas[index] = wait if added else -wait
    _extend(agg.step_labels, [only.label])


def _visit(
    aggs: dict[Path, Aggregate],
    index: int,
    step_label: str,
    pair: Pair,
    *,
    scale: float,
    path: tuple[NodeKey, ...],
    context: tuple[str, ...],
    parent_ids: tuple[str, ...],
) -> None:
    here = (*path, pair.key)
    agg = aggs.get(here)
    if agg is None:
        agg = aggs[here] = Aggregate(path=here, label=pair.label, context=context, parent=path or None)
    a, b = pair.a, pair.b
    if pair.baseline_label and not agg.baseline_label:
        agg.baseline_label = pair.baseline_label
    if a is not None:
        agg.count_a += a.count
        agg.count_a_scaled += a.count * scale
        agg.parents_a += 1
        agg.wait_a += a.wait_ns
        agg.wait_a_scaled += a.wait_ns * scale
        agg.errors_a += a.errors
        agg.errors_a_scaled += a.errors * scale
        agg.statuses_a.update(a.statuses)
        if a.size_bytes is not None and a.count:
            agg.sizes_a.append(a.size_bytes / a.count)
        agg.samples_a.extend(a.samples[: max(0, MAX_SAMPLES - len(agg.samples_a))])
        _extend(agg.ids_a, a.ids)
        _extend(agg.traces_a, a.trace_ids)
        _extend(agg.sessions_a, a.session_ids, limit=20)
    if b is not None:
        agg.count_b += b.count
        agg.parents_b += 1
        agg.wait_b += b.wait_ns
        agg.errors_b += b.errors
        agg.statuses_b.update(b.statuses)
        if b.size_bytes is not None and b.count:
            agg.sizes_b.append(b.size_bytes / b.count)
        agg.samples_b.extend(b.samples[: max(0, MAX_SAMPLES - len(agg.samples_b))])
        agg.starts_b.extend(b.starts[: max(0, MAX_STARTS - len(agg.starts_b))])
        _extend(agg.ids_b, b.ids)
        _extend(agg.traces_b, b.trace_ids)
    _extend(agg.parent_ids, parent_ids)
    delta = (b.wait_ns if b else 0) - (a.wait_ns * scale if a else 0)
    agg.deltas[index] = agg.deltas.get(index, 0.0) + delta
    _extend(agg.step_labels, [step_label])
    if a is None or b is None or not a.count:
        return  # the whole subtree is new or gone: this node's finding covers it
    for child in pair.children:
        _visit(
            aggs,
            index,
            step_label,
            child,
            scale=b.count / a.count,
            path=here,
            context=(*context, pair.label),
            parent_ids=b.ids if pair.level == "op" else (),
        )
