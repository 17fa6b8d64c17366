"""Text and structured content for find_slow_spans and find_errors.

Every row carries the full ids to drill into and the exact next call; recorded text
(statements, messages, stacks) is quoted or fenced as data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from mcp_sessions.analysis.errors import ErrorGroup
from mcp_sessions.analysis.fingerprint import normalize_sql
from mcp_sessions.answers.errors import ErrorSearch
from mcp_sessions.answers.lookup import ScopeQuery
from mcp_sessions.answers.slow import SlowWork
from mcp_sessions.model import (
    AfterRootRow,
    CallTarget,
    CodeLocation,
    OperationLoops,
    OperationRow,
    SpanRanking,
    SpanRow,
    SpanScope,
    StreamRow,
)
from mcp_sessions.render.markdown import Budget, call, duration, fence, given, ident, ms, quote, timestamp, token
from mcp_sessions.render.models import (
    AfterRootItem,
    ErrorItem,
    ErrorList,
    MessageCount,
    SlowOperation,
    SlowSpan,
    SlowSpans,
    StreamItem,
)
from mcp_sessions.render.offers import SpanFacts, span_detail_offer
from mcp_sessions.render.patterns import loop_model, loop_text

SESSION_IDS_SHOWN = 5
_Row = TypeVar("_Row")
_Item = TypeVar("_Item")
MESSAGES_SHOWN = 3
_FOOTER_RESERVE = 400  # the "shows N of M" line, its next call, and the span-detail offer


def code_label(location: CodeLocation | None) -> str | None:
    """`shop/cart.py:42 in shop.cart.load`, `shop/cart.py`, or `load`: what is known of a code location."""
    if location is None or not (location.filepath or location.function):
        return None
    place = f"{location.filepath}:{location.lineno}" if location.filepath and location.lineno else location.filepath
    return " in ".join(p for p in (place, location.function) if p)


def scope_label(**given: str | None) -> str:
    """'trace `…`, service `shop`, since 2h': what a question covered, or 'all data'."""
    parts = [
        f"{name} {token(value)}" if name in ("since", "until") else f"{name} {ident(value)}"
        for name, value in given.items()
        if value
    ]
    return ", ".join(parts) or "all data"


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percent(share: float | None) -> str:
    return f" ({share:.0%} of the critical path)" if share is not None and share >= 0.005 else ""


def operation_model(row: OperationRow, critical_total: int, loops: OperationLoops | None = None) -> SlowOperation:
    return SlowOperation(
        service=row.service,
        fingerprint=row.fingerprint,
        count=row.count,
        trace_count=row.trace_count,
        critical_ms=ms(row.critical_ns),
        self_ms=ms(row.self_ns),
        total_ms=ms(row.total_ns),
        p50_ms=ms(row.p50_ns) if row.p50_ns is not None else None,
        p95_ms=ms(row.p95_ns) if row.p95_ns is not None else None,
        max_ms=ms(row.max_ns),
        share=None if row.stream else _share(row.critical_ns, critical_total),
        worst_trace_id=row.worst_trace_id,
        worst_span_id=row.worst_span_id,
        n_plus_one=loop_model(loops) if loops else None,
        code_location=code_label(row.code),
        target=row.target.text if row.target else None,
        after_root_ms=ms(row.after_ns),
        stream=bool(row.stream),
    )


def calls_line(target: CallTarget | None, label: str) -> str:
    """`   **Calls**: …` under a row whose label does not already say where its span called (a statement's
    fingerprint says the statement)."""
    if target is None or target.said_by(label) or (target.kind == "database" and normalize_sql(target.core) in label):
        return ""
    return f"\n   **Calls**: {quote(target.text, 200)}"


_STREAM_NOTE = "**stream** (long-lived: open as long as its peer kept it, not slow work) · "


def _operation_lines(rank: int, row: OperationRow, model: SlowOperation, loops: OperationLoops | None = None) -> str:
    service = f" · {token(row.service)}" if row.service else ""
    calls = f"{row.count}× in {row.trace_count} trace{'s' if row.trace_count != 1 else ''}"
    spread = (
        f"p50 {duration(row.p50_ns)}, p95 {duration(row.p95_ns)}, max {duration(row.max_ns)}"
        if row.count > 1 and row.p50_ns is not None and row.p95_ns is not None
        else f"{duration(row.max_ns)}"
    )
    loop = f"\n   {loop_text(loops, row.trace_count)}" if loops else ""
    code = f"\n   **Code**: {quote(model.code_location, 160)}" if model.code_location else ""
    target = calls_line(row.target, row.fingerprint)
    after = f", {duration(row.after_ns)} after the root answered" if row.after_ns else ""
    return (
        f"{rank}. {quote(row.fingerprint, 160)}{service}\n"
        f"   {_STREAM_NOTE if row.stream else ''}{duration(row.critical_ns)} on the critical path"
        f"{_percent(model.share)}, self {duration(row.self_ns)}"
        f"{after}, {calls}; {spread}{loop}{target}{code}\n"
        f"   worst: {call('get_trace', trace_id=row.worst_trace_id, span_id=row.worst_span_id)}"
    )


def render_slow_operations(
    rows: Sequence[OperationRow],
    *,
    total: int,
    critical_total: int,
    scope: str,
    budget: Budget,
    more_call: str | None,
    loops: Mapping[tuple[str | None, str], OperationLoops] | None = None,
    after_root: Sequence[AfterRootRow] = (),
    after_root_count: int = 0,
    ranked_after: bool = False,
    streams: Sequence[StreamRow] = (),
    stream_count: int = 0,
) -> tuple[str, SlowSpans]:
    then = "then time after the root answered, then self time" if ranked_after else "then self time"
    head = [f"# Slow operations · {scope}", f"**Ranked by**: time on the critical path, {then}"]
    if critical_total:
        head.append(f"**Critical path in scope**: {duration(critical_total)}")
    lines, models = [], []
    text_head = "\n".join(head)
    budget.take(text_head)
    for rank, row in enumerate(rows, 1):
        loop = (loops or {}).get((row.service, row.fingerprint))
        model = operation_model(row, critical_total, loop)
        block = _operation_lines(rank, row, model, loop)
        if not budget.fits(block, reserve=_FOOTER_RESERVE):
            break
        budget.take(block)
        lines.append(block)
        models.append(model)
    footer = _footer(len(models), total, "operations", more_call if len(models) < total else None)
    if not rows:
        lines.append("No spans in this scope. Widen it (drop filters) or check the ids with list_traces.")
    detail = _detail([(m.worst_trace_id, m.worst_span_id) for m in models], "the worst span")
    after_lines, after_models = _after_root(after_root, after_root_count, budget)
    stream_lines, stream_models = _streams(streams, stream_count, budget)
    text = "\n".join([text_head, "", *lines, "", footer, *detail[:1], *after_lines, *stream_lines]).rstrip()
    return text, SlowSpans(
        scope=scope,
        group_by="operation",
        total=total,
        shown=len(models),
        operations=models,
        spans=[],
        next_call=more_call if len(models) < total else None,
        detail_call=detail[1] if detail else None,
        after_root=after_models,
        after_root_count=after_root_count,
        streams=stream_models,
        stream_count=stream_count,
    )


def _section(
    head: str, rows: Sequence[_Row], count: int, noun: str, budget: Budget, entry: Callable[[_Row], tuple[str, _Item]]
) -> tuple[list[str], list[_Item]]:
    """A ranking of its own under the main one: `head`, then a line a row while the budget lasts, and
    "shows N of M" when rows were left out."""
    if not rows or not budget.fits(head, reserve=200):
        return [], []
    budget.take(head)
    lines, models = [head], []
    for row in rows:
        line, model = entry(row)
        if not budget.fits(line, reserve=200):
            break
        budget.take(line)
        lines.append(line)
        models.append(model)
    if len(models) < count:
        lines.append(f"(shows {len(models)} of {count} {noun})")
    return lines, models


def _streams(rows: Sequence[StreamRow], count: int, budget: Budget) -> tuple[list[str], list[StreamItem]]:
    """Long-lived streams in scope, longest first: a stream lasts as long as its peer keeps it open, so the
    rankings above put it after all the work, and it is named here on its own."""

    def entry(row: StreamRow) -> tuple[str, StreamItem]:
        service = f" · {token(row.service)}" if row.service else ""
        line = (
            f"- {quote(row.name, 100)}{service}: open {duration(row.duration_ns)} · "
            f"{call('get_trace', trace_id=row.trace_id, span_id=row.span_id)}"
        )
        item = StreamItem(
            **{k: getattr(row, k) for k in ("trace_id", "span_id", "service", "name")},
            duration_ms=ms(row.duration_ns),
        )
        return line, item

    head = (
        f"\n## Streams ({count}: long-lived RPC streams, SSE, websockets or message waits; "
        "ranked after the work, not slow work)"
    )
    return _section(head, rows, count, "streams", budget, entry)


def _after_root(rows: Sequence[AfterRootRow], count: int, budget: Budget) -> tuple[list[str], list[AfterRootItem]]:
    """Work that went on after a root answered (async children, consumers, follows-from): off the
    caller's critical path, ranked on its own."""

    def entry(row: AfterRootRow) -> tuple[str, AfterRootItem]:
        service = f" · {token(row.service)}" if row.service else ""
        line = (
            f"- {quote(row.fingerprint, 120)}{service}: {duration(row.after_ns)} after the root answered, "
            f"{row.count} span{'s' if row.count != 1 else ''}; longest "
            f"{call('get_trace', trace_id=row.worst_trace_id, span_id=row.worst_span_id)}"
        )
        item = AfterRootItem(
            service=row.service,
            fingerprint=row.fingerprint,
            count=row.count,
            after_root_ms=ms(row.after_ns),
            worst_trace_id=row.worst_trace_id,
            worst_span_id=row.worst_span_id,
        )
        return line, item

    head = f"\n## After the root answered ({count} operations: work the caller did not wait for, ranked by that time)"
    return _section(head, rows, count, "operations", budget, entry)


