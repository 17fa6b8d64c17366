"""Exporter rows ⇄ model records: what a `SELECT` from the exporter's tables turns into, and back.

The exporter writes every attribute value as pdata's `AsString()` (strings as they are, numbers
in decimal, booleans `true`/`false`, arrays and maps as JSON), so what comes back is strings;
the JSON variant keeps nested objects, flattened here to the dotted keys the SDK sent.
Spans inserted twice (a Collector retry after a timeout) come back twice: `unique_spans` keeps
one. The server half of a Zipkin shared span reuses its client's span id; it is told apart by
its kind, as the Zipkin reader does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from mcp_sessions.model import Attributes, LogRecord, Span, SpanEvent, SpanKind, SpanLink, StatusCode
from mcp_sessions.store.clickhouse.schema import Variant, parse_kind, parse_status

SPAN_COLUMNS = (
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "toUnixTimestamp64Nano(Timestamp)",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "{SpanAttributes}",
    "{ResourceAttributes}",
    "ScopeName",
    "arrayMap(t -> toUnixTimestamp64Nano(t), `Events.Timestamp`)",
    "`Events.Name`",
    "{Events.Attributes}",
    "`Links.TraceId`",
    "`Links.SpanId`",
    "{Links.Attributes}",
)

LOG_COLUMNS = (
    "toUnixTimestamp64Nano(Timestamp)",
    "TraceId",
    "SpanId",
    "SeverityNumber",
    "SeverityText",
    "ServiceName",
    "Body",
    "{LogAttributes}",
    "{ResourceAttributes}",
    "ScopeName",
)


def select_list(columns: Sequence[str], variant: Variant) -> str:
    """The column list, attribute columns read as JSON text in the JSON variant."""
    out = []
    for column in columns:
        if column.startswith("{"):
            name = column[1:-1]
            if "." in name:  # a Nested column: an array of attribute sets
                quoted = f"`{name}`"
                out.append(f"arrayMap(a -> toJSONString(a), {quoted})" if variant.attributes == "json" else quoted)
            else:
                out.append(f"toJSONString({name})" if variant.attributes == "json" else name)
        else:
            out.append(column)
    return ", ".join(out)


def _flatten(value: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            _flatten(item, f"{name}.", out)
        else:
            out[name] = item


def attributes(value: Any) -> Attributes:
    """One attribute column's value as our attributes: a Map as it is, JSON text flattened."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value) if value else {}
        except ValueError:
            return {}
        out: dict[str, Any] = {}
        if isinstance(parsed, Mapping):
            _flatten(parsed, "", out)
        return out
    return {}


def span_of(row: Sequence[Any]) -> Span:
    (trace_id, span_id, parent, name, kind, service, start, duration, status, message, attrs, resource, scope) = row[
        :13
    ]
    event_times, event_names, event_attrs, link_traces, link_spans, link_attrs = row[13:19]
    res = dict(attributes(resource))
    if service and "service.name" not in res:
        res["service.name"] = service
    return Span(
        trace_id=str(trace_id).lower(),
        span_id=str(span_id).lower(),
        parent_span_id=str(parent).lower() or None,
        name=str(name),
        kind=cast(SpanKind, parse_kind(str(kind))),
        start_ns=int(start),
        end_ns=int(start) + int(duration),
        status_code=cast(StatusCode, parse_status(str(status))),
        status_message=str(message) or None,
        attributes=attributes(attrs),
        resource=res,
        scope=str(scope) or None,
        events=tuple(
            SpanEvent(int(t), str(n), attributes(a))
            for t, n, a in zip(event_times, event_names, event_attrs, strict=False)
        ),
        links=tuple(
            SpanLink(str(t).lower(), str(s).lower(), attributes(a))
            for t, s, a in zip(link_traces, link_spans, link_attrs, strict=False)
        ),
    )


def unique_spans(spans: Iterable[Span]) -> list[Span]:
    """Each span once (a retried insert comes back as an identical row); Zipkin's shared server halves marked."""
    seen: dict[tuple[str, str, str], Span] = {}
    for span in spans:
        seen.setdefault((span.trace_id, span.span_id, span.kind), span)
    by_id: dict[tuple[str, str], list[Span]] = {}
    for span in seen.values():
        by_id.setdefault((span.trace_id, span.span_id), []).append(span)
    out: list[Span] = []
    for same in by_id.values():
        if len(same) > 1 and any(s.kind == "client" for s in same):
            out += [_shared(s) if s.kind == "server" else s for s in same]
        else:
            out += same
    out.sort(key=lambda s: (s.trace_id, s.start_ns, s.span_id))
    return out


def _shared(span: Span) -> Span:
    from dataclasses import replace

    return replace(span, shared=True)


def log_of(row: Sequence[Any]) -> LogRecord:
    time_ns, trace_id, span_id, number, text, service, body, attrs, resource, scope = row[:10]
    res = dict(attributes(resource))
    if service and "service.name" not in res:
        res["service.name"] = service
    return LogRecord(
        time_ns=int(time_ns),
        observed_time_ns=None,
        severity_number=int(number) or None,
        severity_text=str(text) or None,
        body=body,
        attributes=attributes(attrs),
        resource=res,
        scope=str(scope) or None,
        trace_id=str(trace_id).lower() or None,
        span_id=str(span_id).lower() or None,
    )


def unique_logs(logs: Iterable[LogRecord]) -> list[LogRecord]:
    """Each log record once: rows equal in time, ids, severity and body are one retried insert."""
    seen: dict[tuple[Any, ...], LogRecord] = {}
    for record in logs:
        seen.setdefault(
            (record.time_ns, record.trace_id, record.span_id, record.severity_number, str(record.body)), record
        )
    return list(seen.values())


# ---- the other way: model records as the exporter writes them (loading fixtures and benchmarks) ----


def as_string(value: Any) -> str:
    """pdata's `AsString()`: what the exporter stores for an attribute value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _map(attrs: Mapping[str, Any], variant: Variant) -> Any:
    if variant.attributes == "json":
        return {k: as_string(v) for k, v in attrs.items()}
    return {str(k): as_string(v) for k, v in attrs.items()}


def span_row(span: Span, variant: Variant) -> list[Any]:
    """One otel_traces row, in SPAN_INSERT_COLUMNS order."""
    return [
        span.start_ns,
        span.trace_id,
        span.span_id,
        span.parent_span_id or "",
        "",
        span.name,
        variant.kind(span.kind),
        span.service or "",
        _map(span.resource, variant),
        span.scope or "",
        "",
        _map(span.attributes, variant),
        span.duration_ns,
        variant.status(span.status_code),
        span.status_message or "",
        [e.time_ns for e in span.events],
        [e.name for e in span.events],
        [_map(e.attributes, variant) for e in span.events],
        [link.trace_id for link in span.links],
        [link.span_id for link in span.links],
        ["" for _ in span.links],
        [_map(link.attributes, variant) for link in span.links],
    ]


SPAN_INSERT_COLUMNS = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
)

LOG_INSERT_COLUMNS = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "TraceFlags",
    "SeverityText",
    "SeverityNumber",
    "ServiceName",
    "Body",
    "ResourceAttributes",
    "ScopeName",
    "LogAttributes",
)


def log_row(record: LogRecord, variant: Variant) -> list[Any]:
    return [
        record.time_ns,
        record.trace_id or "",
        record.span_id or "",
        0,
        record.severity_text or "",
        record.severity_number or 0,
        record.service or "",
        as_string(record.body),
        _map(record.resource, variant),
        record.scope or "",
        _map(record.attributes, variant),
    ]
