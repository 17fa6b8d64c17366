"""Trace tree, self time and span selection: scenario cases that carry their answers."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from mcp_sessions.analysis.selection import select_spans
from mcp_sessions.analysis.selftime import self_times
from mcp_sessions.analysis.tree import build_tree
from mcp_sessions.model import Span, SpanEvent

MS = 1_000_000


def span(
    span_id: str,
    parent: str | None,
    start_ms: float,
    end_ms: float,
    name: str | None = None,
    *,
    error: bool = False,
    shared: bool = False,
    kind: str = "internal",
) -> Span:
    return Span(
        trace_id="t" * 32,
        span_id=span_id.rjust(16, "0"),
        parent_span_id=parent.rjust(16, "0") if parent else None,
        name=name or f"op-{span_id}",
        kind=kind,
        start_ns=int(start_ms * MS),
        end_ns=int(end_ms * MS),  # type: ignore[arg-type]
        status_code="error" if error else "unset",
        shared=shared,
    )


def index(tree, span_id: str, shared: bool = False) -> int:
    return next(i for i, s in enumerate(tree.spans) if s.span_id == span_id.rjust(16, "0") and s.shared == shared)


# Each case: spans, then {span: (clamped start ms, clamped end ms, self ms)}. Self time is over the span's
# own window (a child covers its parent only up to the parent's edges), never its clamped one.
CASES = {
    # P  |----------|  0..100
    # A    |--|        10..30
    # B        |--|    40..60        self(P) = 100 - 20 - 20 = 60
    "sequential children": (
        [span("p", None, 0, 100), span("a", "p", 10, 30), span("b", "p", 40, 60)],
        {"p": (0, 100, 60), "a": (10, 30, 20), "b": (40, 60, 20)},
    ),
    # P  |----------|  0..100
    # A   |------|     10..60
    # B      |------|  40..90        union 10..90 → self(P) = 20
    "overlapping children": (
        [span("p", None, 0, 100), span("a", "p", 10, 60), span("b", "p", 40, 90)],
        {"p": (0, 100, 20), "a": (10, 60, 50), "b": (40, 90, 50)},
    ),
    # P     |------|      0..100
    # C   |----|          -30..50 (clock skew: starts early) → 0..50
    "child starts before parent": (
        [span("p", None, 0, 100), span("c", "p", -30, 50)],
        {"p": (0, 100, 50), "c": (0, 50, 80)},
    ),
    # P  |------|         0..100
    # C       |------|    60..160 (outlives its parent) → 60..100
    "child outlives parent": (
        [span("p", None, 0, 100), span("c", "p", 60, 160)],
        {"p": (0, 100, 60), "c": (60, 100, 100)},
    ),
    # P  |----|           0..50
    # C           |--|    80..90 (wholly after) → zero length at the parent's end
    "child wholly outside parent": (
        [span("p", None, 0, 50), span("c", "p", 80, 90)],
        {"p": (0, 50, 50), "c": (50, 50, 10)},
    ),
    # P  |----------|          0..100
    # A    |------------|      20..140 → 20..100
    # G          |--------|    60..160, child of A → 60..100 (clamped into the clamped A)
    "grandchild clamped into clamped child": (
        [span("p", None, 0, 100), span("a", "p", 20, 140), span("g", "a", 60, 160)],
        {"p": (0, 100, 20), "a": (20, 100, 40), "g": (60, 100, 100)},
    ),
    # producer P sends, consumer C (its child) runs after P ended: async fan-out
    # P  |--|              0..20
    # C1       |---|       50..80 kept: a consumer runs on its own time
    # C2         |---|     60..90 kept              self(P) = 20: consumers do not eat producer time
    "async fan-out to consumers": (
        [
            span("p", None, 0, 20, kind="producer"),
            span("c1", "p", 50, 80, kind="consumer"),
            span("c2", "p", 60, 90, kind="consumer"),
        ],
        {"p": (0, 20, 20), "c1": (50, 80, 30), "c2": (60, 90, 30)},
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_clamping_and_self_time(case):
    spans, expected = CASES[case]
    tree = build_tree(spans)
    selfs = self_times(tree)
    for span_id, (start, end, self_ms) in expected.items():
        i = index(tree, span_id)
        assert tree.clamped[i] == (int(start * MS), int(end * MS)), span_id
        assert selfs[i] == int(self_ms * MS), span_id


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_analysis_leaves_its_input_unchanged(case):
    spans, _ = CASES[case]
    before = copy.deepcopy(spans)
    tree = build_tree(spans)
    select_spans(tree, self_times(tree), 3)
    assert spans == before


def test_orphans_and_cycles_become_roots_and_every_span_appears_once():
    spans = [span("a", "b", 0, 10), span("b", "a", 1, 9), span("o", "missing", 2, 3), span("r", None, 0, 20)]
    tree = build_tree(spans)
    order = tree.preorder()
    assert sorted(order) == [0, 1, 2, 3]
    assert {tree.spans[i].span_id.lstrip("0") for i in tree.roots} >= {"o", "r"}


def test_zipkin_shared_server_half_is_child_of_client_half_and_owns_the_children():
    spans = [
        span("c", "root", 0, 100, "client call", kind="client"),
        span("c", "root", 10, 90, "server handler", shared=True, kind="server"),
        span("d", "c", 20, 50, "db query"),
        span("root", None, 0, 120, "entry"),
    ]
    tree = build_tree(spans)
    client, server, db = index(tree, "c"), index(tree, "c", shared=True), index(tree, "d")
    assert tree.parent[server] == client
    assert tree.parent[db] == server
    assert tree.depth[db] == 3


def wide_trace() -> list[Span]:
    """A root with 60 fast children, one slow branch three deep, and two errors deep in the fast ones."""
    spans = [span("root", None, 0, 1000, "GET /checkout")]
    spans += [span(f"f{i}", "root", i, i + 2, "SELECT price") for i in range(60)]
    spans += [
        span("slow", "root", 100, 990, "POST payments"),
        span("slow2", "slow", 110, 980, "charge"),
        span("slow3", "slow2", 120, 970, "bank api"),
    ]
    spans += [span("e1", "f7", 8, 8.5, "fetch", error=True), span("e2", "f42", 43, 43.5, "fetch", error=True)]
    return spans


def test_selection_keeps_root_slowest_branch_and_errors_within_budget():
    tree = build_tree(wide_trace())
    selection = select_spans(tree, self_times(tree), max_spans=12)
    shown_ids = {tree.spans[i].span_id.lstrip("0") for i in selection.shown}
    assert len(selection.shown) <= 12
    assert {"root", "slow", "slow2", "slow3", "e1", "f7", "e2", "f42"} <= shown_ids
    assert selection.scope_size == len(tree)
    hidden = sum(len(v) for v in selection.hidden_children.values())
    assert hidden == len(tree) - len(selection.shown)


def test_selection_focus_limits_scope_to_a_subtree():
    tree = build_tree(wide_trace())
    focus = index(tree, "slow")
    selection = select_spans(tree, self_times(tree), max_spans=40, focus=focus)
    assert selection.scope_size == 3
    assert [tree.spans[i].span_id.lstrip("0") for i in selection.shown] == ["slow", "slow2", "slow3"]


def test_exception_event_counts_as_error_for_selection():
    spans = [span("root", None, 0, 100)] + [span(f"c{i}", "root", i, i + 1) for i in range(30)]
    spans[20] = replace(spans[20], events=(SpanEvent(20 * MS, "exception", {}),))  # status unset, but it threw
    tree = build_tree(spans)
    selection = select_spans(tree, self_times(tree), max_spans=5)
    assert index(tree, "c19") in selection.shown