def render_slow_spans(
    rows: Sequence[SpanRow],
    *,
    total: int,
    scope: str,
    budget: Budget,
    more_call: str | None,
    ranked_after: bool = False,
    streams: Sequence[StreamRow] = (),
    stream_count: int = 0,
) -> tuple[str, SlowSpans]:
    then = "then time after the root answered, then self time" if ranked_after else "then self time"
    text_head = f"# Slowest spans · {scope}\n**Ranked by**: time on the critical path, {then}"
    budget.take(text_head)
    lines, models = [], []
    for rank, row in enumerate(rows, 1):
        model = SlowSpan(
            trace_id=row.trace_id,
            span_id=row.span_id,
            service=row.service,
            name=row.name,
            fingerprint=row.fingerprint,
            duration_ms=ms(row.duration_ns),
            self_ms=ms(row.self_ns),
            critical_ms=ms(row.critical_ns),
            share=None if row.stream else _share(row.critical_ns, row.trace_duration_ns),
            code_location=code_label(row.code),
            target=row.target.text if row.target else None,
            after_root_ms=ms(row.after_ns),
            stream=bool(row.stream),
        )
        label = row.fingerprint if row.fingerprint and row.fingerprint != row.name else row.name
        service = f" · {token(row.service)}" if row.service else ""
        block = (
            f"{rank}. {quote(label, 160)}{service}: {_STREAM_NOTE if row.stream else ''}"
            f"{duration(row.duration_ns)}, self {duration(row.self_ns)}, "
            f"{duration(row.critical_ns)} on the critical path{_percent(model.share)}"
            + (f", {duration(row.after_ns)} after the root answered" if row.after_ns else "")
            + calls_line(row.target, label)
            + "\n"
            + (f"   **Code**: {quote(model.code_location, 160)}\n" if model.code_location else "")
            + f"   {call('get_trace', trace_id=row.trace_id, span_id=row.span_id)}"
        )
        if not budget.fits(block, reserve=_FOOTER_RESERVE):
            break
        budget.take(block)
        lines.append(block)
        models.append(model)
    footer = _footer(len(models), total, "spans", more_call if len(models) < total else None)
    detail = _detail([(m.trace_id, m.span_id) for m in models], "a span")
    stream_lines, stream_models = _streams(streams, stream_count, budget)
    text = "\n".join([text_head, "", *lines, "", footer, *detail[:1], *stream_lines]).rstrip()
    return text, SlowSpans(
        scope=scope,
        group_by="span",
        total=total,
        shown=len(models),
        operations=[],
        spans=models,
        next_call=more_call if len(models) < total else None,
        detail_call=detail[1] if detail else None,
        streams=stream_models,
        stream_count=stream_count,
    )


