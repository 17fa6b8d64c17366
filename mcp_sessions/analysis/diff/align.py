"""Aligning two sides: steps in order, then nodes by key under each matched step.

Steps (user actions, or runs of same-root traces) are aligned as sequences with
`difflib.SequenceMatcher` on their keys (kind, label, page): the longest common runs
match, what is left over was done on one side only.

    baseline  start / · nav /login · click #login · nav /product/{id} · click #add ·                 nav /cart
    target    start / · nav /login · click #login · nav /product/{id} · click #add · click #coupon · nav /cart
                 =          =            =                =                 =        target only        =

Under a matched step, requests match by fingerprint (method + URL template); under a
matched request, operations match by (service, fingerprint), level by level, so every
node is compared with the same node on the other side, counts and all. Operations left
over on both sides under one parent get a second chance: first a looser key that reads
`= ?` and `IN (?)` alike and an HTTP call whatever its host and port, then, for SQL, the
statements themselves (statements.py: the same tables and columns, one predicate narrower,
that one run more often). A batched query that became one query per item (the N+1
signature) is then one node whose count went from 1 to 10 and whose statement changed,
not one removed and one added node:

    baseline  SELECT id, name FROM products WHERE id IN (?) ORDER BY id     ×1  ┐ one node,
    target    SELECT id, name FROM products WHERE id = ? LIMIT ?            ×25 ┘ 1× → 25×

Trust is the share of each level that found a partner, 2·matched / (baseline + target)
as `SequenceMatcher.ratio` counts it: actions (steps), requests (occurrences) and backend
work (span occurrences under matched requests). The overall trust is their mean.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import NamedTuple

from mcp_sessions.analysis.diff.nodes import Node, NodeKey, Side, Stats, Step
from mcp_sessions.analysis.diff.statements import replacements


class Pair(NamedTuple):
    """One node on both sides (or on one: `a` is the baseline, `b` the target)."""

    key: NodeKey
    label: str  # the target's fingerprint, else the baseline's
    baseline_label: str | None  # the baseline's fingerprint when it differs (matched by the loose key)
    a: Stats | None
    b: Stats | None
    children: tuple[Pair, ...] = ()

    @property
    def level(self) -> str:
        return self.key[0]


@dataclass(frozen=True)
class StepPair:
    a: Step | None
    b: Step | None
    pairs: tuple[Pair, ...]

    @property
    def label(self) -> str:
        return (self.b or self.a).label  # type: ignore[union-attr]


@dataclass(frozen=True)
class Share:
    matched: int
    baseline: int
    target: int

    @property
    def ratio(self) -> float | None:
        whole = self.baseline + self.target
        return 2 * self.matched / whole if whole else None


@dataclass(frozen=True)
class Trust:
    steps: Share
    requests: Share
    backend: Share

    @property
    def overall(self) -> float:
        ratios = [r for r in (self.steps.ratio, self.requests.ratio, self.backend.ratio) if r is not None]
        return sum(ratios) / len(ratios) if ratios else 0.0


@dataclass(frozen=True)
class Alignment:
    baseline: Side
    target: Side
    steps: tuple[StepPair, ...]
    trust: Trust


_EQUALS_PARAM = re.compile(r"\s*=\s*\?")
_IN_LIST = re.compile(r"\s+IN\s*\(\?\)", re.I)
_CLIENT_CALL = re.compile(r"\A([A-Z]+) [^\s/]+(/\S*)\Z")


def loose_key(key: NodeKey) -> NodeKey:
    """`… WHERE id = ?` and `… WHERE id IN (?)` alike, and an HTTP call whatever host and port it
    went to (test services listen on a new port every run). Operations only."""
    if key[0] != "op":
        return key
    text = _CLIENT_CALL.sub(r"\1 \2", key[-1])
    text = _IN_LIST.sub(" = ?", text)
    return (*key[:-1], _EQUALS_PARAM.sub(" = ?", text))


def align_nodes(a: Sequence[Node], b: Sequence[Node]) -> tuple[Pair, ...]:
    """Pairs of `a` (baseline) and `b` (target) nodes: by key, then leftovers by the loose key."""
    by_key_a = {n.key: n for n in a}
    matched: dict[NodeKey, Node] = {}  # target key → baseline node
    for node in b:
        if node.key in by_key_a:
            matched[node.key] = by_key_a[node.key]
    taken = {m.key for m in matched.values()}
    left_a = [n for n in a if n.key not in taken]
    left_b = [n for n in b if n.key not in matched]
    if left_a and left_b:
        loose_a = _unique_by_loose(left_a)
        for loose, node in _unique_by_loose(left_b).items():
            partner = loose_a.get(loose)
            if partner is not None:
                matched[node.key] = partner
        taken = {m.key for m in matched.values()}
        rest_a = [n for n in left_a if n.key not in taken]
        rest_b = [n for n in left_b if n.key not in matched]
        if rest_a and rest_b:
            matched.update(replacements(rest_a, rest_b))
    used_a = {m.key for m in matched.values()}

    pairs = []
    for node in b:
        partner = matched.get(node.key)
        if partner is None:
            pairs.append(_single(None, node))
        else:
            pairs.append(
                Pair(
                    key=node.key,
                    label=node.label,
                    baseline_label=partner.label if partner.label != node.label else None,
                    a=partner.stats,
                    b=node.stats,
                    children=align_nodes(partner.children, node.children),
                )
            )
    pairs.extend(_single(node, None) for node in a if node.key not in used_a)
    return tuple(pairs)


def _unique_by_loose(nodes: Sequence[Node]) -> dict[NodeKey, Node]:
    seen: dict[NodeKey, Node | None] = {}
    for node in nodes:
        loose = loose_key(node.key)
        if loose == node.key and node.key[0] != "op":
            continue
        seen[loose] = None if loose in seen else node
    return {k: v for k, v in seen.items() if v is not None}


def _single(a: Node | None, b: Node | None) -> Pair:
    node = b or a
    assert node is not None
    return Pair(
        key=node.key,
        label=node.label,
        baseline_label=None,
        a=a.stats if a else None,
        b=b.stats if b else None,
        children=tuple(_single(c if a else None, c if b else None) for c in node.children),
    )


def align(baseline: Side, target: Side) -> Alignment:
    """Steps aligned in order, nodes by key under each matched step, and how much matched."""
    keys_a = [s.key for s in baseline.steps]
    keys_b = [s.key for s in target.steps]
    matcher = SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    steps: list[StepPair] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for step_a, step_b in zip(baseline.steps[i1:i2], target.steps[j1:j2], strict=True):
                steps.append(StepPair(step_a, step_b, align_nodes(step_a.nodes, step_b.nodes)))
            continue
        for step_a in baseline.steps[i1:i2]:
            steps.append(StepPair(step_a, None, tuple(_single(n, None) for n in step_a.nodes)))
        for step_b in target.steps[j1:j2]:
            steps.append(StepPair(None, step_b, tuple(_single(None, n) for n in step_b.nodes)))
    return Alignment(baseline, target, tuple(steps), _trust(steps))


def _trust(steps: Sequence[StepPair]) -> Trust:
    step_counts = [0, 0, 0]  # matched, baseline, target
    request_counts = [0, 0, 0]
    backend_counts = [0, 0, 0]
    for step in steps:
        step_counts[0] += step.a is not None and step.b is not None
        step_counts[1] += step.a is not None
        step_counts[2] += step.b is not None
        for pair in step.pairs:
            if pair.level == "error":
                continue
            _tally(request_counts, pair)
            stack = list(pair.children)
            while stack:
                child = stack.pop()
                _tally(backend_counts, child)
                stack.extend(child.children)
    return Trust(Share(*step_counts), Share(*request_counts), Share(*backend_counts))


def _tally(counts: list[int], pair: Pair) -> None:
    a = pair.a.count if pair.a else 0
    b = pair.b.count if pair.b else 0
    counts[0] += min(a, b)
    counts[1] += a
    counts[2] += b
