"""A session's story in time order: what the user did, what the browser asked, what the backend did.

Each line starts with the offset from the session start. Recorded text (labels, URLs,
console messages) is quoted and truncated: it is data from the user's session.
"""

from __future__ import annotations

from mcp_sessions import urls
from mcp_sessions.answers.timeline import TimelineAnswer
from mcp_sessions.model import SessionSummary, TimelineItem
from mcp_sessions.render.markdown import (
    Budget,
    call,
    duration,
    ident,
    ms,
    quote,
    size_text,
    timestamp,
    token,
    user_text,
)
from mcp_sessions.render.models import Timeline, TimelineEntry

URL_LIMIT = 100  # characters of a request's URL on its line
# HAR timing phases as a line names them (`ssl` is inside `connect`; `send` is rarely over a millisecond)
_PHASES = (("blocked", "blocked"), ("dns", "DNS"), ("connect", "connect"), ("ssl", "TLS"), ("send", "send"),
           ("wait", "wait"), ("receive", "receive"))  # fmt: skip


def _offset(item: TimelineItem, start_ns: int) -> str:
    if item.time_ns is None:
        return "  (time unknown)"
    seconds = (item.time_ns - start_ns) / 1e9
    return f"+{seconds:8.3f} s"


def _line(item: TimelineItem, start_ns: int) -> str:
    head = f"- `{_offset(item, start_ns)}` "
    if item.origin == "trace":
        status = f" → {token(item.status)}" if item.status else ""
        errors = f", **{item.backend_errors} errors**" if item.backend_errors else ""
        return (
            f"{head}backend {quote(item.summary, 80)}{status} · {duration(item.duration_ns or 0)}, "
            f"{item.backend_spans} spans{errors} · trace {ident(item.trace_id)} (no recorded request started it)"
        )
    kind = f"console {token(item.level)}" if item.kind == "console" and item.level else token(item.kind)
    if item.kind == "network" and item.url:
        text = f"{head}network {request_text(item)}"
    else:
        text = f"{head}{kind} {quote(item.summary, 160)}"
    if item.kind == "network" and item.trace_id:
        if item.backend_ns is not None:
            errors = f", **{item.backend_errors} errors**" if item.backend_errors else ""
            text += (
                f" · trace {ident(item.trace_id)} (backend {duration(item.backend_ns)}, {item.backend_spans} spans"
                f"{errors}; linked by {token(item.link_method)})"
            )
        else:
            text += f" · trace {ident(item.trace_id)} (not ingested)"
    return text


def request_text(item: TimelineItem) -> str:
    """`GET `host/path` → 200 (12 ms) · 3.4 KiB text/javascript · third-party · wait 9 ms, receive 2 ms`.

    The URL is the one part that may be cut (`quote` says so); method, status, duration and the
    rest always follow it whole. The host is written when it is not the page's own.
    """
    status = token(item.status) if item.status else "no status"
    took = f" ({duration(item.duration_ns)})" if item.duration_ns is not None else ""
    parts = [f"{token(item.method or '?')} {quote(_shown_url(item), URL_LIMIT)} → {status}{took}"]
    what = " ".join(
        x for x in (size_text(item.size_bytes) if item.size_bytes is not None else "", item.mime_type or "") if x
    )
    if what:
        parts.append(quote(what, 60) if item.mime_type else what)
    party = _party(item)
    if party:
        parts.append(party)
    phases = [f"{name} {duration(value * 1e6)}" for name, value in _phases(item).items() if value >= 1]
    if phases:
        parts.append(", ".join(phases))
    return " · ".join(parts)


def _phases(item: TimelineItem) -> dict[str, float]:
    """The request's HAR timing phases (ms) by their names; `TLS` only for a TLS URL.

    Some recorders (Playwright) report an `ssl` phase for plain http too, beside `connect`
    rather than inside it: there it is connection setup, and counted as connect.
    """
    timings = dict(item.timings)
    if "ssl" in timings and urls.split(item.url or "").scheme not in ("https", "wss"):
        timings["connect"] = timings.get("connect", 0) + timings.pop("ssl")
    return {name: round(timings[key], 3) for key, name in _PHASES if key in timings}


