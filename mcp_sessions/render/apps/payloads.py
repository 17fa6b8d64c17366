"""What the views draw: each answer's own output model, plus what only a picture needs.

The views (get_trace's waterfall, the session timeline, the diff) draw the very records the
text is made of. Each payload wraps the model its tool returns, built by that tool's own
renderer with no text budget (the text is discarded: a view draws every span the answer
selected, the model reads a budgeted cut), and adds beside it:

    trace    the critical path as stretches of rows, the N+1 loops as groups of rows, and
             each span's recorded attributes (as stored, so redacted; bounded)
    session  the overview and the timeline with every entry (up to a limit)
    diff     both sides aligned node by node (steps, requests, backend work), each row
             naming the findings about it

Rows are indices into the wrapped model's list (`trace.spans`), so a field another renderer
adds to a span reaches the views with no change here. This module is the one place that maps
answers to what the views read; static/fields.js is the one place the views map fields to marks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from mcp_sessions.analysis.critical_path import critical_path
from mcp_sessions.analysis.diff.align import Pair, StepPair
from mcp_sessions.analysis.diff.nodes import Stats, Step
from mcp_sessions.analysis.patterns.model import calls_tree
from mcp_sessions.analysis.patterns.spans import n_plus_one
from mcp_sessions.answers.diff import DiffAnswer
from mcp_sessions.answers.session import Overview
from mcp_sessions.answers.timeline import TimelineAnswer
from mcp_sessions.answers.trace import TraceAnswer
from mcp_sessions.model import Span
from mcp_sessions.render.apps import ALIGNED_MAX_ROWS, DIFF_MAX_FINDINGS, TIMELINE_MAX_ENTRIES, WATERFALL_MAX_SPANS
from mcp_sessions.render.diff import render_diff_answer
from mcp_sessions.render.markdown import Budget, duration, ident, ms, quote
from mcp_sessions.render.models import (
    AlignedRow,
    AlignedSide,
    CriticalStretch,
    DiffFinding,
    DiffPicture,
    SessionPicture,
    SpanLoop,
    TraceWaterfall,
)
from mcp_sessions.render.session import render_session
from mcp_sessions.render.timeline import render_timeline_answer
from mcp_sessions.render.trace import render_trace_view

MAX_ATTRIBUTES = 40  # per span
MAX_VALUE_CHARS = 500


class _NoTextLimit(Budget):
    """The renderers' budget for a view: every record is kept; the text made beside them is discarded."""

    def has_room(self, chars: int, reserve: int = 0) -> bool:
        return True


def waterfall(answer: TraceAnswer) -> tuple[str, TraceWaterfall]:
    _, view = render_trace_view(answer, budget=_NoTextLimit())
    nodes = answer.selection.shown[: len(view.spans)]
    row_of = {node: row for row, node in enumerate(nodes)}
    t0 = answer.summary.start_ns
    critical = [
        CriticalStretch(row=row_of[s.node], start_ms=ms(s.start_ns - t0), end_ms=ms(s.end_ns - t0))
        for s in critical_path(answer.tree).segments
        if s.node in row_of
    ]
    loops = []
    for pattern, members in n_plus_one(calls_tree(answer.tree)):
        parent = answer.tree.parent[members[0]]
        rows = [row_of[m] for m in members if m in row_of]
        if parent in row_of and len(rows) > 1:
            loops.append(
                SpanLoop(
                    fingerprint=pattern.fingerprint,
                    service=pattern.service,
                    parent_row=row_of[parent],
                    rows=sorted(rows, key=lambda r: view.spans[r].offset_ms),
                    total_ms=ms(pattern.total_ns),
                    impact_ms=ms(pattern.impact_ns),
                )
            )
    model = TraceWaterfall(
        trace=view,
        critical=critical,
        loops=loops,
        attributes=[_attributes(answer.tree.spans[n]) for n in nodes],
        span_limit=WATERFALL_MAX_SPANS,
    )
    text = (
        f"Waterfall data of trace {ident(view.trace.trace_id)}: {view.shown_spans} of {view.total_spans} spans, "
        f"{len(loops)} N+1 loops, {duration(answer.summary.duration_ns)}; drawn by the mcp-sessions trace view "
        "(get_trace gives the same trace as text)."
    )
    return text, model


