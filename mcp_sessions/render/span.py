"""One span in detail (get_span): what it did, where in the code, and every attribute, bounded.

    # Span `…` in trace `…`                     title: the full ids
    **Name** · service · kind · status            the record, as recorded
    **Calls** / **Code** / **Start** · **Duration** / **Parent** / **Children**
    ## Attributes (shows 12 of 12)               the call's own facts first (method, URL, statement,
                                                  code.*), then the rest by name; each value cut at
                                                  VALUE_CHARS with the cut said
    ## Events (shows 1 of 1)                     exceptions first: type, message, a stack excerpt
    ## Links · ## Resource                        linked spans (and whether get_span shows them)

A span id that several records share (Zipkin's client and server halves) shows each record
in turn. The text budget ends a list early and says so; the structured content holds exactly
what the text shows, so every "shows N of M" is true of both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from mcp_sessions.analysis.call_targets import call_target
from mcp_sessions.analysis.stacks import excerpt, parse_stack
from mcp_sessions.answers.span import LINKS_SHOWN, SpanAnswer
from mcp_sessions.model import Span, SpanEvent
from mcp_sessions.render.insights import code_label
from mcp_sessions.render.markdown import Budget, call, duration, fence, ident, ms, quote, timestamp, token
from mcp_sessions.render.models import (
    AttributeItem,
    SpanDetail,
    SpanEventItem,
    SpanLinkItem,
    SpanRecordView,
)
from mcp_sessions.render.offers import SpanFacts, span_offers
from mcp_sessions.semconv import CALL_SPELLINGS, SPELLINGS, code_location

VALUE_CHARS = 300
KEY_CHARS = 120
ATTRIBUTES_SHOWN = 60
RESOURCE_SHOWN = 20
EVENTS_SHOWN = 5
EVENT_ATTRIBUTES_SHOWN = 6
RECORDS_SHOWN = 3
_RECORD_RESERVE = 400  # room a further record's heading lines need
_CUT_NOTE = (
    f"(a list above shows less than it holds: at most {ATTRIBUTES_SHOWN} attributes, {RESOURCE_SHOWN} resource "
    f"attributes, {EVENTS_SHOWN} events and {LINKS_SHOWN} links, fewer where the text budget ends; raise "
    "`budget_tokens` for more)"
)
_EXCEPTION_KEYS = ("exception.type", "exception.message", "exception.stacktrace")
# What a reader looks for first: the call's facts, its code location, route, status, session and user.
_FIRST = {
    key: rank
    for rank, key in enumerate(
        dict.fromkeys(
            k
            for keys in (*CALL_SPELLINGS.values(), *SPELLINGS.values())
            for k in keys
            if not k.startswith("http.request.header.")
        )
    )
}


def _item(key: str, value: Any) -> AttributeItem:
    """One attribute as shown: scalars as recorded, lists and maps as JSON text, text cut at VALUE_CHARS."""
    if isinstance(value, bool | int | float) or value is None:
        text: str | int | float | bool | None = value
    elif isinstance(value, str):
        text = value
    else:
        text = orjson.dumps(value, default=str).decode()
    cut = None
    if isinstance(text, str) and len(text) > VALUE_CHARS:
        text, cut = text[:VALUE_CHARS], len(text)
    return AttributeItem(key=key[:KEY_CHARS], value=text, cut_from=cut)


def _line(item: AttributeItem, indent: str = "") -> str:
    value = "null" if item.value is None else item.value
    cut = f" (cut: {item.cut_from:,} chars)" if item.cut_from else ""
    return f"{indent}- {quote(item.key, KEY_CHARS)}: {quote(value, VALUE_CHARS + 1)}{cut}"


def _ordered(attributes: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return sorted(attributes.items(), key=lambda kv: (_FIRST.get(kv[0], len(_FIRST)), str(kv[0])))


def _fit(lines: Iterable[tuple[str, Any]], budget: Budget, reserve: int) -> tuple[list[str], list[Any]]:
    """(text, model) pairs in order while the budget holds them, leaving `reserve`."""
    texts, models = [], []
    for text, model in lines:
        if not budget.fits(text, reserve=reserve):
            break
        budget.take(text)
        texts.append(text)
        models.append(model)
    return texts, models


def _section(name: str, shown: int, total: int, texts: list[str], budget: Budget) -> list[str]:
    """A section's heading and lines; the heading is taken from the budget (the lines already were)."""
    if not total:
        return []
    heading = f"### {name} (shows {shown} of {total})"
    budget.take(heading)
    return [heading, *texts]