def _shown_url(item: TimelineItem) -> str:
    url = urls.split(item.url or "")
    page = urls.split(item.page_url or "")
    if url.host and url.host_port != page.host_port:
        return f"{url.host_port}{url.path_and_query}"
    return url.path_and_query if url.host else (item.url or "?")


def _party(item: TimelineItem) -> str | None:
    """first-party or third-party, against the page the request was made from (None when either is unknown)."""
    if not item.url or not item.page_url or not urls.split(item.url).host or not urls.split(item.page_url).host:
        return None
    return "first-party" if urls.site(item.url) == urls.site(item.page_url) else "third-party"


def _entry(item: TimelineItem, start_ns: int) -> TimelineEntry:
    network = item.kind == "network"
    return TimelineEntry(
        offset_ms=ms(item.time_ns - start_ns) if item.time_ns is not None else None,
        kind=item.kind,
        summary=item.summary[:300],
        url=item.url,
        target=item.target,
        level=item.level,
        method=item.method,
        status=item.status,
        duration_ms=ms(item.duration_ns) if item.duration_ns is not None else None,
        trace_id=item.trace_id,
        link=item.link_method,
        backend_ms=ms(item.backend_ns) if item.backend_ns is not None else None,
        backend_spans=item.backend_spans,
        backend_errors=item.backend_errors,
        host=urls.split(item.url).host_port or None if network and item.url else None,
        party=_party(item) if network else None,
        size_bytes=item.size_bytes,
        mime_type=item.mime_type,
        timings=_phases(item) if network else {},
        copy_method=item.copy_method,
    )


def render_timeline(
    session: SessionSummary,
    items: list[TimelineItem],
    *,
    total: int,
    offset: int,
    counts: dict[str, int],
    budget: Budget,
    cursor_for: dict[int, str],
    next_call: dict[str, object],
) -> tuple[str, Timeline]:
    """`cursor_for[n]` is the cursor that resumes after n entries of this page."""
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()) if k not in ("linked_requests", "times_unknown"))
    requests = counts.get("network", 0)
    head = [
        f"# Timeline of session {ident(session.session_id)}",
        f"**User**: {user_text(session.user_id)} · **Start**: "
        f"{timestamp(session.start_ns)} · **Duration**: {duration(session.duration_ns)}",
        f"**Events**: {kinds or 'none recorded'} · **Requests linked to traces**: "
        f"{counts.get('linked_requests', 0)} of {requests} · **Backend traces**: {session.trace_count}",
    ]
    if counts.get("times_unknown"):
        head.append(f"**Note**: {counts['times_unknown']} events have no timestamps; they are shown in recorded order")
    for line in head:
        budget.take(line)
    body: list[str] = []
    shown: list[TimelineItem] = []
    for item in items:
        line = _line(item, session.start_ns)
        if not budget.fits(line, reserve=400):
            break
        budget.take(line)
        body.append(line)
        shown.append(item)
    end = offset + len(shown)
    cursor = cursor_for.get(len(shown)) if end < total else None
    lines = [
        *head,
        f"**Shown**: entries {offset + 1}–{end} of {total}" if shown else f"**Shown**: 0 of {total}",
        "",
        *body,
    ]
    if cursor:
        lines.append(f"**More**: {call('get_timeline', **{**next_call, 'cursor': cursor})}")
    traced = [i for i in shown if i.trace_id and i.backend_ns is not None]
    if traced:
        worst = max(traced, key=lambda i: (i.backend_errors or 0, i.backend_ns or 0))
        why = "the request with backend errors" if worst.backend_errors else "the slowest request's backend work"
        lines.append(f"**Next**: {call('get_trace', trace_id=worst.trace_id)} shows {why}")
    model = Timeline(
        session_id=session.session_id,
        start=timestamp(session.start_ns),
        entries=[_entry(i, session.start_ns) for i in shown],
        total=total,
        first=offset,
        shown=len(shown),
        next_cursor=cursor,
        counts=counts,
    )
    return "\n".join(lines), model


def render_timeline_answer(
    answer: TimelineAnswer, *, budget: Budget, next_call: dict[str, object]
) -> tuple[str, Timeline]:
    page = answer.page
    return render_timeline(
        answer.session,
        page.items,
        total=page.total,
        offset=page.offset,
        counts=answer.counts,
        budget=budget,
        cursor_for=dict(page.cursor_for),
        next_call=next_call,
    )