def _detail(ids: Sequence[tuple[str | None, str | None]], what: str) -> tuple[str, str] | tuple[()]:
    """The span-detail line for the first stored span among `ids`, and its call; () when none is."""
    first = next(((t, s) for t, s in ids if t and s), None)
    offer = span_detail_offer(SpanFacts(first[0], first[1], stored=True)) if first else None
    if offer is None:
        return ()
    return f"**Span detail**: {offer} shows {what}'s attributes, events and links (any row's ids work alike)", offer


def _footer(shown: int, total: int, noun: str, more_call: str | None) -> str:
    text = f"Shows {shown} of {total} {noun}."
    if more_call and shown < total:
        text += f" Next: {more_call}"
    return text


def error_model(group: ErrorGroup) -> ErrorItem:
    ex = group.example
    location = code_label(CodeLocation(ex.code_function, ex.code_filepath, ex.code_lineno))
    action = group.preceding_action
    return ErrorItem(
        fingerprint=group.fingerprint,
        source=group.source,
        kind=group.kind,
        title=group.title[:300],
        count=group.count,
        first_seen=timestamp(group.first_ns) if group.first_ns is not None else None,
        last_seen=timestamp(group.last_ns) if group.last_ns is not None else None,
        session_ids=list(group.session_ids[:SESSION_IDS_SHOWN]),
        trace_ids=list(group.trace_ids[:SESSION_IDS_SHOWN]),
        service=ex.service,
        trace_id=ex.trace_id,
        span_id=ex.span_id,
        http_status=ex.http_status,
        code_location=location,
        stack=list(ex.stack),
        preceding_action=action.summary[:200] if action else None,
        target=group.target,
        messages=[MessageCount(message=m, count=n) for m, n in group.messages],
        message_count=group.message_count,
        also_seen_as=dict(group.related),
    )


