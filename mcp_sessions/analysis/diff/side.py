"""One side of a diff: a session, or a single trace, folded into a tree of counted nodes.

A session becomes a sequence of steps (one per user action), each step the requests it
caused grouped by method and URL template, and under each request its backend work,
grouped by the ancestral path of (service, operation fingerprint). Ten identical
statements under one parent become ONE node with count 10, so a loop that grew from 1
to 30 iterations is one changed node, not 29 new ones:

    events + traces                             side
    navigate /product/3 ──────────────────────  step  navigation /product/{id}
      GET /api/products/3      (18 ms) ───────    request GET /api/products/{id} ×1
        shop GET /api/products/{product_id} ──      op shop · GET /api/products/{product_id} ×1
          SELECT … WHERE id = 3 ──────────────        op shop · SELECT … WHERE id = ? ×1
    click #add-to-cart ───────────────────────  step  click #add-to-cart
      POST /api/cart/items     (10 ms) ───────    request POST /api/cart/items ×1

    the browser's clock   |--- 3 reviews requests, concurrent ---|
                          |=====A=====|                             wait = their union,
                            |=====B=======|                         not their sum
                             |====C====|
                          |-------- wait 118 ms ------|

What a node records about its occurrences (`Stats`): how many, their summed duration,
the time the user waited on them (requests: the union of their intervals on the browser's
clock; backend operations: their time on the trace's critical path, subtree included),
errors, HTTP statuses, response sizes, one sample per occurrence for the noise test, and
a few ids to drill into.

Sessions without browser actions (backend-only recordings) are read as their traces in
start order; consecutive traces with the same root fingerprint (method + route) form one
step. Consecutive steps with the same key merge (a run of typing, a poller), so the
number of keystrokes or poll rounds does not break the alignment. Backend work deeper
than MAX_DEPTH folds into its ancestor at that depth (its time is already inside the
ancestor's), which keeps every later walk shallow however deep a trace is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mcp_sessions.analysis.diff.fold import (
    Analysed,
    StepAcc,
    add_backend,
    add_trace_as_request,
    analyse,
    root_fingerprint,
    trace_extent,
)
from mcp_sessions.analysis.diff.nodes import ACTION_KINDS, MAX_STEPS, Side
from mcp_sessions.analysis.fingerprint import event_fingerprint, event_url_template
from mcp_sessions.model import Event, Span

# ---------------------------------------------------------------- sides


def trace_side(trace_id: str, spans: Sequence[Span]) -> Side:
    """A single trace: one step holding one request, the trace's work below it."""
    analysed = analyse(spans)
    fingerprint = root_fingerprint(analysed.tree)
    step = StepAcc(("trace", fingerprint, ""), fingerprint, None)
    add_trace_as_request(step, trace_id, analysed, fingerprint, level="request")
    return Side("trace", trace_id, "traces", (step.freeze(None),), trace_ids=(trace_id,))


@dataclass(frozen=True)
class SessionRecording:
    """What the store holds about one session, as a side is built from it."""

    session_id: str
    events: Sequence[Event]
    traces: Mapping[str, Sequence[Span]]
    sizes: Mapping[str, int] = field(default_factory=dict)  # response sizes by trace id


def session_side(recording: SessionRecording, *, traces_only: bool = False) -> Side:
    """A session: its user actions and the requests each caused, or (no browser actions or
    requests recorded, or `traces_only`) its traces in order. `recording.sizes` adds response
    sizes where the shown event lacks them (an rrweb request whose HAR copy has the size)."""
    analysed = {tid: analyse(spans) for tid, spans in recording.traces.items() if spans}
    if traces_only or not _has_browser_steps(recording.events):
        return _traces_only_side(recording.session_id, analysed)
    return _browser_side(recording.session_id, recording.events, analysed, recording.sizes)


def comparable_sides(recordings: Sequence[SessionRecording]) -> list[Side]:
    """Sides for sessions to be compared: by their browser steps when all of them have some,
    else all by their traces (one session's clicks cannot align with another's traces)."""
    browser = all(_has_browser_steps(r.events) for r in recordings)
    return [session_side(r, traces_only=not browser) for r in recordings]


def _has_browser_steps(events: Sequence[Event]) -> bool:
    return any(e.kind in ACTION_KINDS or e.kind == "network" for e in events)


