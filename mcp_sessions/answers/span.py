"""One span in detail (get_span): every record stored under its id, its parent, children and links.

What the store holds was redacted at ingest; the records are redacted again here under the
server's rules (the built-in ones unless a config adds some), so what get_span shows is never
wider than what ingest would keep, whatever rules the file was written under. Of the links,
the first LINKS_SHOWN are looked up, so the answer knows which name a span get_span can show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcp_sessions.answers.lookup import require_trace
from mcp_sessions.errors import NotFoundError
from mcp_sessions.model import Span, TraceSummary
from mcp_sessions.params import normalize_span_id
from mcp_sessions.store.protocol import TraceStore

if TYPE_CHECKING:
    from mcp_sessions.redact import RedactionRules

LINKS_SHOWN = 10


@dataclass(frozen=True)
class SpanAnswer:
    """A span's records (redacted, in start order), its trace, its parent's record, children, stored links."""

    trace: TraceSummary
    span_id: str
    records: tuple[Span, ...]
    parent: Span | None
    children: int
    stored_links: frozenset[tuple[str, str]]  # (trace id, span id) of the links shown whose span is stored


def span_detail(store: TraceStore, trace_id: str, span_id: str, *, rules: RedactionRules | None = None) -> SpanAnswer:
    from mcp_sessions.redact import DEFAULT_RULES, RedactionReport, redact_span  # loaded on first use

    trace = require_trace(store, trace_id)
    wanted = normalize_span_id(span_id)
    found = store.span(trace.trace_id, wanted)
    if found is None:
        raise NotFoundError(
            f"trace {trace.trace_id} has no span {wanted!r}; take a span id from "
            f"`get_trace(trace_id={trace.trace_id!r})`"
        )
    report = RedactionReport(rules or DEFAULT_RULES)
    records = tuple(redact_span(r, report) for r in found.records)
    parent = redact_span(found.parent, report) if found.parent is not None else None
    links = {(li.trace_id, li.span_id) for r in records for li in r.links[:LINKS_SHOWN]}
    stored = frozenset(link for link in links if store.span(*link) is not None)
    return SpanAnswer(trace, wanted, records, parent, found.children, stored)
