"""get_session: the overview an agent reads first, in a fixed order, within the budget.

Sections shrink in a set order when the budget is tight (stacks first, then the lists are
cut, each saying how much it shows); the header and the next calls always stay.
"""

from __future__ import annotations

from mcp_sessions.analysis.patterns import Pattern
from mcp_sessions.answers.session import Overview, SlowRequest
from mcp_sessions.render.insights import error_block, error_model
from mcp_sessions.render.lists import session_item
from mcp_sessions.render.markdown import Budget, call, duration, ident, ms, quote, timestamp, token, user_text
from mcp_sessions.render.models import PatternItem, RequestItem, SessionOverview
from mcp_sessions.render.offers import SessionFacts, session_offers
from mcp_sessions.render.patterns import code_note, pattern_model, pattern_text

ERRORS_SHOWN = 5
PATTERNS_SHOWN = 5


def pattern_line(p: Pattern, model: PatternItem, repeats: int = 1, repeat_impact_ns: int = 0) -> str:
    text = f"- {pattern_text(p)}"
    if repeats > 1:
        text += f" (worst of {repeats} places with this pattern, {duration(repeat_impact_ns)} avoidable in all)"
    text += code_note(model)
    if p.trace_id:
        text += f" → {call('get_trace', trace_id=p.trace_id, span_id=p.parent_span_id)}"
    return text


def _request_line(r: SlowRequest) -> str:
    status = f" → {token(r.status)}" if r.status is not None else ""
    took = duration(r.duration_ns) if r.duration_ns is not None else "duration unknown"
    named = bool(r.method) and (r.url or "").startswith(f"{r.method} ")  # a root span named `POST /api/x`
    what = f"{token(r.method)} " if r.method and not named else ""
    line = f"- {what}{quote(r.url or '?', 100)}{status} · {took}"
    if r.trace_id:
        backend = f"backend {duration(r.backend_ns)}, " if r.backend_ns is not None else ""
        line += f" · {backend}{call('get_trace', trace_id=r.trace_id)}"
    return line


def render_session(overview: Overview, *, budget: Budget) -> tuple[str, SessionOverview]:
    s = overview.session
    sid = s.session_id
    next_calls = session_offers(
        SessionFacts(
            sid,
            traces=overview.counts.get("traces", 0),
            browser_events=sum(v for k, v in overview.counts.items() if k not in ("traces", "spans")),
            errors=len(overview.errors),
            baseline_candidate=overview.baseline_candidate,
            api_requests=overview.api_requests,
            user_actions=overview.user_actions,
        )
    )
    counts = overview.counts
    head = [
        f"# Session {ident(sid)}",
        f"**User**: {user_text(s.user_id, 60)}",
        f"**When**: {timestamp(s.start_ns)}, lasted {duration(s.duration_ns)}",
        f"**Services**: {', '.join(token(x) for x in s.services) or 'none recorded'} · "
        f"**Sources**: {', '.join(token(x) for x in s.sources)}",
        "**Counts**: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()),
        f"**Errors**: {s.error_count} backend spans, {len(overview.errors)} error groups in all",
    ]
    tail = ["", "## Next calls", *(f"- {c}" for c in next_calls)]
    tail_text = "\n".join(tail)
    budget.take("\n".join(head))
    budget.take(tail_text)
    out = list(head)

    def section(title: str, lines: list[str], total: int, noun: str) -> None:
        if not lines:
            return
        kept = []
        header = f"\n## {title}"
        if not budget.fits(header, reserve=40):
            return
        budget.take(header)
        for line in lines:
            if not budget.fits(line, reserve=40):
                break
            budget.take(line)
            kept.append(line)
        out.append(header)
        out.extend(kept)
        if len(kept) < total:
            note = f"(shows {len(kept)} of {total} {noun})"
            budget.take(note)
            out.append(note)

    if overview.pages:
        section(
            "Pages",
            [f"- {quote(p, 140)}" for p in overview.pages],
            overview.page_count,
            "pages",
        )
    error_models = [error_model(g) for g in overview.errors[:ERRORS_SHOWN]]
    shown_errors = zip(overview.errors, error_models, strict=False)
    error_lines = [error_block(i, g, m, with_stack=i == 1) for i, (g, m) in enumerate(shown_errors, 1)]
    section("Errors", error_lines, len(overview.errors), "error groups; next: find_errors")
    # The same problem in several places (reviews fetched 3× on every product page) is one line.
    alike: dict[tuple[str, str, str | None], list[Pattern]] = {}
    for p in overview.patterns:
        alike.setdefault((p.kind, p.fingerprint, p.service), []).append(p)
    worst = [group[0] for group in alike.values()][:PATTERNS_SHOWN]
    pattern_models = [pattern_model(p) for p in worst]
    section(
        "Detected problems",
        [
            pattern_line(p, m, len(group), sum(x.impact_ns for x in group))
            for p, m, group in zip(worst, pattern_models, alike.values(), strict=False)
        ],
        len(alike),
        "problems",
    )
    section(
        "Slowest requests",
        [_request_line(r) for r in overview.slowest],
        len(overview.slowest),
        "requests",
    )
    text = "\n".join(out) + "\n" + tail_text
    model = SessionOverview(
        session=session_item(s),
        pages=overview.pages,
        counts=counts,
        errors=error_models,
        slowest_requests=[
            RequestItem(
                method=r.method,
                url=r.url,
                status=r.status,
                duration_ms=ms(r.duration_ns) if r.duration_ns is not None else None,
                trace_id=r.trace_id,
                backend_ms=ms(r.backend_ns) if r.backend_ns is not None else None,
            )
            for r in overview.slowest
        ],
        patterns=pattern_models,
        next_calls=next_calls,
    )
    return text, model
