"""Critical path and self time against scenario files that carry their drawing and their answer.

Each tests/scenarios/timing/<case>.json holds an ASCII drawing, the spans (name, parent,
kind, start/end in ms; an end of null: none was recorded) and the answers worked out by hand
from the drawing: milliseconds on the critical path, of self time and after the root answered
per span, and the path's segments in time order; where a case says so, each span's duration
as shown and whether its end was recorded.
A scenario may name a `known_issue` for one answer: that check is expected to fail
(strictly) until the issue is fixed, and the reason says where.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mcp_sessions.analysis.critical_path import after_root, critical_path
from mcp_sessions.analysis.selftime import self_times, union_ns
from mcp_sessions.analysis.tree import build_tree
from mcp_sessions.model import Span

SCENARIOS = Path(__file__).parent / "scenarios" / "timing"
CASES = {path.stem: json.loads(path.read_text()) for path in sorted(SCENARIOS.glob("*.json"))}
MS = 1_000_000
TRACE = "ab" * 16


def spans_of(case: dict[str, Any]) -> list[Span]:
    ids = {s["name"]: f"{i + 1:016x}" for i, s in enumerate(case["spans"])}
    return [
        Span(
            trace_id=TRACE,
            span_id=ids[s["name"]],
            parent_span_id=None if s["parent"] is None else ids.get(s["parent"], "f" * 16),
            name=s["name"],
            kind=s["kind"],
            start_ns=round(s["start_ms"] * MS),
            end_ns=round(s["start_ms"] * MS if s["end_ms"] is None else s["end_ms"] * MS),
            end_known=s["end_ms"] is not None,
            resource={"service.name": "svc"},
        )
        for s in case["spans"]
    ]


def params(check: str) -> list[Any]:
    out = []
    for name, case in CASES.items():
        issue = case.get("known_issue", {}).get(check)
        marks = [pytest.mark.xfail(strict=True, reason=issue)] if issue else []
        out.append(pytest.param(name, id=name, marks=marks))
    return out


def test_the_scenarios_cover_the_cases_the_issue_names() -> None:
    wanted = {
        "overlapping-children",
        "child-outlives-parent",
        "child-starts-before-parent",
        "producer-consumer",
        "async-fan-out",
        "sequential-with-gap",
        "orphan-subtree",
        "clock-skew",
        "consumer-after-response",
        "no-recorded-end",
    }
    assert wanted <= set(CASES)
    for name, case in CASES.items():
        assert case["drawing"] and case["description"], name
        names = [s["name"] for s in case["spans"]]
        assert len(names) == len(set(names)), name
        assert set(case["expected"]["critical_path_ms"]) == set(names), name
        assert set(case["expected"]["self_time_ms"]) == set(names), name
        assert set(case["expected"]["after_response_ms"]) == set(names), name


@pytest.mark.parametrize("name", params("critical_path_ms"))
def test_critical_path(name: str) -> None:
    case = CASES[name]
    spans = spans_of(case)
    before = copy.deepcopy(spans)
    tree = build_tree(spans)
    clamped = tree.clamped
    path = critical_path(tree)

    by_name = {tree.spans[i].name: ns / MS for i, ns in enumerate(path.by_span)}
    assert by_name == pytest.approx(case["expected"]["critical_path_ms"])
    segments = [[tree.spans[s.node].name, s.start_ns / MS, s.end_ns / MS] for s in path.segments]
    assert segments == case["expected"]["critical_path_segments"]
    roots_ms = union_ns(tree.clamped[r] for r in tree.roots) / MS
    assert path.root_ns / MS == pytest.approx(case["expected"].get("critical_path_total_ms", roots_ms))
    assert sum(path.by_span) == path.root_ns  # every waited-for nanosecond belongs to exactly one span
    first, last = tree.extent()
    assert path.root_ns <= last - first  # never more than the trace lasted, however its roots overlap
    assert spans == before and tree.clamped == clamped  # the input and the tree are left as they were


@pytest.mark.parametrize("name", params("after_response_ms"))
def test_time_after_the_root_answered(name: str) -> None:
    case = CASES[name]
    spans = spans_of(case)
    before = copy.deepcopy(spans)
    tree = build_tree(spans)
    path = critical_path(tree)
    assert {tree.spans[i].name: ns / MS for i, ns in enumerate(path.after_ns)} == pytest.approx(
        case["expected"]["after_response_ms"]
    )
    assert path.after_ns == after_root(tree)
    assert spans == before


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if "duration_ms" in c["expected"]])
def test_shown_times_are_the_spans_own(name: str) -> None:
    """Durations are the recorded ones (never clamped); a span with no recorded end lasts until the end
    its children imply, and says its end was inferred."""
    case = CASES[name]
    tree = build_tree(spans_of(case))
    assert {s.name: tree.duration_ns(i) / MS for i, s in enumerate(tree.spans)} == pytest.approx(
        case["expected"]["duration_ms"]
    )
    assert {s.name: tree.end_known[i] for i, s in enumerate(tree.spans)} == case["expected"]["end_recorded"]


@pytest.mark.parametrize("name", params("self_time_ms"))
def test_self_time(name: str) -> None:
    case = CASES[name]
    spans = spans_of(case)
    before = copy.deepcopy(spans)
    tree = build_tree(spans)
    selfs = self_times(tree)
    assert {tree.spans[i].name: ns / MS for i, ns in enumerate(selfs)} == pytest.approx(
        case["expected"]["self_time_ms"]
    )
    assert spans == before
