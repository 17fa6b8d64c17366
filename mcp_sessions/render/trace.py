"""One trace as an indented tree within a text budget.

Each shown span is a line: id, name, service, kind, duration, self time, offset from the
trace start, status. Durations and offsets are the span's own, as recorded (never clamped into
its parent); a span whose end was not recorded says so, with the end its children imply, and
one that ran on after its root answered says for how long. Children left out are summarised
under their parent by operation ("+ 29 × `SELECT …` hidden, 310 ms in all") with the call
that expands them. Patterns
found in the trace (N+1, duplicate and sequential calls) are listed before the tree, each
with the span that makes the calls, and that span's line says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

from mcp_sessions.analysis.call_targets import call_target
from mcp_sessions.analysis.patterns import Pattern
from mcp_sessions.analysis.selection import Selection, has_exception, is_error
from mcp_sessions.analysis.tree import TraceTree
from mcp_sessions.answers.trace import TraceAnswer
from mcp_sessions.model import Span, StoredPattern, TraceSummary
from mcp_sessions.render.lists import trace_item
from mcp_sessions.render.markdown import Budget, call, duration, ident, ms, quote, timestamp, token
from mcp_sessions.render.models import HiddenGroup, SpanNode, TraceView
from mcp_sessions.render.offers import SpanFacts, span_detail_offer
from mcp_sessions.render.patterns import SHORT_NAMES, code_note, pattern_model, pattern_text

_MAX_GROUPS = 3
_PATTERNS_SHOWN = 5


def _error_text(tree: TraceTree, node: int) -> str | None:
    span = tree.spans[node]
    exception = next((e.attributes for e in span.events if e.name == "exception"), None)
    if exception:
        kind = exception.get("exception.type")
        message = exception.get("exception.message")
        text = ": ".join(str(x) for x in (kind, message) if x)
        if text:
            return text
    if span.status_message:
        return span.status_message
    return "error status" if span.is_error else None


def _label(span: Span) -> str:
    """What a span did: its name, and where it called unless the name says so (instrumentations name
    those spans after the verb alone, `GET`, `SELECT`, which says nothing): the statement, the method,
    host and path, the destination, the RPC method (analysis/call_targets.py)."""
    target = call_target(span)
    if target is None or target.said_by(span.name):
        return span.name
    if target.text.lower().startswith(f"{span.name.lower()} "):
        return target.text  # `GET` → `GET shop:8443/api/orders/{id}`
    return f"{span.name} → {target.core if target.kind == 'database' else target.text}"


def _hidden_groups(tree: TraceTree, hidden: tuple[int, ...]) -> list[HiddenGroup]:
    acc: dict[tuple[str | None, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for node in hidden:
        span = tree.spans[node]
        row = acc[(span.service, _label(span))]
        row[0] += 1
        row[1] += tree.duration_ns(node)
        row[2] += is_error(tree, node)
    groups = [
        HiddenGroup(name=name, service=svc, count=c, total_ms=ms(t), errors=e) for (svc, name), (c, t, e) in acc.items()
    ]
    groups.sort(key=lambda g: (-g.total_ms, -g.count, g.name))
    return groups


def render_trace(
    summary: TraceSummary,
    tree: TraceTree,
    selfs: tuple[int, ...],
    selection: Selection,
    *,
    log_count: int,
    focus: int | None,
    budget: Budget,
    patterns: Sequence[Pattern] = (),
    stored: Sequence[StoredPattern] = (),
    after: tuple[int, ...] = (),
    streams: frozenset[int] = frozenset(),
) -> tuple[str, TraceView]:
    t0 = summary.start_ns
    trace_id = summary.trace_id
    errors = sum(1 for n in range(len(tree)) if is_error(tree, n))
    root_kind = f" · {token(summary.root_kind)}" if summary.root_kind else ""
    http = ""
    if summary.http_method or summary.http_route:
        method = f"{token(summary.http_method)} " if summary.http_method else ""
        http = f" · {method}{quote(summary.http_route or summary.http_url or '', 80)}"
        http += f" → {token(summary.http_status)}" if summary.http_status else ""
    head = [
        f"# Trace {ident(trace_id)}",
        f"**Root**: {quote(summary.root_name or '(none)', 100)} · "
        f"{quote(summary.root_service, 50) if summary.root_service else 'unknown service'}{root_kind}{http}",
        f"**Start**: {timestamp(summary.start_ns)} · **Duration**: {duration(summary.duration_ns)} · "
        f"**Services**: {', '.join(quote(s, 40) for s in summary.services) or 'unknown'}",
        f"**Session**: {ident(summary.session_id)}"
        if summary.session_id
        else "**Session**: none (no span carries a session key)",
    ]
    if focus is not None:
        span = tree.spans[focus]
        head.append(
            f"**Focus**: subtree of {ident(span.span_id)} {quote(span.name, 80)} "
            f"({selection.scope_size} spans); {call('get_trace', trace_id=trace_id)} for the whole trace"
        )
    late = sum(1 for ns in after if ns > 0)
    if late:
        head.append(
            f"**After the root answered**: {late} spans ran on after their root had answered, one for "
            f"{duration(max(after))} (work the caller did not wait for)"
        )
    reused = _reused_ids(tree)
    if reused:
        head.append(
            f"**Shared ids**: {reused} spans share their span id with a different record (both kept; the one "
            "that started first holds the children)"
        )
    pattern_models = [pattern_model(p) for p in patterns]
    marks = _marks_by_parent(tree, patterns)
    found = []
    if patterns:
        found.append(f"\n## Patterns ({len(patterns)}: calls a fix could batch, dedupe or overlap)")
        for p, m in list(zip(patterns, pattern_models, strict=True))[:_PATTERNS_SHOWN]:
            where = f"; made by {ident(p.parent_span_id)} {quote(p.parent_name or '', 60)}" if p.parent_span_id else ""
            found.append(f"- {pattern_text(p)}{code_note(m)}{where}")
        if len(patterns) > _PATTERNS_SHOWN:
            found.append(f"(shows {_PATTERNS_SHOWN} of {len(patterns)} patterns; the structured content has all)")
    for line in [*head, *found]:
        budget.take(line)

    lines_of = {
        n: _span_text(tree, selfs, after, selection, n, focus, t0, marks, trace_id, n in streams)
        for n in selection.shown
    }
    kept = _fit(tree, selection, lines_of, budget, reserve=800)
    nodes: list[SpanNode] = []
    body: list[str] = []
    for node in selection.shown:
        if node not in kept:
            continue
        span = tree.spans[node]
        text, error, groups = lines_of[node]
        budget.take(text)
        body.append(text)
        nodes.append(
            SpanNode(
                span_id=span.span_id,
                parent_span_id=span.parent_span_id,
                depth=tree.depth[node],
                name=span.name,
                service=span.service,
                kind=span.kind,
                offset_ms=ms(span.start_ns - t0),
                duration_ms=ms(tree.duration_ns(node)),
                self_ms=ms(selfs[node]),
                status=span.status_code,
                error=error[:300] if error else None,
                http_status=_int(
                    span.attributes.get("http.response.status_code") or span.attributes.get("http.status_code")
                ),
                hidden_children=groups,
                target=target.text if (target := call_target(span)) else None,
                end_recorded=tree.end_known[node],
                stream=node in streams,
                after_root_ms=ms(after[node]) if after else 0.0,
            )
        )
    truncated = len(kept) < len(selection.shown)

    shown = len(nodes)
    promised = ""
    if shown < selection.scope_size:
        errors_kept = sum(1 for n in kept if is_error(tree, n))
        promised = (
            f" (kept first: the roots, error spans up to {selection.error_limit} ({errors_kept} of {errors} shown), "
            "the branch that finished last, then most self time)"
        )
    head.append(
        f"**Spans**: shows {shown} of {selection.scope_size}{promised} · **Error spans**: {errors} · "
        f"**Logs**: {log_count}"
    )
    lines = [*head, *found, "", "## Spans (duration, self time, offset from trace start)", *body]
    if truncated:
        lines.append(
            f"- … the text budget ran out: {len(selection.shown) - shown} of the {len(selection.shown)} spans selected "
            f"are not shown; expand a subtree with "
            f"{call('get_trace', trace_id=trace_id, span_id='<span id above>')} or raise `max_spans`/"
            "`budget_tokens`"
        )
    expandable = [tree.spans[n].span_id for n in selection.shown if n in kept and n in selection.hidden_children]
    if expandable:
        lines.append(
            f"**Expand**: {call('get_trace', trace_id=trace_id, span_id=expandable[0])} shows what is "
            "hidden under that span"
        )
    detail = _detail_offer(trace_id, tree, [n for n in selection.shown if n in kept])
    if detail:
        lines.append(f"**Span detail**: {detail} shows a span's attributes, events and links (any span id above)")
    if summary.session_id:
        lines.append(f"**Session**: {call('list_traces', session_id=summary.session_id)} lists its other traces")
    view = TraceView(
        trace=trace_item(summary, stored),
        focus_span_id=tree.spans[focus].span_id if focus is not None else None,
        spans=nodes,
        total_spans=selection.scope_size,
        shown_spans=shown,
        error_spans=errors,
        log_count=log_count,
        truncated=truncated or shown < selection.scope_size,
        patterns=pattern_models,
        shared_ids=reused,
        detail_call=detail,
    )
    return "\n".join(lines), view


def _detail_offer(trace_id: str, tree: TraceTree, shown: Sequence[int]) -> str | None:
    """get_span on the first error span shown, else the first span shown."""
    if not shown:
        return None
    node = next((n for n in shown if is_error(tree, n)), shown[0])
    return span_detail_offer(SpanFacts(trace_id, tree.spans[node].span_id, stored=True))


def _fit(
    tree: TraceTree, selection: Selection, lines_of: dict[int, _Line], budget: Budget, *, reserve: int
) -> set[int]:
    """The shown spans whose lines fit the text budget.

    Every span the cut promised (the roots, errors, the branch that finished last, with their
    ancestors) comes first, in the order the selection admitted them; then the others in display
    order while room is left, a span the budget leaves out taking its subtree with it, so every
    kept line's parent is kept too.
    """
    promised = selection.promised
    used = sum(len(lines_of[n].text) + 1 for n in promised)
    kept: set[int] = set()
    if not budget.has_room(used, reserve):  # not even the promise fits: keep it in the order admitted while it does
        used = 0
        for n in promised:
            used += len(lines_of[n].text) + 1
            if not budget.has_room(used, reserve):
                break
            kept.add(n)
        return kept
    kept.update(promised)
    for n in selection.shown:
        parent = tree.parent[n]
        if n in kept or (parent is not None and parent in lines_of and parent not in kept):
            continue
        cost = len(lines_of[n].text) + 1
        if budget.has_room(used + cost, reserve):
            kept.add(n)
            used += cost
    return kept


class _Line(NamedTuple):
    text: str  # the span's line and its hidden-children line
    error: str | None
    groups: list[HiddenGroup]


def _times_text(tree: TraceTree, selfs: tuple[int, ...], node: int, t0: int) -> str:
    """The span's own duration and self time and its offset from the trace start, as recorded."""
    span = tree.spans[node]
    offset = f"+{duration(span.start_ns - t0)}"
    if tree.end_known[node]:
        return f"{duration(tree.duration_ns(node))} (self {duration(selfs[node])}) · {offset}"
    if tree.duration_ns(node) > 0:
        return (
            f"no recorded end (≥ {duration(tree.duration_ns(node))} inferred from children) "
            f"(self {duration(selfs[node])}) · {offset}"
        )
    ran_on = tree.extent()[1] - span.start_ns
    after = f"; its trace ran on {duration(ran_on)} after its start" if ran_on > 0 else ""
    return f"no recorded end (no children to infer it from{after}) · {offset}"