def _attributes(span: Span) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in list(span.attributes.items())[:MAX_ATTRIBUTES]:
        out[str(key)[:200]] = _text(value)
    for event in span.events[:5]:
        details = "; ".join(f"{k}={_text(v)}" for k, v in list(event.attributes.items())[:10])
        out[f"event: {event.name}"[:200]] = details[:MAX_VALUE_CHARS]
    return out


def _text(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def session_picture(overview: Overview, timeline: TimelineAnswer) -> tuple[str, SessionPicture]:
    _, summary = render_session(overview, budget=_NoTextLimit())
    session_id = overview.session.session_id
    _, entries = render_timeline_answer(timeline, budget=_NoTextLimit(), next_call={"session_id": session_id})
    text = (
        f"Timeline data of session {ident(session_id)}: {entries.shown} of {entries.total} entries; drawn by the "
        "mcp-sessions session view (get_timeline and get_session give the same session as text)."
    )
    return text, SessionPicture(overview=summary, timeline=entries, entry_limit=TIMELINE_MAX_ENTRIES)


def diff_picture(answer: DiffAnswer) -> tuple[str, DiffPicture]:
    _, view = render_diff_answer(answer, budget=_NoTextLimit(), max_findings=DIFF_MAX_FINDINGS)
    ranks = _finding_ranks(view.findings)
    rows: list[AlignedRow] = []
    total = 0
    for row in _aligned_rows(answer.result.alignment.steps, ranks):
        total += 1
        if len(rows) < ALIGNED_MAX_ROWS:
            rows.append(row)
    text = (
        f"Aligned data of the diff of {view.target.kind} {ident(view.target.name)} against "
        f"{quote(view.baseline.name, 200)}: "
        f"{len(rows)} of {total} nodes, {view.shown} findings; drawn by the mcp-sessions diff view "
        "(diff_against_baseline gives the same diff as text)."
    )
    return text, DiffPicture(diff=view, rows=rows, total_rows=total, truncated=total > len(rows))


def _finding_ranks(findings: list[DiffFinding]) -> dict[tuple[str, ...], list[int]]:
    """Findings by the path of labels that names their node: ("step", label) for a step on one side."""
    ranks: dict[tuple[str, ...], list[int]] = {}
    for f in findings:
        key = ("step", f.label) if f.level == "step" else (*f.context, f.label)
        ranks.setdefault(key, []).append(f.rank)
    return ranks


def _aligned_rows(steps: tuple[StepPair, ...], ranks: Mapping[tuple[str, ...], list[int]]) -> Iterator[AlignedRow]:
    for step in steps:
        one_sided = step.a is None or step.b is None
        yield AlignedRow(
            depth=0,
            level="step",
            label=step.label,
            baseline_label=step.a.label if step.a and step.b and step.a.label != step.b.label else None,
            baseline=_step_side(step.a),
            target=_step_side(step.b),
            findings=ranks.get(("step", step.label), []) if one_sided else [],
        )
        stack: list[tuple[Pair, int, tuple[str, ...]]] = [(pair, 1, ()) for pair in reversed(step.pairs)]
        while stack:
            pair, depth, context = stack.pop()
            path = (*context, pair.label)
            yield AlignedRow(
                depth=depth,
                level=pair.level,
                label=pair.label,
                baseline_label=pair.baseline_label,
                baseline=_node_side(pair, pair.a),
                target=_node_side(pair, pair.b),
                findings=ranks.get(path, []),
            )
            stack.extend((child, depth + 1, path) for child in reversed(pair.children))


def _step_side(step: Step | None) -> AlignedSide | None:
    if step is None:
        return None
    work = [n for n in step.nodes if n.level != "error"]
    return AlignedSide(
        count=1,
        wait_ms=ms(sum(n.stats.wait_ns for n in work)),
        errors=sum(n.stats.errors for n in step.nodes),
        statuses=sorted({s for n in work for s in n.stats.statuses}),
        trace_ids=list(dict.fromkeys(t for n in step.nodes for t in n.stats.trace_ids))[:5],
        span_ids=[],
    )


def _node_side(pair: Pair, stats: Stats | None) -> AlignedSide | None:
    if stats is None:
        return None
    return AlignedSide(
        count=stats.count,
        wait_ms=ms(stats.wait_ns),
        errors=stats.errors,
        statuses=list(stats.statuses),
        trace_ids=list(stats.trace_ids),
        span_ids=list(stats.ids) if pair.level == "op" else [],
    )