def _event_view(span: Span, event: SpanEvent) -> tuple[str, SpanEventItem]:
    attrs = event.attributes
    is_exception = event.name == "exception" or "exception.type" in attrs
    rest = [(k, v) for k, v in _ordered(attrs) if not (is_exception and k in _EXCEPTION_KEYS)]
    items = [_item(k, v) for k, v in rest[:EVENT_ATTRIBUTES_SHOWN]]
    stack = list(excerpt(parse_stack(str(attrs["exception.stacktrace"])))) if attrs.get("exception.stacktrace") else []
    kind = str(attrs["exception.type"])[:VALUE_CHARS] if attrs.get("exception.type") else None
    message = str(attrs["exception.message"])[:VALUE_CHARS] if attrs.get("exception.message") else None
    model = SpanEventItem(
        name=event.name[:KEY_CHARS],
        offset_ms=ms(event.time_ns - span.start_ns),
        exception_type=kind,
        exception_message=message,
        stack=stack,
        attributes=items,
        attribute_count=len(rest),
    )
    said = ": ".join(x for x in (kind, message) if x)
    lines = [f"- +{duration(max(0, event.time_ns - span.start_ns))} {quote(event.name, 80)}"]
    if said:
        lines[0] += f" {quote(said, VALUE_CHARS)}"
    lines += [_line(i, "  ") for i in items]
    if len(rest) > len(items):
        lines.append(f"  - … {len(rest) - len(items)} more attributes (shows {len(items)} of {len(rest)})")
    if stack:
        lines.append("\n".join("  " + ln for ln in fence("\n".join(stack), 1_500, "recorded stack").splitlines()))
    return "\n".join(lines), model


def _events(span: Span) -> list[SpanEvent]:
    """The events shown: exceptions first, then the rest in time order; shown in time order."""
    chosen = sorted(span.events, key=lambda e: (e.name != "exception", e.time_ns))[:EVENTS_SHOWN]
    return sorted(chosen, key=lambda e: e.time_ns)


def _record(
    answer: SpanAnswer, span: Span, budget: Budget, title: str | None
) -> tuple[list[str], SpanRecordView, bool]:
    t0 = answer.trace.start_ns
    target = call_target(span)
    code = code_label(code_location(span.attributes))
    status = token(span.status_code) + (f" {quote(span.status_message, 200)}" if span.status_message else "")
    no_end = (
        (" (no recorded end: inferred from its children)" if span.duration_ns else " (no recorded end)")
        if not span.end_known
        else " (instantaneous: its end equals its start)"
        if span.duration_ns == 0
        else ""
    )
    head = [f"## {title}"] if title else []
    head.append(
        f"**Name**: {quote(span.name, 200)} · {quote(span.service, 60) if span.service else 'unknown service'} · "
        f"{token(span.kind)}{' (shared: Zipkin server half)' if span.shared else ''} · **Status**: {status}"
    )
    if target:
        head.append(f"**Calls**: {quote(target.text, 240)} ({target.kind})")
    if code:
        head.append(f"**Code**: {quote(code, 200)}")
    head.append(
        f"**Start**: {timestamp(span.start_ns)} (+{duration(max(0, span.start_ns - t0))} after the trace start) · "
        f"**Duration**: {duration(span.duration_ns)}{no_end}"
    )
    if span.scope:
        head.append(f"**Scope**: {quote(span.scope, 100)}")
    for line in head:
        budget.take(line)
    out, cut = list(head), False

    attrs = _ordered(span.attributes)
    pairs = ((_line(i), i) for i in (_item(k, v) for k, v in attrs[:ATTRIBUTES_SHOWN]))
    texts, items = _fit(pairs, budget, reserve=900 if span.events or span.links else 500)
    out += _section("Attributes", len(items), len(attrs), texts, budget)
    cut |= len(items) < len(attrs)

    event_pairs = (_event_view(span, e) for e in _events(span))
    event_texts, events = _fit(event_pairs, budget, reserve=400)
    out += _section("Events", len(events), len(span.events), event_texts, budget)
    cut |= len(events) < len(span.events)

    link_pairs = (_link_view(answer, li.trace_id, li.span_id, li.attributes) for li in span.links[:LINKS_SHOWN])
    link_texts, links = _fit(link_pairs, budget, reserve=400)
    out += _section("Links", len(links), len(span.links), link_texts, budget)
    cut |= len(links) < len(span.links)

    resource = _ordered(span.resource)
    res_pairs = ((_line(i), i) for i in (_item(k, v) for k, v in resource[:RESOURCE_SHOWN]))
    res_texts, res_items = _fit(res_pairs, budget, reserve=300)
    out += _section("Resource", len(res_items), len(resource), res_texts, budget)
    cut |= len(res_items) < len(resource)

    view = SpanRecordView(
        name=span.name,
        service=span.service,
        kind=span.kind,
        status=span.status_code,
        status_message=span.status_message[:VALUE_CHARS] if span.status_message else None,
        shared=span.shared,
        scope=span.scope,
        start=timestamp(span.start_ns),
        start_ns=span.start_ns,
        end_ns=span.end_ns,
        offset_ms=ms(span.start_ns - t0),
        duration_ms=ms(span.duration_ns),
        target=target.text if target else None,
        code_location=code,
        attributes=items,
        attribute_count=len(attrs),
        resource=res_items,
        resource_count=len(resource),
        events=events,
        event_count=len(span.events),
        links=links,
        link_count=len(span.links),
    )
    return out, view, cut