def _traces_only_side(session_id: str, analysed: Mapping[str, Analysed]) -> Side:
    ordered = sorted(analysed.items(), key=lambda kv: (trace_extent(kv[1].tree)[0], kv[0]))
    steps: list[StepAcc] = []
    for trace_id, item in ordered:
        fingerprint = root_fingerprint(item.tree)
        key = ("trace", fingerprint, "")
        if not steps or (steps[-1].key != key and len(steps) < MAX_STEPS):
            steps.append(StepAcc(key, fingerprint, None))
        add_trace_as_request(steps[-1], trace_id, item, fingerprint, level="request")
    return Side(
        "session",
        session_id,
        "traces",
        tuple(s.freeze(session_id) for s in steps),
        session_ids=(session_id,),
        trace_ids=tuple(t for t, _ in ordered),
    )


def _action_key(event: Event, page: str) -> tuple[tuple[str, str, str], str]:
    if event.kind == "navigation":
        templated = event_url_template(event)
        return ("navigation", "", templated), f"navigate to {templated}"
    label = event.target or event.summary
    return (event.kind, label, page), event.summary or f"{event.kind} {label}"


_DIGITS = re.compile(r"\d+")


def _error_text(event: Event) -> str:
    return _DIGITS.sub("#", " ".join((event.summary or "").split()))[:160]


def _browser_side(
    session_id: str, events: Sequence[Event], analysed: Mapping[str, Analysed], sizes: Mapping[str, int]
) -> Side:
    steps: list[StepAcc] = []
    page = ""
    used: set[str] = set()

    def current(time_ns: int | None) -> StepAcc:
        if not steps:
            steps.append(StepAcc(("start", "", page), f"start on {page or 'the first page'}", time_ns))
        return steps[-1]

    for event in events:
        if event.kind in ACTION_KINDS:
            if event.kind == "navigation":
                page = event_url_template(event)
            key, label = _action_key(event, page)
            if not steps or (steps[-1].key != key and len(steps) < MAX_STEPS):
                steps.append(StepAcc(key, label, event.time_ns))
        elif event.kind == "network":
            _add_request(current(event.time_ns), event, analysed, sizes, used)
        elif event.kind == "error" or (event.kind == "console" and event.level == "error"):
            text = _error_text(event)
            current(event.time_ns).node(("error", text), text).add(
                duration_ns=0, wait_ns=0, start_ns=event.time_ns, error=True
            )

    # Backend traces no recorded request accounts for: into the step that was current when they began.
    for trace_id, item in sorted(analysed.items(), key=lambda kv: (trace_extent(kv[1].tree)[0], kv[0])):
        if trace_id in used:
            continue
        start = trace_extent(item.tree)[0]
        holder = next((s for s in reversed(steps) if s.start_ns is not None and s.start_ns <= start), None)
        holder = holder or current(start)
        add_trace_as_request(holder, trace_id, item, root_fingerprint(item.tree), level="backend")

    return Side(
        "session",
        session_id,
        "actions",
        tuple(s.freeze(session_id) for s in steps),
        session_ids=(session_id,),
        trace_ids=tuple(sorted(analysed)),
    )


def _add_request(
    step: StepAcc, event: Event, analysed: Mapping[str, Analysed], sizes: Mapping[str, int], used: set[str]
) -> None:
    fingerprint = event_fingerprint(event)
    acc = step.node(("request", fingerprint), fingerprint)
    item = analysed.get(event.trace_id) if event.trace_id else None
    duration = event.duration_ns
    if duration is None and item is not None:
        start, end = trace_extent(item.tree)
        duration = end - start
    duration = max(0, duration or 0)
    size = event.detail.get("response_body_size") if isinstance(event.detail, Mapping) else None
    if not isinstance(size, int) and event.trace_id:
        size = sizes.get(event.trace_id)
    acc.add(
        duration_ns=duration,
        wait_ns=duration,
        start_ns=event.time_ns,
        error=event.status is not None and event.status >= 500,
        status=event.status,
        size=size if isinstance(size, int) and size >= 0 else None,
        ident=event.trace_id,
        trace_id=event.trace_id,
    )
    if event.time_ns is not None:
        acc.intervals.append((event.time_ns, event.time_ns + duration))
    if item is not None and event.trace_id is not None and event.trace_id not in used:
        used.add(event.trace_id)
        add_backend(acc, item)
