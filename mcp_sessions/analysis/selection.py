"""Which spans of a large trace to show within a budget, and what to say about the rest.

A trace of thousands of spans cannot be shown whole; a random or first-N cut hides what
matters. Spans are admitted in priority order, each with its ancestors so the tree stays
connected, until the budget is spent:

    1. the trace's root (the earliest, or the focused span), the first step of the branch
       that finished last under it (by the spans' own ends), and the first error span: these
       three, with their ancestors, are shown even where they alone exceed `max_spans`
    2. the other roots (as many as make `max_spans` roots in all, however many spans 1 took),
       and the first step of each one's last-finishing branch
    3. error spans (error status), earliest first, then spans that recorded an exception
       without error status, up to `error_limit` of them
    4. the rest of each branch that finished last: from the root, repeatedly the child that
       finishes last
    5. the spans with the most self time
    6. the rest, breadth first, longest first

1 to 4 are what a cut trace promises to show (`Selection.promised`, in the order admitted,
each span after its ancestors); the renderer keeps them first, in that order, when the text
budget runs short. Every shown span knows which of its children were left
out, so the caller can say "+ 29 × SELECT … (310 ms)" and name the call that expands them.

An error span is one with error status: the rule list_traces and find_slow_spans count by.
An exception event on a span that did not fail is shown, and kept early, but not counted.
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
    promised: tuple[int, ...] = ()  # what the cut says it kept first, in the order admitted (ancestors first)
    error_limit: int = 0  # at most this many error (and exception) spans are kept first

    @property
    def hidden_count(self) -> int:
        return self.scope_size - len(self.shown)


def is_error(tree: TraceTree, node: int) -> bool:
    """Error status: the one rule every tool counts error spans by."""
    return bool(tree.spans[node].is_error)


def has_exception(tree: TraceTree, node: int) -> bool:
    """An exception event recorded on the span (failed or not)."""
    return any(e.name == "exception" for e in tree.spans[node].events)


def error_limit(max_spans: int) -> int:
    """How many error spans a cut of `max_spans` keeps first."""
    return max(1, max_spans // 2)


def last_finishing_child(tree: TraceTree, node: int) -> int:
    """The child whose own end is latest (ties: the longer one)."""
    return max(tree.children[node], key=lambda c: (tree.ends[c], tree.duration_ns(c)))


def select_spans(tree: TraceTree, selfs: tuple[int, ...], max_spans: int, focus: int | None = None) -> Selection:
    scope_roots = tree.roots if focus is None else (focus,)
    scope = [n for root in scope_roots for n in tree.preorder(root)]
    in_scope = set(scope)
    chosen: set[int] = set()
    order: list[int] = []
    reason: dict[int, str] = {}

    def admit(node: int, why: str, *, always: bool = False) -> bool:
        path = [node] + [a for a in tree.ancestors(node) if a in in_scope]
        new = [n for n in reversed(path) if n not in chosen]
        if len(chosen) + len(new) > max_spans and not always:
            return False
        chosen.update(new)
        order.extend(new)
        reason.setdefault(node, why)
        return True

    def first_step(root: int, *, always: bool = False) -> None:
        if tree.children[root] and (always or len(chosen) < max_spans):
            admit(last_finishing_child(tree, root), "slowest branch", always=always)

    limit = error_limit(max_spans)
    failed = sorted((n for n in scope if is_error(tree, n)), key=lambda n: tree.spans[n].start_ns)
    raised = sorted(
        (n for n in scope if has_exception(tree, n) and not is_error(tree, n)), key=lambda n: tree.spans[n].start_ns
    )
    errors = [*failed, *raised][:limit]

    main, *others = scope_roots or (None,)
    if main is not None:
        admit(main, "root", always=True)
        first_step(main, always=True)
    for node in errors[:1]:
        admit(node, "error" if is_error(tree, node) else "exception", always=True)
    for root in others[: max_spans - 1]:  # up to max_spans roots in all, whatever else was kept
        admit(root, "root", always=True)
    for root in others:
        first_step(root)
    for node in errors[1:]:
        admit(node, "error" if is_error(tree, node) else "exception")
    for root in scope_roots:
        node = root
        while tree.children[node] and len(chosen) < max_spans:
            node = last_finishing_child(tree, node)
            if not admit(node, "slowest branch"):
                break
    promised = tuple(order)

    for node in sorted(scope, key=lambda n: -selfs[n])[:max_spans]:
        if len(chosen) >= max_spans:
            break
        if selfs[node] > 0:
            admit(node, "self time")

    frontier = [c for n in sorted(chosen) for c in tree.children[n] if c not in chosen]
    while frontier and len(chosen) < max_spans:
        frontier.sort(key=lambda c: -tree.duration_ns(c))
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
    return Selection(
        shown=shown,
        hidden_children=hidden,
        scope_size=len(scope),
        reason=reason,
        promised=promised,
        error_limit=limit,
    )