def _link_view(answer: SpanAnswer, trace_id: str, span_id: str, attrs: Mapping[str, Any]) -> tuple[str, SpanLinkItem]:
    stored = (trace_id, span_id) in answer.stored_links
    ordered = _ordered(attrs)
    items = [_item(k, v) for k, v in ordered[:EVENT_ATTRIBUTES_SHOWN]]
    offer = span_offers(SpanFacts(trace_id, span_id, stored))
    line = f"- trace {ident(trace_id)} span {ident(span_id)} · " + (f"{offer[0]}" if offer else "not stored here")
    lines = [line, *(_line(i, "  ") for i in items)]
    if len(ordered) > len(items):
        lines.append(f"  - … {len(ordered) - len(items)} more attributes (shows {len(items)} of {len(ordered)})")
    model = SpanLinkItem(
        trace_id=trace_id, span_id=span_id, stored=stored, attributes=items, attribute_count=len(ordered)
    )
    return "\n".join(lines), model


def render_span(answer: SpanAnswer, *, budget: Budget) -> tuple[str, SpanDetail]:
    trace_id, span_id = answer.trace.trace_id, answer.span_id
    first = answer.records[0]
    own = next((r for r in answer.records if not r.shared), first)
    parent_id = own.parent_span_id if own.parent_span_id != span_id else None
    head = [f"# Span {ident(span_id)} in trace {ident(trace_id)}"]
    if parent_id is None:
        head.append("**Parent**: none (a root span)")
    elif answer.parent is not None:
        p = answer.parent
        service = f" · {quote(p.service, 60)}" if p.service else ""
        again = call("get_span", trace_id=trace_id, span_id=parent_id)
        head.append(f"**Parent**: {ident(parent_id)} {quote(p.name, 120)}{service} · {again}")
    else:
        head.append(f"**Parent**: {ident(parent_id)} (not stored: its record never arrived)")
    head.append(f"**Children**: {answer.children}")
    if len(answer.records) > 1:
        head.append(
            f"**Records**: {len(answer.records)} share this span id (Zipkin's client and server halves, "
            "or distinct records sent under one id)"
        )
    for line in head:
        budget.take(line)
    offers = span_offers(SpanFacts(trace_id, span_id, True, answer.children, from_detail=True))
    footer = f"**Next**: {', '.join(offers)}"
    budget.take(footer)
    budget.take(_CUT_NOTE)  # kept room for, whether or not a list is cut

    body: list[str] = []
    views: list[SpanRecordView] = []
    truncated = False
    for n, record in enumerate(answer.records[:RECORDS_SHOWN], 1):
        if n > 1 and not budget.fits("", reserve=_RECORD_RESERVE):
            truncated = True
            break
        title = f"Record {n} of {len(answer.records)}" if len(answer.records) > 1 else None
        lines, view, cut = _record(answer, record, budget, title)
        body += ["", *lines]
        views.append(view)
        truncated |= cut
    if len(views) < len(answer.records):
        truncated = True
        body.append(f"\n(shows {len(views)} of {len(answer.records)} records under this id)")
    if truncated:
        body.append(f"\n{_CUT_NOTE}")
    detail = SpanDetail(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_id,
        parent_name=answer.parent.name if answer.parent else None,
        parent_service=answer.parent.service if answer.parent else None,
        children=answer.children,
        records=views,
        record_count=len(answer.records),
        truncated=truncated,
        next_calls=offers,
    )
    return "\n".join([*head, *body, "", footer]), detail