def error_block(rank: int, group: ErrorGroup, model: ErrorItem, *, with_stack: bool = True) -> str:
    service = f" · {token(model.service)}" if model.service else ""
    when = ""
    if model.first_seen:
        when = f", first {model.first_seen}" + (
            f", last {model.last_seen}" if model.last_seen and model.last_seen != model.first_seen else ""
        )
    lines = [f"{rank}. **{group.kind}**{service}: {quote(group.title, 200)} · {group.count}×{when}"]
    if model.target:
        lines.append(f"   **Target**: {quote(model.target, 120)}")
    if group.message_count > 1:
        shown = "; ".join(f"{n}× {quote(m, 120)}" for m, n in group.messages[:MESSAGES_SHOWN])
        more = group.message_count - min(MESSAGES_SHOWN, len(group.messages))
        lines.append(f"   **Messages** ({group.message_count} distinct): {shown}" + (f"; {more} more" if more else ""))
    if model.code_location:
        lines.append(f"   **Code**: {quote(model.code_location, 160)}")
    action = group.preceding_action
    if action is not None:
        lines.append(f"   **User did before**: {quote(action.summary, 120)}")
    if group.related:
        also = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in sorted(group.related.items()))
        lines.append(f"   **Same failure also seen as**: {also} in the same traces")
    if len(group.session_ids) > 1:
        more = len(group.session_ids) - SESSION_IDS_SHOWN
        ids = ", ".join(f"{ident(s)}" for s in group.session_ids[:SESSION_IDS_SHOWN])
        lines.append(f"   **Sessions**: {ids}" + (f" and {more} more" if more > 0 else ""))
    elif group.session_ids:
        lines.append(f"   **Session**: {ident(group.session_ids[0])}")
    if model.trace_id:
        lines.append(f"   **Drill in**: {call('get_trace', trace_id=model.trace_id, span_id=model.span_id)}")
    if with_stack and model.stack:
        lines.append(_indent(fence("\n".join(model.stack), limit=700, label="recorded stack")))
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


