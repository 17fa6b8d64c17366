"""What went wrong, grouped: exceptions, failed spans, failed requests, console errors, error logs.

One failure seen 40 times is one finding with a count, not 40 lines. Occurrences are
grouped by a fingerprint that survives the details that vary between them: the
exception type and where it was raised; the request's method, URL template and status;
a message with its numbers and ids blanked. Each group keeps its first and last time,
one full example (ids to drill into, stack excerpt, code location) and the last thing
the user did before the first occurrence:

    user   click "Apply coupon"        input               (actions of the session)
    time   ───●─────────────────────────●──────────▲──────────▶
                                                   └ POST /api/cart/coupon → 500
    preceding action: the last action at or before the failure (its request's send
    time when a recorded request started the failing trace)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp_sessions.analysis.fingerprint import request_fingerprint
from mcp_sessions.model import Event, LogRecord, Span
from mcp_sessions.semconv import first, promote

Source = Literal["backend", "browser", "log"]
STACK_LINES = 8

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
    # Failed spans and error logs of the same traces, folded in: they restate this exception.
    related: Mapping[str, int] = field(default_factory=dict)


def span_occurrence(span: Span, session_id: str | None, request_time_ns: int | None = None) -> Occurrence:
    p = promote(span)
    exception = next((e for e in span.events if e.name == "exception"), None)
    stack_text = str(first(exception.attributes, "exception.stacktrace") or "") if exception else ""
    if p.exception_type or exception:
        kind = "exception"
        title = f"{p.exception_type or 'exception'}: {p.exception_message or span.status_message or ''}".rstrip(": ")
        where = p.code_function or (f"{p.code_filepath}:{p.code_lineno}" if p.code_filepath else span.name)
        fingerprint = f"{span.service}|{p.exception_type}|{where}"
    else:
        kind = "failed span"
        title = f"{span.name}: {span.status_message or 'status error'}"
        fingerprint = f"{span.service}|{span.name}|{normalize_message(span.status_message or '')}"
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
        message=p.exception_message or span.status_message,
        http_status=p.http_status,
        code_function=p.code_function,
        code_filepath=p.code_filepath,
        code_lineno=p.code_lineno,
        stack=_python_stack_excerpt(stack_text),
        request_time_ns=request_time_ns,
    )


def event_occurrence(event: Event, session_id: str | None) -> Occurrence:
    if event.kind == "network":
        status = event.status
        fingerprint = f"{request_fingerprint(event.method, event.url)} → {status}"
        error = event.detail.get("error")
        title = f"{request_fingerprint(event.method, event.url)} → {status if status else str(error or 'failed')}"
        return Occurrence(
            source="browser",
            kind="failed request",
            fingerprint=fingerprint,
            title=title,
            time_ns=event.time_ns,
            session_id=session_id,
            trace_id=event.trace_id,
            span_id=event.span_id,
            message=event.summary,
            http_status=status,
            request_time_ns=event.time_ns,
        )
    trace = event.detail.get("trace") or event.detail.get("stack") or ()
    stack = tuple(str(line) for line in (trace if isinstance(trace, list) else str(trace).splitlines()))
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
        stack=stack[:STACK_LINES],
    )


def log_occurrence(record: LogRecord, session_id: str | None) -> Occurrence:
    body = record.body if isinstance(record.body, str) else str(record.body)
    attrs = record.attributes
    stack = str(first(attrs, "exception.stacktrace") or "")
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
        code_function=_str(first(attrs, "code.function.name", "code.function")),
        code_filepath=_str(first(attrs, "code.file.path", "code.filepath")),
        code_lineno=_int(first(attrs, "code.line.number", "code.lineno")),
        stack=_python_stack_excerpt(stack),
    )


def group_errors(
    occurrences: Sequence[Occurrence], actions: Mapping[str, Sequence[Event]] | None = None
) -> list[ErrorGroup]:
    """Occurrences grouped by fingerprint, most frequent first (then earliest).

    A failed span or an error log in a trace that also raised an exception is the same
    failure seen again (the server span that returned 500, the handler's "unhandled error"
    log): it is counted under the exception's group as related, not listed on its own.
    """
    by_key: dict[str, list[Occurrence]] = {}
    raised = {o.trace_id: o.fingerprint for o in occurrences if o.kind == "exception" and o.trace_id}
    related: dict[str, dict[str, int]] = {}
    for occurrence in occurrences:
        owner = raised.get(occurrence.trace_id or "") if occurrence.kind in ("failed span", "error log") else None
        if owner is not None:
            counts = related.setdefault(owner, {})
            counts[occurrence.kind] = counts.get(occurrence.kind, 0) + 1
            continue
        by_key.setdefault(occurrence.fingerprint, []).append(occurrence)
    groups = []
    for fingerprint, items in by_key.items():
        ordered = sorted(items, key=lambda o: (o.time_ns is None, o.time_ns or 0))
        example = _best_example(ordered)
        times = [o.time_ns for o in ordered if o.time_ns is not None]
        kinds: dict[str, int] = {}
        for o in ordered:
            kinds[o.kind] = kinds.get(o.kind, 0) + 1
        groups.append(
            ErrorGroup(
                fingerprint=fingerprint,
                source=example.source,
                kind=example.kind,
                title=example.title,
                count=len(ordered),
                first_ns=min(times) if times else None,
                last_ns=max(times) if times else None,
                session_ids=tuple(dict.fromkeys(o.session_id for o in ordered if o.session_id)),
                trace_ids=tuple(dict.fromkeys(o.trace_id for o in ordered if o.trace_id)),
                example=example,
                preceding_action=_preceding(ordered, actions or {}),
                kinds=kinds,
                related=related.get(fingerprint, {}),
            )
        )
    groups.sort(key=lambda g: (-g.count, g.first_ns if g.first_ns is not None else 2**63, g.fingerprint))
    return groups


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


def _python_stack_excerpt(text: str) -> tuple[str, ...]:
    """The last frames of a traceback: where it was raised, which is what a fix needs."""
    # Python 3.11+ underlines the failing expression with ^ and ~; those lines carry no information.
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip(" ^~\t")]
    return tuple(lines[-STACK_LINES:])


def _str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