def _span_text(
    tree: TraceTree,
    selfs: tuple[int, ...],
    after: tuple[int, ...],
    selection: Selection,
    node: int,
    focus: int | None,
    t0: int,
    marks: dict[int, list[Pattern]],
    trace_id: str,
    stream: bool,
) -> _Line:
    span = tree.spans[node]
    depth = tree.depth[node] - (tree.depth[focus] if focus is not None else 0)
    indent = "  " * min(depth, 12)
    error = _error_text(tree, node) if is_error(tree, node) or has_exception(tree, node) else None
    http_status = span.attributes.get("http.response.status_code") or span.attributes.get("http.status_code")
    status = f" · HTTP {token(http_status)}" if http_status else ""
    service = quote(span.service, 40) if span.service else "unknown service"
    line = (
        f"{indent}- {ident(span.span_id)} {quote(_label(span), 160)} · {service} · {token(span.kind)} · "
        f"{_times_text(tree, selfs, node, t0)}{status}"
    )
    if stream:
        line += " · **stream** (long-lived: open as long as its peer kept it, not slow work)"
    if after and after[node] > 0:
        line += f" · {duration(after[node])} after the root answered"
    if error:
        line += f" · **error** {quote(error, 160)}" if is_error(tree, node) else f" · exception {quote(error, 160)}"
    if node in marks:
        line += " · " + ", ".join(f"**{SHORT_NAMES[p.kind]}** ×{p.count} below" for p in marks[node])
    groups = _hidden_groups(tree, selection.hidden_children.get(node, ()))
    group_lines = []
    if groups:
        parts = [
            f"{g.count} × {quote(g.name, 60)} ({duration(g.total_ms * 1e6)}"
            + (f", {g.errors} errors" if g.errors else "")
            + ")"
            for g in groups[:_MAX_GROUPS]
        ]
        more = f" and {len(groups) - _MAX_GROUPS} more operations" if len(groups) > _MAX_GROUPS else ""
        hidden_total = sum(g.count for g in groups)
        group_lines.append(
            f"{indent}  - + {hidden_total} hidden: {'; '.join(parts)}{more} → "
            f"{call('get_trace', trace_id=trace_id, span_id=span.span_id)}"
        )
    return _Line("\n".join([line, *group_lines]), error, groups)