def render_errors(
    groups: Sequence[ErrorGroup],
    *,
    occurrences: int,
    truncated: bool,
    scope: str,
    budget: Budget,
    more_call: str | None,
    limit: int,
    sources: Mapping[str, int],
) -> tuple[str, ErrorList]:
    head = [f"# Errors · {scope}"]
    if groups:
        by_source = ", ".join(f"{n} {s}" for s, n in sources.items() if n)
        head.append(
            f"**Failures**: {occurrences} ({by_source}) in {len(groups)} group{'s' if len(groups) != 1 else ''}"
        )
    if truncated:
        head.append("**Note**: more failures exist than were read; narrow the scope (session, time) for all of them")
    text_head = "\n".join(head)
    budget.take(text_head)
    lines, models = [], []
    for rank, group in enumerate(groups[:limit], 1):
        model = error_model(group)
        block = error_block(rank, group, model)
        if not budget.fits(block, reserve=_FOOTER_RESERVE):
            block = error_block(rank, group, model, with_stack=False)
            if not budget.fits(block, reserve=_FOOTER_RESERVE):
                break
        budget.take(block)
        lines.append(block)
        models.append(model)
    if not groups:
        lines.append("No errors, failed requests or error logs in this scope.")
    has_more = len(models) < len(groups)
    footer = _footer(len(models), len(groups), "error groups", more_call if has_more else None)
    # a backend group's example is a stored span; a log's span id may name none
    detail = _detail([(m.trace_id, m.span_id) for m in models if m.source == "backend"], "the failed span")
    text = "\n".join([text_head, "", *lines, "", footer, *detail[:1]]).rstrip()
    return text, ErrorList(
        scope=scope,
        total=len(groups),
        occurrences=occurrences,
        shown=len(models),
        truncated=truncated,
        errors=models,
        next_call=more_call if has_more else None,
        detail_call=detail[1] if detail else None,
    )


def _scope_of(q: ScopeQuery, scope: SpanScope) -> tuple[str, dict[str, object]]:
    """How to name a checked scope, and the arguments that ask for it again."""
    label = scope_label(
        trace=scope.trace_id, session=q.session_id, service=q.service, route=q.route, since=q.since, until=q.until
    )
    args = given(
        session_id=q.session_id, trace_id=scope.trace_id, service=q.service, route=q.route, since=q.since, until=q.until
    )
    return label, args


def render_slow_work(work: SlowWork, *, budget: Budget) -> tuple[str, SlowSpans]:
    label, args = _scope_of(work.query, work.scope)
    more = call("find_slow_spans", **args, group_by=work.group_by, limit=min(100, work.limit * 3))
    if isinstance(work.ranking, SpanRanking):
        ranking = work.ranking
        return render_slow_spans(
            ranking.rows,
            total=ranking.total,
            scope=label,
            budget=budget,
            more_call=more,
            ranked_after=bool(work.scope.trace_id or work.scope.session_id),
            streams=ranking.streams,
            stream_count=ranking.stream_count,
        )
    ops = work.ranking
    return render_slow_operations(
        ops.rows,
        total=ops.total,
        critical_total=ops.critical_total_ns,
        scope=label,
        budget=budget,
        more_call=more,
        loops=work.loops,
        after_root=ops.after_root,
        after_root_count=ops.after_root_count,
        ranked_after=bool(work.scope.trace_id or work.scope.session_id),
        streams=ops.streams,
        stream_count=ops.stream_count,
    )


def render_error_search(search: ErrorSearch, *, budget: Budget) -> tuple[str, ErrorList]:
    label, args = _scope_of(search.query, search.scope)
    found = search.found
    return render_errors(
        found.groups,
        occurrences=found.occurrences,
        truncated=found.truncated,
        scope=label,
        budget=budget,
        more_call=call("find_errors", **args, sources=search.sources, limit=min(100, search.limit * 3)),
        limit=search.limit,
        sources=found.by_source,
    )
