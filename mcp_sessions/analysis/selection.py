"""Which spans of a large trace to show within a budget, and what to say about the rest.

A trace of thousands of spans cannot be shown whole; a random or first-N cut hides what
matters. Spans are admitted in priority order, each with its ancestors so the tree stays
connected, until the budget is spent:

    1. the root (or the focused span)
    2. the slowest branch: from the root, repeatedly the child that finishes last
    3. error spans, earliest first (up to half the budget)
    4. the spans with the most self time
    5. the rest, breadth first, longest first

Every shown span knows which of its children were left out, so the caller can say
"+ 29 × SELECT … (310 ms)" and name the call that expands them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mcp_sessions.analysis.tree import TraceTree


@dataclass(frozen=True)
class Selection:
    shown: tuple[int, ...]  # in display (pre-)order
    hidden_children: Mapping[int, tuple[int, ...]]
    scope_size: int  # spans under the root or focus
    reason: Mapping[int, str]  # why a span was admitted first

    @property
    def hidden_count(self) -> int:
        return self.scope_size - len(self.shown)


def is_error(tree: TraceTree, node: int) -> bool:
    span = tree.spans[node]
    return span.is_error or any(e.name == "exception" for e in span.events)


def select_spans(tree: TraceTree, selfs: tuple[int, ...], max_spans: int, focus: int | None = None) -> Selection:
    scope_roots = tree.roots if focus is None else (focus,)
    scope = [n for root in scope_roots for n in tree.preorder(root)]
    in_scope = set(scope)
    chosen: set[int] = set()
    reason: dict[int, str] = {}

    def admit(node: int, why: str) -> bool:
        path = [node] + [a for a in tree.ancestors(node) if a in in_scope]
        new = [n for n in path if n not in chosen]
        if len(chosen) + len(new) > max_spans:
            return False
        chosen.update(new)
        reason.setdefault(node, why)
        return True

    for root in scope_roots:
        admit(root, "root")

    for root in scope_roots:
        node = root
        while tree.children[node] and len(chosen) < max_spans:
            node = max(tree.children[node], key=lambda c: (tree.clamped[c][1], tree.clamped[c][1] - tree.clamped[c][0]))
            if not admit(node, "slowest branch"):
                break

    error_budget = max(1, max_spans // 2)
    errors = sorted((n for n in scope if is_error(tree, n)), key=lambda n: tree.spans[n].start_ns)
    for node in errors:
        if len(chosen) >= error_budget + 1 and node not in chosen:
            break
        admit(node, "error")

    for node in sorted(scope, key=lambda n: -selfs[n])[:max_spans]:
        if len(chosen) >= max_spans:
            break
        if selfs[node] > 0:
            admit(node, "self time")

    frontier = [c for n in sorted(chosen) for c in tree.children[n] if c not in chosen]
    while frontier and len(chosen) < max_spans:
        frontier.sort(key=lambda c: -(tree.clamped[c][1] - tree.clamped[c][0]))
        node = frontier.pop(0)
        if node in chosen:
            continue
        chosen.add(node)
        frontier.extend(c for c in tree.children[node] if c not in chosen)

    shown = tuple(n for n in scope if n in chosen)
    hidden = {
        n: tuple(c for c in tree.children[n] if c not in chosen)
        for n in shown
        if any(c not in chosen for c in tree.children[n])
    }
    return Selection(shown=shown, hidden_children=hidden, scope_size=len(scope), reason=reason)
