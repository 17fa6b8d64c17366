"""Session and trace lists: one compact line each, "shows N of M", the next call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

from mcp_sessions.answers.session import SessionsFound
from mcp_sessions.answers.trace import TraceQuery, TracesFound
from mcp_sessions.model import Page, SessionSummary, StoredPattern, TraceSummary
from mcp_sessions.render.markdown import Budget, call, duration, given, ident, ms, quote, timestamp, token, user_text
from mcp_sessions.render.models import SessionItem, SessionList, TraceItem, TraceList, TracePatternMark
from mcp_sessions.render.offers import SessionFacts, list_offer
from mcp_sessions.render.patterns import trace_marks

R = TypeVar("R")
# Patterns named per trace in a list (the most avoidable first); get_trace shows them all.
MARKS_PER_TRACE = 5


def _fit(rows: Sequence[R], line: Callable[[R], str], budget: Budget, reserve: int) -> tuple[list[str], list[R]]:
    """As many rows as the budget holds (leaving `reserve` for the footer), in order."""
    lines, shown = [], []
    for row in rows:
        text = line(row)
        if not budget.fits(text, reserve=reserve):
            break
        budget.take(text)
        lines.append(text)
        shown.append(row)
    return lines, shown


def _resume(page: Page[Any], shown: int) -> str | None:
    """The page's cursor, or, when the text budget ran out first, the one right after the last line shown."""
    if shown == len(page.rows) or not shown:
        return page.next_cursor
    return page.resume[shown - 1]


def session_item(s: SessionSummary) -> SessionItem:
    return SessionItem(
        session_id=s.session_id,
        user_id=s.user_id,
        service=s.service,
        services=list(s.services),
        sources=list(s.sources),
        start=timestamp(s.start_ns),
        duration_ms=ms(s.duration_ns),
        first_url=s.first_url,
        trace_count=s.trace_count,
        span_count=s.span_count,
        error_count=s.error_count,
        log_count=s.log_count,
    )


def trace_item(t: TraceSummary, patterns: Sequence[StoredPattern] = ()) -> TraceItem:
    return TraceItem(
        trace_id=t.trace_id,
        session_id=t.session_id,
        root_span_id=t.root_span_id,
        root_service=t.root_service,
        root_name=t.root_name,
        http_method=t.http_method,
        http_route=t.http_route,
        http_status=t.http_status,
        start=timestamp(t.start_ns),
        duration_ms=ms(t.duration_ns),
        span_count=t.span_count,
        error_count=t.error_count,
        services=list(t.services),
        patterns=[
            TracePatternMark(
                kind=p.kind,
                fingerprint=p.fingerprint,
                service=p.service,
                count=p.count,
                impact_ms=ms(p.impact_ns),
                parent_span_id=p.parent_span_id,
            )
            for p in patterns[:MARKS_PER_TRACE]
        ],
    )


def _session_line(s: SessionSummary) -> str:
    who = f"user {user_text(s.user_id)}" if s.user_id else user_text(None)
    where = quote(s.first_url, 80) if s.first_url else "no URL recorded"
    errors = f", **{s.error_count} errors**" if s.error_count else ""
    services = ", ".join(quote(x, 40) for x in s.services[:3]) or "unknown service"
    return (
        f"- {ident(s.session_id)} · {timestamp(s.start_ns)} · {duration(s.duration_ns)} · {who} · {services} · "
        f"{s.trace_count} traces, {s.span_count} spans{errors} · first {where}"
    )


def render_session_list(found: SessionsFound, *, budget: Budget) -> tuple[str, SessionList]:
    page, unsessioned, next_call = found.page, found.unsessioned_traces, given(**asdict(found.query))
    body, shown = _fit(page.rows, _session_line, budget, reserve=400)
    lines = ["# Sessions", *body]
    cursor = _resume(page, len(shown))
    summary = f"**Shown**: {len(shown)} of {page.total} sessions"
    if page.total == 0:
        lines.append("No session matches. Drop a filter, or ingest recordings with `mcp-sessions ingest PATH`.")
    lines.insert(1, summary)
    if cursor:
        lines.append(f"**More**: {call('list_sessions', **{**next_call, 'cursor': cursor})}")
    if unsessioned:
        lines.append(
            f"**Unsessioned traces**: {unsessioned} traces carry no session key; "
            f"{call('list_traces', unsessioned=True)}"
        )
    offer = list_offer([SessionFacts(s.session_id, traces=s.trace_count) for s in shown])
    if offer:
        lines.append(f"**Next**: {offer}, or `get_session(session_id=...)` for one's overview")
    model = SessionList(
        sessions=[session_item(s) for s in shown],
        total=page.total,
        shown=len(shown),
        next_cursor=cursor,
        unsessioned_traces=unsessioned,
    )
    return "\n".join(lines), model


def _trace_line(t: TraceSummary, patterns: Sequence[StoredPattern] = ()) -> str:
    name = quote(t.root_name or "(no root span)", 80)
    route = f" {token(t.http_method or '')} {quote(t.http_route, 60)}".replace("  ", " ") if t.http_route else ""
    status = f" → {token(t.http_status)}" if t.http_status else ""
    errors = f", **{t.error_count} errors**" if t.error_count else ""
    session = f" · session {ident(t.session_id)}" if t.session_id else ""
    service = quote(t.root_service, 40) if t.root_service else "unknown service"
    return (
        f"- {ident(t.trace_id)} · {timestamp(t.start_ns)} · {duration(t.duration_ns)} · {service} {name}{route}"
        f"{status} · {t.span_count} spans{errors}{session}{trace_marks(patterns)}"
    )


def _trace_heading(q: TraceQuery) -> str:
    if q.session_id:
        return f"Traces of session {ident(q.session_id)}"
    return "Traces without a session" if q.unsessioned else "Traces"


def render_trace_list(found: TracesFound, *, budget: Budget) -> tuple[str, TraceList]:
    page, marks = found.page, found.patterns
    next_call = given(**{**asdict(found.query), "unsessioned": found.query.unsessioned or None})
    body, shown = _fit(page.rows, lambda t: _trace_line(t, marks.get(t.trace_id, ())), budget, reserve=300)
    lines = [f"# {_trace_heading(found.query)}", *body]
    cursor = _resume(page, len(shown))
    lines.insert(1, f"**Shown**: {len(shown)} of {page.total} traces")
    if page.total == 0:
        lines.append("No trace matches. Drop a filter, or check `list_sessions`.")
    if cursor:
        lines.append(f"**More**: {call('list_traces', **{**next_call, 'cursor': cursor})}")
    if any(t.trace_id in marks for t in shown):
        lines.append("**Patterns**: N+1, duplicate and sequential calls; get_trace names each at the span making them")
    if shown:
        lines.append(f"**Next**: {call('get_trace', trace_id=shown[0].trace_id)} shows a trace as a tree")
    model = TraceList(
        traces=[trace_item(t, marks.get(t.trace_id, ())) for t in shown],
        total=page.total,
        shown=len(shown),
        next_cursor=cursor,
    )
    return "\n".join(lines), model
