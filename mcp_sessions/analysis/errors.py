"""What went wrong, grouped: exceptions, failed spans, failed requests, console errors, error logs.

One failure seen 40 times is one finding with a count, not 40 lines. Occurrences are
grouped by a fingerprint that survives the details that vary between them and keeps apart
what a fix would treat apart:

    exception       service | type | where it was thrown (first application frame of its stack,
                    else the span's code.* location, else the span name) | target
    failed span     service | span name | where (as above), else its message with numbers blanked | target
    failed request  method and URL template → status | host:port
    browser / log   kind | message with numbers blanked

The target is what a client span called (host:port, peer service, database, queue): a
connection refused by :8001 and one refused by :8002 are two failures, never one group
labelled with either's message. Inside a group the distinct messages are kept with their
counts (one ENOENT group, each missing file named).

One exception is often recorded several times in one trace: by the span that threw it and
again by each ancestor it propagates through (the SDKs record an escaping exception on
every span it leaves). Those are one failure, counted once, at the deepest span:

    GET /checkout  server   ● ValueError "bad qty"    ┐
      checkout     internal ● ValueError "bad qty"    ├ one occurrence: the parse span
        parse      internal ● ValueError "bad qty"  ◀ ┘ (the others: "on 2 enclosing spans")
      parse        internal ● ValueError "bad qty"    a sibling that threw its own: counted

An enclosing span folds into the descendant whose chain it tops, the latest-thrown when
several chains end under it; siblings stay separate occurrences.

Each group keeps its first and last time, one full example (ids to drill into, stack
excerpt, code location) and the last thing the user did before the first occurrence:

    user   click "Apply coupon"        input               (actions of the session)
    time   ───●─────────────────────────●──────────▲──────────▶
                                                   └ POST /api/cart/coupon → 500
    preceding action: the last action at or before the failure (its request's send
    time when a recorded request started the failing trace)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp_sessions import urls
from mcp_sessions.analysis.fingerprint import event_fingerprint
from mcp_sessions.analysis.stacks import Frame, excerpt, parse_stack
from mcp_sessions.model import Event, LogRecord, Span
from mcp_sessions.semconv import code_location, first, promote, target

Source = Literal["backend", "browser", "log"]
MESSAGES_KEPT = 5
MESSAGE_CHARS = 300
# How far up a trace an exception is followed to the spans it propagated through.
MAX_DEPTH = 256

_VARIABLE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{12,}\b|\d+(?:\.\d+)?", re.I
)


def normalize_message(text: str, limit: int = 160) -> str:
    """A message with numbers, hashes and UUIDs blanked, so repeats of one failure group together."""
    return _VARIABLE.sub("#", " ".join(text.split()))[:limit]


@dataclass(frozen=True)
class Occurrence:
    """One failure, whatever recorded it."""

    source: Source
    kind: str  # exception | failed span | failed request | console error | uncaught error | error log
    fingerprint: str
    title: str
    time_ns: int | None
    session_id: str | None
    service: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    message: str | None = None
    http_status: int | None = None
    code_function: str | None = None
    code_filepath: str | None = None
    code_lineno: int | None = None
    stack: tuple[str, ...] = ()
    # When the user-visible request behind it was sent (for the preceding action), if known.
    request_time_ns: int | None = None
    target: str | None = None  # what a client span called: host:port, peer service, database
    exception_type: str | None = None
    parent_span_id: str | None = None


@dataclass(frozen=True)
class ErrorGroup:
    fingerprint: str
    source: Source
    kind: str
    title: str
    count: int
    first_ns: int | None
    last_ns: int | None
    session_ids: tuple[str, ...]
    trace_ids: tuple[str, ...]
    example: Occurrence
    preceding_action: Event | None = None
    kinds: Mapping[str, int] = field(default_factory=dict)
    # Failed spans, error logs and enclosing spans' recordings of the same traces, folded in: they
    # restate this exception.
    related: Mapping[str, int] = field(default_factory=dict)
    # The distinct messages of the group, most frequent first (at most MESSAGES_KEPT), and how many there are.
    messages: tuple[tuple[str, int], ...] = ()
    message_count: int = 0
    target: str | None = None


def span_occurrence(span: Span, session_id: str | None, request_time_ns: int | None = None) -> Occurrence:
    p = promote(span)
    exception = next((e for e in span.events if e.name == "exception"), None)
    # Some SDKs put the stack and code.* on another event (highlight-go: a "log" event with its severity).
    evidence = exception or next((e for e in span.events if _has_evidence(e.attributes)), None)
    stack_text = str(first(evidence.attributes, "exception.stacktrace") or "") if evidence else ""
    stack = parse_stack(stack_text)
    frame = stack.app_frame
    where_called = target(span.attributes, span.kind)
    declared = (p.code_function, p.code_filepath, p.code_lineno)
    if not any(declared) and evidence is not None:
        declared = code_location(evidence.attributes) or declared
    function, filepath, lineno = _location(frame, *declared)
    message = p.exception_message or span.status_message
    where: str | None
    if frame is not None:
        where = f"{frame.file}:{frame.function}"
    else:
        where = declared[0] or (f"{declared[1]}:{declared[2]}" if declared[1] else None)
    if p.exception_type or exception:
        kind = "exception"
        title = _exception_title(p.exception_type, message)
        fingerprint = f"{span.service}|{p.exception_type}|{where or span.name}|{where_called or ''}"
    else:
        kind = "failed span"
        title = f"{span.name}: {span.status_message or 'status error'}"
        # Where the code is known, its messages are kept inside one group; else they tell failures apart.
        what = where or normalize_message(span.status_message or "")
        fingerprint = f"{span.service}|{span.name}|{what}|{where_called or ''}"
    return Occurrence(
        source="backend",
        kind=kind,
        fingerprint=fingerprint,
        title=title,
        time_ns=span.start_ns,
        session_id=session_id,
        service=span.service,
        trace_id=span.trace_id,
        span_id=span.span_id,
        message=message,
        http_status=p.http_status,
        code_function=function,
        code_filepath=filepath,
        code_lineno=lineno,
        stack=excerpt(stack) if stack_text else (),
        request_time_ns=request_time_ns,
        target=where_called,
        exception_type=p.exception_type,
        parent_span_id=span.parent_span_id,
    )


def _has_evidence(attrs: Mapping[str, Any]) -> bool:
    return bool(first(attrs, "exception.stacktrace")) or code_location(attrs) is not None


def _exception_title(exception_type: str | None, message: str | None) -> str:
    """`ValueError: bad quantity`; a message that already starts with its type (Node's `ENOENT: ...`) once."""
    kind = exception_type or "exception"
    if message and message.startswith(kind):
        return message
    return f"{kind}: {message or ''}".rstrip(": ")


def _location(
    frame: Frame | None, function: str | None, filepath: str | None, lineno: int | None
) -> tuple[str | None, str | None, int | None]:
    """The first application frame of the stack where there is one, else the code.* attributes.

    The frame names its function as the runtime prints it (`parse`); when the attributes name
    the same function qualified (`shop.coupons.parse`), the qualified name is kept.
    """
    if frame is not None and (frame.file or frame.function):
        name = frame.function
        if function and name and (function == name or function.endswith(("." + name, ":" + name))):
            name = function
        return name, frame.file, frame.line
    return function, filepath, lineno


def event_occurrence(event: Event, session_id: str | None) -> Occurrence:
    if event.kind == "network":
        status = event.status
        request = event_fingerprint(event)
        host = urls.host_port(event.url) if event.url else ""
        error = event.detail.get("error")
        return Occurrence(
            source="browser",
            kind="failed request",
            fingerprint=f"{request} → {status}|{host}",
            title=f"{request} → {status if status else str(error or 'failed')}",
            time_ns=event.time_ns,
            session_id=session_id,
            trace_id=event.trace_id,
            span_id=event.span_id,
            message=str(error) if error else event.summary,
            http_status=status,
            request_time_ns=event.time_ns,
            target=host or None,
        )
    trace = event.detail.get("trace") or event.detail.get("stack") or ()
    text = "\n".join(str(line) for line in trace) if isinstance(trace, list) else str(trace)
    stack = parse_stack(text)
    function, filepath, lineno = _location(stack.app_frame, None, None, None)
    kind = "console error" if event.kind == "console" else "uncaught error"
    return Occurrence(
        source="browser",
        kind=kind,
        fingerprint=f"{kind}|{normalize_message(event.summary)}",
        title=event.summary,
        time_ns=event.time_ns,
        session_id=session_id,
        trace_id=event.trace_id,
        message=str(event.detail.get("message") or event.summary),
        code_function=function,
        code_filepath=filepath,
        code_lineno=lineno,
        stack=excerpt(stack) if text.strip() else (),
    )


def log_occurrence(record: LogRecord, session_id: str | None) -> Occurrence:
    body = record.body if isinstance(record.body, str) else str(record.body)
    attrs = record.attributes
    stack_text = str(first(attrs, "exception.stacktrace") or "")
    stack = parse_stack(stack_text)
    location = code_location(attrs)
    function, filepath, lineno = _location(stack.app_frame, *(location or (None, None, None)))
    return Occurrence(
        source="log",
        kind="error log",
        fingerprint=f"{record.service}|{record.severity_text}|{normalize_message(body)}",
        title=f"{record.severity_text or 'ERROR'}: {body}",
        time_ns=record.time_ns,
        session_id=session_id,
        service=record.service,
        trace_id=record.trace_id,
        span_id=record.span_id,
        message=body,
        code_function=function,
        code_filepath=filepath,
        code_lineno=lineno,
        stack=excerpt(stack) if stack_text else (),
        exception_type=_str(first(attrs, "exception.type")),
    )


def group_errors(
    occurrences: Sequence[Occurrence],
    actions: Mapping[str, Sequence[Event]] | None = None,
    parents: Mapping[tuple[str, str], str | None] | None = None,
) -> list[ErrorGroup]:
    """Occurrences grouped by fingerprint, most frequent first (then earliest).

    `parents` maps (trace id, span id) to the parent span id for the spans of the traces
    concerned, so an exception recorded again by the spans it propagated through folds into
    one occurrence (see the module docstring); without it, only failures' own parents count.
    A failed span or an error log at or above a span that raised an exception is the same
    failure seen again (the server span that returned 500, the handler's "unhandled error"
    log): it is counted under the exception's group as related, not listed on its own. A
    failure elsewhere in the same trace is a failure of its own.
    """
    lineage = _Lineage(occurrences, parents or {})
    kept, folded = _fold_propagated(occurrences, lineage)
    raised: dict[str, list[Occurrence]] = {}
    for o in kept:
        if o.kind == "exception" and o.trace_id:
            raised.setdefault(o.trace_id, []).append(o)
    related: dict[str, dict[str, int]] = {}
    for top, count in folded.values():
        counts = related.setdefault(top.fingerprint, {})
        counts["enclosing span"] = counts.get("enclosing span", 0) + count
    by_key: dict[str, list[Occurrence]] = {}
    for occurrence in kept:
        owner = None
        if occurrence.kind in ("failed span", "error log") and occurrence.trace_id in raised:
            owner = _owner(occurrence, raised[occurrence.trace_id], lineage)
        if owner is not None:
            counts = related.setdefault(owner.fingerprint, {})
            counts[occurrence.kind] = counts.get(occurrence.kind, 0) + 1
            continue
        by_key.setdefault(occurrence.fingerprint, []).append(occurrence)
    groups = [_group(fingerprint, items, actions or {}, related) for fingerprint, items in by_key.items()]
    groups.sort(key=lambda g: (-g.count, g.first_ns if g.first_ns is not None else 2**63, g.fingerprint))
    return groups


def _group(
    fingerprint: str,
    items: list[Occurrence],
    actions: Mapping[str, Sequence[Event]],
    related: Mapping[str, Mapping[str, int]],
) -> ErrorGroup:
    ordered = sorted(items, key=lambda o: (o.time_ns is None, o.time_ns or 0))
    example = _best_example(ordered)
    times = [o.time_ns for o in ordered if o.time_ns is not None]
    messages = Counter(" ".join(o.message.split())[:MESSAGE_CHARS] for o in ordered if o.message)
    common = sorted(messages.items(), key=lambda kv: (-kv[1], kv[0]))
    title = example.title
    if len(common) > 1 and example.kind == "exception":
        title = _exception_title(example.exception_type, common[0][0])
    return ErrorGroup(
        fingerprint=fingerprint,
        source=example.source,
        kind=example.kind,
        title=title,
        count=len(ordered),
        first_ns=min(times) if times else None,
        last_ns=max(times) if times else None,
        session_ids=tuple(dict.fromkeys(o.session_id for o in ordered if o.session_id)),
        trace_ids=tuple(dict.fromkeys(o.trace_id for o in ordered if o.trace_id)),
        example=example,
        preceding_action=_preceding(ordered, actions),
        kinds=dict(Counter(o.kind for o in ordered)),
        related=dict(related.get(fingerprint, {})),
        messages=tuple(common[:MESSAGES_KEPT]),
        message_count=len(common),
        target=example.target,
    )


class _Lineage:
    """Ancestry of the failing spans, from the trace's parent links and the failures' own."""

    def __init__(self, occurrences: Sequence[Occurrence], parents: Mapping[tuple[str, str], str | None]) -> None:
        self._parents = dict(parents)
        for o in occurrences:
            if o.trace_id and o.span_id and (o.trace_id, o.span_id) not in self._parents:
                self._parents[(o.trace_id, o.span_id)] = o.parent_span_id

    def ancestors(self, trace_id: str, span_id: str) -> list[str]:
        """The span's ancestors, nearest first (bounded, and safe against cycles)."""
        out: list[str] = []
        seen = {span_id}
        current = self._parents.get((trace_id, span_id))
        while current and current not in seen and len(out) < MAX_DEPTH:
            out.append(current)
            seen.add(current)
            current = self._parents.get((trace_id, current))
        return out


def _same_exception(o: Occurrence) -> tuple[str | None, str | None, str | None]:
    return (o.trace_id, o.exception_type, " ".join((o.message or "").split()))


def _fold_propagated(
    occurrences: Sequence[Occurrence], lineage: _Lineage
) -> tuple[list[Occurrence], dict[int, tuple[Occurrence, int]]]:
    """Exception occurrences recorded again by the spans they propagated through, folded into the deepest.

    Returns the occurrences kept (input order) and, per kept occurrence, how many enclosing
    spans' recordings were folded into it.
    """
    candidates = [o for o in occurrences if o.kind == "exception" and o.trace_id and o.span_id]
    depth = {id(o): len(lineage.ancestors(o.trace_id or "", o.span_id or "")) for o in candidates}
    chains: dict[tuple[str | None, str | None, str | None], list[list[Occurrence]]] = {}
    dropped: set[int] = set()
    folded: dict[int, tuple[Occurrence, int]] = {}  # by id of the kept occurrence
    for o in sorted(candidates, key=lambda x: -depth[id(x)]):
        key = _same_exception(o)
        open_chains = chains.setdefault(key, [])
        # Chains whose topmost span sits below this one: the exception may have come up through it.
        below = [
            chain for chain in open_chains if o.span_id in lineage.ancestors(o.trace_id or "", chain[-1].span_id or "")
        ]
        if below:
            chain = max(below, key=lambda c: (c[0].time_ns or 0, c[0].span_id or ""))
            chain.append(o)
            dropped.add(id(o))
            folded[id(chain[0])] = (chain[0], folded.get(id(chain[0]), (chain[0], 0))[1] + 1)
        else:
            open_chains.append([o])
    return [o for o in occurrences if id(o) not in dropped], folded


def _owner(occurrence: Occurrence, raised: list[Occurrence], lineage: _Lineage) -> Occurrence | None:
    """The exception a failed span or error log restates: one thrown at or beneath its span (the server
    span that answered 500, the handler's log line); one that names no span restates the trace's first."""
    if not occurrence.span_id:
        return min(raised, key=lambda o: (o.time_ns is None, o.time_ns or 0))
    for exception in raised:
        if exception.span_id == occurrence.span_id or occurrence.span_id in lineage.ancestors(
            exception.trace_id or "", exception.span_id or ""
        ):
            return exception
    return None


def _best_example(ordered: list[Occurrence]) -> Occurrence:
    """The first occurrence that says the most: a code location, then a stack, then the first."""
    for o in ordered:
        if o.code_filepath or o.code_function:
            return o
    for o in ordered:
        if o.stack:
            return o
    return ordered[0]


def _preceding(ordered: list[Occurrence], actions: Mapping[str, Sequence[Event]]) -> Event | None:
    for o in ordered:
        when = o.request_time_ns if o.request_time_ns is not None else o.time_ns
        if o.session_id is None or when is None:
            continue
        before = [a for a in actions.get(o.session_id, ()) if a.time_ns is not None and a.time_ns <= when]
        if before:
            return max(before, key=lambda a: (a.time_ns or 0, a.seq))
    return None


def _str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