def _marks_by_parent(tree: TraceTree, patterns: Sequence[Pattern]) -> dict[int, list[Pattern]]:
    """The patterns whose calls share a parent, by that parent's index in the tree."""
    index: dict[str, list[int]] = {}
    for i, span in enumerate(tree.spans):
        index.setdefault(span.span_id, []).append(i)
    out: dict[int, list[Pattern]] = {}
    for p in patterns:
        if p.parent_span_id is None or not p.span_ids:
            continue
        for call_index in index.get(p.span_ids[0], ()):
            parent = tree.parent[call_index]
            if parent is not None and tree.spans[parent].span_id == p.parent_span_id:
                out.setdefault(parent, []).append(p)
                break
    return out


def _reused_ids(tree: TraceTree) -> int:
    """Spans beyond the first with one (span id, shared): records that share ids but differ."""
    seen: set[tuple[str, bool]] = set()
    reused = 0
    for span in tree.spans:
        key = (span.span_id, bool(span.shared))
        reused += key in seen
        seen.add(key)
    return reused


def _int(value: object) -> int | None:
    try:
        return int(value) if value not in (None, "") else None  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def render_trace_view(answer: TraceAnswer, *, budget: Budget) -> tuple[str, TraceView]:
    return render_trace(
        answer.summary,
        answer.tree,
        answer.selfs,
        answer.selection,
        log_count=answer.log_count,
        focus=answer.focus,
        budget=budget,
        patterns=answer.patterns,
        stored=answer.marks,
        after=answer.after,
        streams=answer.streams,
    )
